"""What several attack modules attack alike, made once per test session: one agency's register
of each size, the public name lists of ``person-v1``, and the mining attack on its unhardened
filters. Read only: a test that needs to change one works on a copy. And the test process's
Ray for the services the benches start (:func:`services_join_ray`)."""

from __future__ import annotations

import pandas as pd
import pytest

import bloom


def unhardened_v1() -> bloom.Schema:
    """``person-v1`` with no hardening (the attacks' reference)."""
    doc = bloom.Schema.load("person-v1").document
    doc["hardening"] = {}
    return bloom.Schema.from_dict(doc)


@pytest.fixture(scope="session")
def agency_register() -> pd.DataFrame:
    """979 registrations of one agency (1,500 people in three agencies)."""
    from evaluation._synthetic import generate

    return generate(1500, 3, seed=3).agencies["agency-a"]


@pytest.fixture(scope="session")
def larger_agency_register() -> pd.DataFrame:
    """1,904 registrations of one agency (3,000 people in three agencies)."""
    from evaluation._synthetic import generate

    return generate(3000, 3, seed=3).agencies["agency-a"]


@pytest.fixture(scope="session")
def v1_names():
    """The public name lists an attacker of ``person-v1`` filters holds."""
    from evaluation._attack_names import public_names

    return public_names(bloom.Schema.load("person-v1"))


@pytest.fixture(scope="session")
def unhardened_attack(agency_register, v1_names, secret):
    """The mining attack on :func:`agency_register` encoded with :func:`unhardened_v1`, and
    that schema."""
    from evaluation._attack_freq import frequency_attack

    schema = unhardened_v1()
    filters = bloom.encode(agency_register, schema, secret).filters
    return frequency_attack(filters, schema, v1_names), schema


@pytest.fixture()
def services_join_ray(ray_session, monkeypatch):
    """The bench's ``caselink serve`` (:class:`service.ServiceProcess`, which passes this
    process's environment on) joins the test process's Ray, as the servers of tests/service
    do, instead of starting a Ray of its own and shutting it down (some 4 s and 1.5 s each on
    this machine): for the benches whose figures are about queries, not about the service's
    own Ray."""
    monkeypatch.setenv("CASELINK_RAY_ADDRESS", ray_session.address)
