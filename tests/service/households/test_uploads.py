"""Nothing accepted is lost: an uploaded batch's household group, relationship and consent
are kept with each record until a run moves it into the registry, and the registry then
holds them; a batch without them is stored and linked as before (NULLs throughout).

On the ``households`` server (SQLite and PostgreSQL): the ``families`` agreement, whose
three registers carry the columns and whose fourth (agency-c's ``PLAIN-*``) does not.
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa

import bloom
from linkage._registry import records_table
from service._tables import agencies, batch_records
from tests.service.servers import AGENCIES

Facts = dict[tuple[str, str], tuple[int | None, int | None, str | None]]


def _facts(rows: list[dict]) -> Facts:
    """(agency, record_ref) -> (group_key, relationship, consent), as Python values (a 64-bit
    key never goes through a float)."""
    return {
        (r["agency"], r["record_ref"]): (r["group_key"], r["relationship"], r["consent"])
        for r in rows
    }


def _batch_rows(households, agreement_id: str) -> Facts:
    br, a = batch_records.c, agencies.c
    q = (
        sa.select(a.name.label("agency"), br.record_ref, br.group_key, br.relationship, br.consent)
        .join(agencies, a.id == br.agency_id)
        .where(br.agreement_id == agreement_id)
    )
    return _facts(households.rows(q))


def _registry_rows(households, agreement_id: str) -> Facts:
    r = records_table.c
    q = sa.select(r.agency, r.record_ref, r.group_key, r.relationship, r.consent).where(
        r.scope == agreement_id
    )
    return _facts(households.rows(q))


def _expected(households, agency: str) -> Facts:
    """What the uploaded file said of each record, as the columns store it."""
    batch = bloom.read_batch(households.workdir / f"families-{agency}.parquet")
    assert batch.groups is not None and batch.relationships is not None
    assert batch.consent is not None
    groups = batch.groups.view(np.int64).tolist()
    return {
        (agency, str(ref)): (g or None, r if r >= 0 else None, c)
        for ref, g, r, c in zip(
            batch.record_refs,
            groups,
            batch.relationships.tolist(),
            batch.consent.tolist(),
            strict=True,
        )
    }


def test_an_uploaded_batch_keeps_household_relationship_and_consent(households):
    stored = _batch_rows(households, households.families_id)
    for agency in AGENCIES:
        expected = _expected(households, agency)
        values = list(expected.values())
        assert any(g for g, _, _ in values) and any(r is not None for _, r, _ in values)
        assert {c for _, _, c in values} >= {"", "tracing"}
        assert {k: stored[k] for k in expected} == expected


def test_a_run_moves_them_into_the_registry(households):
    registry = _registry_rows(households, households.families_id)
    for agency in AGENCIES:
        expected = _expected(households, agency)
        assert {k: registry[k] for k in expected} == expected


def test_a_batch_without_them_is_stored_and_linked_as_before(households):
    plain = {("agency-c", ref) for ref in households.plain["record_ref"]}
    for rows in (
        _batch_rows(households, households.families_id),
        _registry_rows(households, households.families_id),
    ):
        assert {k: rows[k] for k in plain} == dict.fromkeys(plain, (None, None, None))
    with households.client("agency-c") as c:
        cases = {r["record_ref"]: r for r in c.iter_cases(households.families_id)}
    assert {ref for _, ref in plain} <= set(cases)
