"""The console shows the consent scope each purpose of an agreement needs, read only, on the
agreement's pages of every role (agency, steward, oversight), in every language; an
agreement that maps none says so.

The app in this process (:mod:`tests.service.console.inprocess`): its agreement maps none;
a second agreement gets its map from its steward through the API.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.service.console.inprocess import World, console_world
from tests.service.servers import agreement_body

PAGES = {  # the agreement's read-only page of each role: (key, path)
    "agency": ("agency-a/submitter", "/console/agency/{id}"),
    "steward": ("agency-a/steward", "/console/steward/agreements/{id}"),
    "oversight": ("agency-a/steward", "/console/oversight/{id}"),
}
LABEL = {
    "en": ("Consent scope of each purpose", "none needed"),
    "fr": ("Consentement requis pour chaque finalité", "aucun requis"),
    "ar": ("نطاق الموافقة المطلوب لكل غرض", "لا يلزم أي نطاق"),
}


@pytest.fixture(scope="module")
def world(ray_session, tmp_path_factory, person_schema, secret) -> Iterator[World]:
    w = console_world(tmp_path_factory.mktemp("console-consent"), person_schema, secret)
    try:
        yield w
    finally:
        w.state.stop()


@pytest.fixture(scope="module")
def mapped(world, person_schema) -> str:
    """An agreement of agency-a and agency-b whose steward mapped two purposes to scopes."""
    body = agreement_body(person_schema, ["agency-a", "agency-b"], name="mapped")
    body["purpose_scopes"] = {"tracing": "tracing", "evaluation": "research"}
    r = world.call("agency-a/steward", "POST", "/v1/agreements", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["agreement_id"])


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _page(world: World, agreement_id: str, role: str, language: str) -> str:
    key, path = PAGES[role]
    v = world.visitor(key, **{"Accept-Language": language})
    page = v.get(path.format(id=agreement_id))
    assert page.status_code == 200, page.text
    return _text(page.text)


@pytest.mark.parametrize("language", sorted(LABEL))
@pytest.mark.parametrize("role", sorted(PAGES))
def test_an_agreement_without_a_map_says_no_scope_is_needed(world, role, language):
    label, none = LABEL[language]
    assert f"{label} {none}" in _page(world, world.agreement_id, role, language)


@pytest.mark.parametrize("language", sorted(LABEL))
@pytest.mark.parametrize("role", sorted(PAGES))
def test_each_page_shows_the_scope_each_purpose_needs(world, mapped, role, language):
    label, _ = LABEL[language]
    shown = _page(world, mapped, role, language)
    assert f"{label} evaluation: research, tracing: tracing" in shown
