"""The audit chain catches an edited entry, a removed one and two swapped ones, both through
``GET .../audit/verify`` and through ``caselink admin verify-audit`` (exit 1, each chain's
row naming its problems). The audit routes answer an ``after`` or ``limit`` past a 64-bit
integer with a 422 naming it, on both databases (it was a 500).

Each tampering is done straight in the database on its own agreement's chain, while the
server runs; the rows are put back afterwards so the other tests see intact chains.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import httpx
import pytest
import sqlalchemy as sa

from service._audit import verify
from service._tables import audit_entries, audit_heads
from tests.service import loopback
from tests.service.servers import agreement_body, caselink_started

E = audit_entries.c


def _row(conn: sa.Connection, scope: str, seq: int) -> dict:
    return dict(
        conn.execute(audit_entries.select().where(E.scope == scope, E.seq == seq)).one()._mapping
    )


def _edit(conn: sa.Connection, scope: str) -> Callable[[sa.Connection], None]:
    row = _row(conn, scope, 3)
    by_id = audit_entries.update().where(E.id == row["id"])
    conn.execute(by_id.values(details='{"entries":0}', actor="nobody"))
    return lambda c: c.execute(by_id.values(details=row["details"], actor=row["actor"]))


def _delete(conn: sa.Connection, scope: str) -> Callable[[sa.Connection], None]:
    row = _row(conn, scope, 3)
    conn.execute(audit_entries.delete().where(E.id == row["id"]))
    return lambda c: c.execute(audit_entries.insert().values(**row))


def _swap_seqs(c: sa.Connection, first: int, second: int, seq_a: int, seq_b: int) -> None:
    for row_id, seq in ((first, -1), (second, seq_a), (first, seq_b)):  # unique (scope, seq)
        c.execute(audit_entries.update().where(E.id == row_id).values(seq=seq))


def _swap(conn: sa.Connection, scope: str) -> Callable[[sa.Connection], None]:
    a, b = _row(conn, scope, 2), _row(conn, scope, 3)
    _swap_seqs(conn, a["id"], b["id"], 2, 3)  # entry 3 now stands second, entry 2 third
    return lambda c: _swap_seqs(c, b["id"], a["id"], 2, 3)


TAMPER = {  # kind: (tamper, what the problems must say)
    "edited": (_edit, ["entry 3 was edited"]),
    "removed": (_delete, ["entries 3..3 are missing", "entry 4 does not follow"]),
    "swapped": (_swap, ["entry 2", "entry 3"]),
}


@pytest.fixture(scope="module")
def tampered(world, person_schema):
    """One agreement per kind of tampering, tampered; verified by HTTP and by the CLI."""
    db, service = world.service.db, world.service
    world.verify_audit_cli()  # the untampered verification has finished before we tamper
    scopes = {}
    with service.client() as steward:
        for kind in TAMPER:
            agreement = steward.create_agreement(
                **agreement_body(person_schema, ["agency-a"], name=f"audit {kind}")
            )
            for _ in range(4):  # entries 2..5
                steward.agreement(agreement["agreement_id"])
            scopes[kind] = agreement["agreement_id"]
    with db.engine.begin() as conn:
        undo = {kind: TAMPER[kind][0](conn, scope) for kind, scope in scopes.items()}
    cli = caselink_started(db.url, "admin", "verify-audit")  # every chain; ~4 s to start
    with service.client() as steward, service.admin() as admin:
        http = {kind: steward.verify_audit(scope) for kind, scope in scopes.items()}
        untouched = [steward.verify_audit(world.agreement_id), admin.verify_audit()]
    out, err = cli.communicate(timeout=120)
    cli = SimpleNamespace(returncode=cli.returncode, stdout=out, stderr=err)
    yield SimpleNamespace(scopes=scopes, http=http, cli=cli, untouched=untouched)
    with db.engine.begin() as conn:
        for fix in undo.values():
            fix(conn)
        for scope in scopes.values():
            check = verify(conn, scope)
            assert check.ok, check.problems


@pytest.mark.parametrize("kind", TAMPER)
def test_verify_endpoint_names_the_tampered_entry(tampered, kind):
    result = tampered.http[kind]
    assert result["ok"] is False
    assert result["scope"] == tampered.scopes[kind]
    text = "; ".join(result["problems"])
    for expected in TAMPER[kind][1]:
        assert expected in text, result["problems"]


def test_cli_verify_audit_exits_1(tampered):
    assert tampered.cli.returncode == 1, tampered.cli.stdout + tampered.cli.stderr


@pytest.mark.parametrize("kind", TAMPER)
def test_cli_verify_audit_names_the_entry(tampered, kind):
    rows = [line for line in tampered.cli.stdout.splitlines() if tampered.scopes[kind] in line]
    assert len(rows) == 1, tampered.cli.stdout  # one table row per chain
    for expected in TAMPER[kind][1]:
        assert expected in rows[0], rows[0]


def test_cli_verify_audit_passes_intact_chains(tampered, world):
    rows = [
        line
        for line in tampered.cli.stdout.splitlines()
        if world.agreement_id in line or "(service)" in line
    ]
    assert len(rows) == 2 and all(" ok " in f" {r} " for r in rows), tampered.cli.stdout


def test_other_chains_are_unaffected(tampered):
    assert [c["ok"] for c in tampered.untouched] == [True, True], tampered.untouched


# -- defect 4: integers of the audit routes are bounded ---------------------------------------
SEQ_MAX = 2**63 - 1  # a BIGINT in both databases; one more overflowed into a 500


@pytest.fixture(scope="module")
def bounded(service, person_schema):
    """An agreement of the steward's own agency, and the paths of both audit chains."""
    with service.client() as steward:
        agreement = steward.create_agreement(
            **agreement_body(person_schema, [service.steward_agency], name="bounded audit")
        )
    scope = agreement["agreement_id"]
    paths = {scope: f"/v1/agreements/{scope}/audit", "": "/v1/audit"}
    return SimpleNamespace(service=service, scope=scope, paths=paths)


def _get(service, path: str, **params) -> httpx.Response:
    key = service.admin_key if path == "/v1/audit" else service.steward_key  # who reads the chain
    headers = {"Authorization": f"Bearer {key}"}
    return loopback.get(service.url + path, params=params, headers=headers, timeout=60)


def _head(db, scope: str) -> tuple:
    with db.engine.connect() as conn:
        return tuple(
            conn.execute(
                sa.select(audit_heads.c.seq, audit_heads.c.hash).where(audit_heads.c.scope == scope)
            ).one()
        )


@pytest.mark.parametrize("chain", ["agreement", "service"])
@pytest.mark.parametrize(
    ("name", "value"), [("after", 2**63), ("after", 2**64), ("limit", 2**63), ("limit", 2**64)]
)
def test_integers_past_a_bigint_are_422_naming_the_parameter(bounded, chain, name, value):
    scope = bounded.scope if chain == "agreement" else ""
    before = _head(bounded.service.db, scope)
    response = _get(bounded.service, bounded.paths[scope], **{name: value})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert [p.split(":")[0] for p in body["problems"]] == [name], body
    assert _head(bounded.service.db, scope) == before  # refused before anything was stored


@pytest.mark.parametrize("chain", ["agreement", "service"])
def test_the_largest_after_is_answered(bounded, chain):
    scope = bounded.scope if chain == "agreement" else ""
    response = _get(bounded.service, bounded.paths[scope], after=SEQ_MAX, limit=10)
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_after": None}
