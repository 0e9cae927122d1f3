"""Tracing queries over a real server (SQLite and PostgreSQL): found, not found, refused.

The planted people are held by all three agencies with identical records; a tracer of
agency-b encodes them again on its side and must get one case each, held by all three
agencies, with a high confidence — and nothing of anyone's ``record_ref``. A person nobody
registered must come back without candidates. Every refusal is checked for its status, its
JSON error, and its audit entry.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator

import pandas as pd
import sqlalchemy as sa

from service._tables import audit_entries, audit_heads
from tests.service import loopback
from tests.service.query.conftest import METRICS_TOKEN
from tests.service.servers import AGENCIES, PLANTED

ABSENT = pd.DataFrame(
    {
        "record_ref": ["Q-absent"],
        "given_name": ["Wilhelmina"],
        "family_name": ["Xochitl-Abernathy"],
        "father_name": ["Cornelius"],
        "sex": ["F"],
        "date_of_birth": ["1993-05-29"],
        "place_of_birth": ["Reykjavik"],
    }
)


def _queries(df: pd.DataFrame, prefix: str = "Q") -> pd.DataFrame:
    return df.assign(record_ref=[f"{prefix}-{k}" for k in range(len(df))])


def _audit(tracing, outcome: str | None = None) -> list[dict]:
    e = audit_entries.c
    q = sa.select(audit_entries).where(e.scope == tracing.agreement_id, e.action == "query")
    with tracing.db.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q.order_by(e.seq))]
    return [r for r in rows if outcome is None or r["outcome"] == outcome]


def _strings(value) -> list[str]:
    """Every string in a JSON value, keys included (a case id may hold "P3-" inside it)."""
    if isinstance(value, dict):
        return [*value, *(s for v in value.values() for s in _strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_a_planted_person_is_found_in_one_case_held_by_all_three_agencies(tracing):
    body = tracing.encode(_queries(PLANTED), "agency-b", "planted-query")
    r = tracing.query(tracing.new_tracer(), body, top_k=3)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["records_queried"] == len(PLANTED)
    assert [x["query_ref"] for x in answer["results"]] == [f"Q-{k}" for k in range(len(PLANTED))]
    for k, result in enumerate(answer["results"]):
        best = result["candidates"][0]
        assert best["case_id"] == tracing.planted_cases[k]
        assert best["agencies"] == sorted(AGENCIES)
        assert best["confidence"] >= 0.9
        assert len({c["case_id"] for c in result["candidates"]}) == len(result["candidates"])
    assert not [v for v in _strings(answer) if v[:3] in ("P1-", "P2-", "P3-")]  # no one's ref
    assert set(answer["results"][0]["candidates"][0]) == {"case_id", "confidence", "agencies"}


def test_a_person_nobody_registered_is_not_found(tracing):
    body = tracing.encode(ABSENT, "agency-b", "absent-query")
    r = tracing.query(tracing.new_tracer(), body)
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert result == {"query_ref": "Q-absent", "candidates": []}
    r = tracing.query(tracing.new_tracer(), body, min_confidence=0.0)
    assert all(c["confidence"] < 0.05 for c in r.json()["results"][0]["candidates"])


def test_every_query_is_audited_with_purpose_and_counts_never_filters(tracing):
    before = len(_audit(tracing, "ok"))
    body = tracing.encode(_queries(PLANTED.head(2)), "agency-b", "audited-query")
    assert tracing.query(tracing.new_tracer(), body).status_code == 200
    entries = _audit(tracing, "ok")
    assert len(entries) == before + 1
    last = entries[-1]
    assert (last["purpose"], last["role"], last["actor"]) == ("tracing", "tracer", "agency-b")
    assert json.loads(last["details"]) == {
        "records": 2,
        "cases_returned": 2,
        "records_matched": 2,
        "top_k": 5,
    }


def test_answered_queries_are_counted_in_the_metrics(tracing):
    def counted() -> tuple[float, float]:
        text = loopback.get(
            f"{tracing.server.url}/metrics",
            timeout=30,
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        ).text
        names = ("caselink_queries_total", "caselink_query_records_total")
        values = dict(ln.rsplit(" ", 1) for ln in text.splitlines() if ln.startswith(names))
        return float(values["caselink_queries_total"]), float(
            values["caselink_query_records_total"]
        )

    queries, records = counted()
    body = tracing.encode(_queries(PLANTED.head(3)), "agency-b", "counted-query")
    assert tracing.query(tracing.new_tracer(), body).status_code == 200
    assert counted() == (queries + 1, records + 3)


def _refusal(r, status: int, error: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error and body["detail"] and isinstance(body["problems"], list)


def test_refused_for_a_purpose_the_agreement_does_not_allow(tracing):
    body = tracing.encode(ABSENT, "agency-b", "purpose-query")
    _refusal(tracing.query(tracing.new_tracer(), body, purpose="marketing"), 403, "forbidden")
    assert _audit(tracing, "forbidden")[-1]["purpose"] == "marketing"


def test_refused_without_a_purpose(tracing):
    body = tracing.encode(ABSENT, "agency-b", "nopurpose-query")
    r = tracing.query(tracing.new_tracer(), body, purpose=None)
    _refusal(r, 422, "invalid_request")
    assert "X-Caselink-Purpose" in r.json()["problems"][0]


def test_refused_for_keys_without_the_tracer_role(tracing):
    body = tracing.encode(ABSENT, "agency-a", "role-query")
    for role in ("submitter", "steward", "evaluator"):
        r = tracing.query(tracing.key_of("agency-a", role), body)
        _refusal(r, 403, "forbidden")
        assert "tracer" in r.json()["detail"]


def test_a_non_party_gets_404_as_for_no_agreement(tracing):
    body = tracing.encode(ABSENT, "outsider", "outsider-query")
    key = tracing.new_tracer("outsider")
    _refusal(tracing.query(key, body), 404, "not_found")
    _refusal(tracing.query(key, body, agreement_id="agr_00000000000000000000"), 404, "not_found")


def test_top_k_beyond_the_service_limit_is_refused(tracing):
    body = tracing.encode(ABSENT, "agency-b", "topk-query")
    r = tracing.query(tracing.new_tracer(), body, top_k=11)
    _refusal(r, 422, "invalid_request")
    assert r.json()["problems"][0].startswith("top_k")


def test_a_query_encoded_for_another_agency_is_refused(tracing):
    body = tracing.encode(ABSENT, "agency-c", "foreign-query")
    r = tracing.query(tracing.new_tracer("agency-b"), body)
    _refusal(r, 422, "invalid_batch")
    assert any(p.startswith("metadata/agency") for p in r.json()["problems"])


def test_the_index_follows_a_new_run(tracing):
    newcomer = pd.DataFrame(
        {
            "given_name": ["Octavian"],
            "family_name": ["Bergstrom-Achebe"],
            "father_name": ["Theodoric"],
            "sex": ["M"],
            "date_of_birth": ["1966-09-30"],
            "place_of_birth": ["Tromso"],
        }
    )
    body = tracing.encode(_queries(newcomer), "agency-b", "newcomer-query")
    key = tracing.new_tracer()
    assert tracing.query(key, body).json()["results"][0]["candidates"] == []
    tracing.link(
        {
            "agency-a": newcomer.assign(record_ref=["N-1"]),
            "agency-c": newcomer.assign(record_ref=["N-2"]),
        },
        "newcomer",
    )
    found = _poll(tracing, body, bool)
    assert found[0]["agencies"] == ["agency-a", "agency-c"] and found[0]["confidence"] >= 0.9


def test_caselink_query_encodes_locally_and_writes_the_candidates(tracing, tmp_path):
    import csv

    from tests.cli import caselink
    from tests.service.servers import service_env

    people = _queries(pd.concat([PLANTED, ABSENT.drop(columns="record_ref")], ignore_index=True))
    people.to_csv(tmp_path / "sought.csv", index=False)
    tracing.secret.write(tmp_path / "secret")
    (tmp_path / "key").write_text(tracing.new_tracer() + "\n")
    out = tmp_path / "results.csv"
    env = {
        k: v
        for k, v in service_env(tracing.db.url).items()
        if k.startswith("CASELINK_") or k == "COLUMNS"
    }
    done = caselink(  # the command's entry function, in this process (tests/cli.py)
        "query",
        "--schema",
        "person",
        "--secret",
        tmp_path / "secret",
        "--agreement",
        tracing.agreement_id,
        "--purpose",
        "tracing",
        "--input",
        tmp_path / "sought.csv",
        "--id-column",
        "record_ref",
        "--top-k",
        "2",
        "--url",
        tracing.server.url,
        "--api-key-file",
        tmp_path / "key",
        "--out",
        out,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "3 of 4 sought people have candidates" in done.stderr
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    best = {r["query_ref"]: r for r in rows if r["rank"] in ("1", "")}
    for k in range(len(PLANTED)):
        assert best[f"Q-{k}"]["case_id"] == tracing.planted_cases[k]
        assert best[f"Q-{k}"]["agencies"] == ";".join(AGENCIES)
    assert best["Q-3"]["case_id"] == "" and best["Q-3"]["rank"] == ""


def test_a_query_encoded_with_another_secret_is_refused_not_answered_empty(tracing, tmp_path):
    """Before key checks, the wrong secret answered "0 of 4 sought people have candidates"
    and exit 0: now the command fails and says why; the right secret still answers."""
    import bloom
    from tests.cli import caselink
    from tests.service.servers import service_env

    people = _queries(PLANTED)
    people.to_csv(tmp_path / "sought.csv", index=False)
    wrong = bloom.Secret.generate()
    wrong.write(tmp_path / "wrong.secret")
    (tmp_path / "key").write_text(tracing.new_tracer() + "\n")
    env = {
        k: v
        for k, v in service_env(tracing.db.url).items()
        if k.startswith("CASELINK_") or k == "COLUMNS"
    }
    done = caselink(
        "query",
        "--schema",
        "person",
        "--secret",
        tmp_path / "wrong.secret",
        "--agreement",
        tracing.agreement_id,
        "--purpose",
        "tracing",
        "--input",
        tmp_path / "sought.csv",
        "--id-column",
        "record_ref",
        "--url",
        tracing.server.url,
        "--api-key-file",
        tmp_path / "key",
        env={**env, "COLUMNS": "400"},
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "encoded with a different secret" in done.stderr and "wrong_secret" in done.stderr
    assert bloom.key_check_value(wrong) in done.stderr
    assert bloom.key_check_value(tracing.secret) in done.stderr  # the agreement's value
    assert "candidates" not in done.stderr


def _poll(tracing, body: bytes, until, timeout: float = 60) -> list:
    deadline, found = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        found = tracing.query(tracing.new_tracer(), body).json()["results"][0]["candidates"]
        if until(found):
            return found
        time.sleep(0.5)
    raise AssertionError(f"the index did not change within {timeout:.0f} s: {found}")


def test_the_index_follows_a_withdrawal(tracing):
    person = pd.DataFrame(
        {
            "given_name": ["Perpetua"],
            "family_name": ["Lindqvist-Obi"],
            "father_name": ["Ambrose"],
            "sex": ["F"],
            "date_of_birth": ["1979-03-14"],
            "place_of_birth": ["Kisumu"],
        }
    )
    tracing.link({a: person.assign(record_ref=[f"W-{a}"]) for a in AGENCIES}, "withdrawn")
    body = tracing.encode(_queries(person), "agency-b", "withdrawn-query")
    found = _poll(tracing, body, lambda f: bool(f) and f[0]["agencies"] == sorted(AGENCIES))
    case_id = found[0]["case_id"]
    with tracing.server.client(tracing.keys["agency-c"]) as c:
        r = c._call(
            "POST",
            f"/v1/agreements/{tracing.agreement_id}/withdrawals",
            json={"record_ref": "W-agency-c", "reason": "consent"},
        )
    assert r.status_code == 201, r.text
    # at once, no polling: the receipt is issued after the index dropped the record
    found = tracing.query(tracing.new_tracer(), body).json()["results"][0]["candidates"]
    assert found[0] == {**found[0], "case_id": case_id, "agencies": ["agency-a", "agency-b"]}
    assert all("agency-c" not in f["agencies"] for f in found if f["case_id"] == case_id)


@contextlib.contextmanager
def _bulk_write_holding_the_chain(tracing) -> Iterator[None]:
    """What a run's registry commit holds while it writes: SQLite's write lock, and on
    PostgreSQL the row lock on the agreement's audit head (the run appends its own entry)."""
    if tracing.db.kind == "sqlite":
        con = sqlite3.connect(tracing.db.engine.url.database, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            yield
            con.execute("ROLLBACK")
        finally:
            con.close()
        return
    with tracing.db.engine.connect() as holder, holder.begin():
        holder.execute(
            sa.select(audit_heads)
            .where(audit_heads.c.scope == tracing.agreement_id)
            .with_for_update()
        ).one()
        yield


def test_a_query_is_answered_while_a_bulk_write_holds_the_audit_chain(tracing):
    """The answer does not wait for the lock: its entry is made durable in the audit journal,
    and joins the agreement's chain with the next entry written once the lock is free."""
    body = tracing.encode(_queries(PLANTED.head(1)), "agency-b", "held-query")
    key = tracing.new_tracer()
    before = len(_audit(tracing))
    with _bulk_write_holding_the_chain(tracing):
        held = tracing.query(key, body)  # answered while the lock is still held
        assert held.status_code == 200, held.text
    assert tracing.query(key, body).status_code == 200
    entries = _audit(tracing)[before:]
    assert [json.loads(e["details"]).get("journaled") for e in entries] == [True, None]
    with tracing.server.client(tracing.key_of("steward", "steward")) as steward:
        assert steward.verify_audit(tracing.agreement_id)["ok"] is True
