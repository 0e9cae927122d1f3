"""The public transparency page in process: 404 until a steward of a party publishes it, then
readable with no sign-in in English, French and Arabic — parties, purposes, retention, the
planted months' figures by kind and purpose, refusals, withdrawals, records purged, the last
verification — with every count from 1 to 9 written "fewer than 10", and never a record ref or
a case id (those of the world's registers, its cases and the planted entries' details)."""

from __future__ import annotations

import re

import pytest

from tests.service.console.inprocess import World
from tests.service.console.oversight_world import History

FEWER = {"en": "fewer than 10", "fr": "moins de 10", "ar": "أقل من 10"}


@pytest.fixture(scope="module")
def published(oversight) -> tuple[World, History]:
    world, history = oversight
    path = f"/console/public/agreements/{world.agreement_id}"
    assert world.visitor().get(path).status_code == 404  # off until published
    r = world.call("agency-a/steward", "POST", f"/v1/agreements/{world.agreement_id}/publication")
    assert r.status_code == 200, r.text
    return world, history


def test_the_page_is_not_found_unless_published(oversight):
    world, history = oversight
    v = world.visitor()
    assert v.get(f"/console/public/agreements/{history.other_agreement}").status_code == 404
    assert v.get("/console/public/agreements/agr_0000000000000000").status_code == 404
    assert v.get("/console/public/agreements/not-an-id").status_code == 404


def _counts(html: str) -> list[str]:
    """Every count the page shows: the tables' count cells and the charts' bar values."""
    cells = re.findall(r'<td class="num count">([^<]*)</td>', html)
    bars = re.findall(r'data-value="([^"]*)"', html)
    return cells + bars


def _visible(html: str) -> str:
    """The page's text without its charts' markup and its times (a date has small numbers)."""
    main = html.split("<main", 1)[1].split(">", 1)[1].split("</main>", 1)[0]
    main = re.sub(r"<svg.*?</svg>", " ", main, flags=re.S)
    main = re.sub(r"<time[^>]*>.*?</time>", " ", main, flags=re.S)
    return re.sub(r"<[^>]+>", " ", main)


@pytest.mark.parametrize("lang", ["en", "fr", "ar"])
def test_the_published_page_shows_no_small_count_and_no_ref(published, lang):
    world, history = published
    v = world.visitor(**{"Accept-Language": lang})
    page = v.get(f"/console/public/agreements/{world.agreement_id}")
    assert page.status_code == 200, page.text
    html = page.text
    assert f'lang="{lang}" dir="{"rtl" if lang == "ar" else "ltr"}"' in html
    assert "agency-a" in html and "agency-b" in html and "linkage" in html
    counts = _counts(html)
    assert counts
    for shown in counts:
        assert shown == FEWER[lang] or shown == "0" or int(re.sub(r"\D", "", shown)) >= 10, shown
    assert FEWER[lang] in counts  # the planted cells from 1 to 9
    assert "12" in counts and "15" in counts and "11" in counts and "14" in counts
    small = re.findall(r".{0,40}(?<![\d.,])[1-9](?![\d.,]).{0,40}", _visible(html))
    assert small == []
    secrets = [*history.case_ids, history.receipt_id]
    secrets += [ref for refs in world.refs.values() for ref in refs]
    for secret in secrets:
        assert secret not in html
    assert html.count('role="img"') == 2 + 3  # uploads, queries; refusals, withdrawals, purges
    if lang == "ar":
        assert 'data-direction="rtl"' in html and 'data-direction="ltr"' not in html


def test_the_page_says_when_the_chain_was_last_verified(published):
    world, _ = published
    path = f"/console/public/agreements/{world.agreement_id}"
    assert world.call(
        "agency-a/steward", "GET", f"/v1/agreements/{world.agreement_id}/audit/verify"
    ).is_success
    page = world.visitor().get(path)
    assert "The audit log was last verified" in page.text and "it was whole" in page.text
    french = world.visitor(**{"Accept-Language": "fr"}).get(path)
    assert "vérifié pour la dernière fois" in french.text

    # no sign-in is asked, and the public's reading is not audited
    def entries() -> list[dict]:  # but the reads of the audit made here to count them
        return [e for e in world.audit() if e["action"] != "audit.read"]

    before = entries()
    world.visitor().get(path)
    assert entries() == before
