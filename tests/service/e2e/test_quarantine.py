"""A run never fails because of one batch: a poison batch is quarantined, the others link.

The poison batches are written straight into the database, as batches accepted before
uploads checked their layout would be: one declaring another segment layout of the right
width (``name:512,zzz:512``), one with the agreement's layout whose filters are too short.
The run succeeds, quarantines both with their reasons (audited, listed with the batches),
links every good batch; the next run does not try them again.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa

from service._tables import agencies, audit_entries, batch_records, batches
from tests.service.servers import agreement_body, encode_file

AGENCIES = ("poison-a", "poison-b")


def _insert(
    db, agreement: str, agency: str, segments: list, refs: list[str], filters: np.ndarray
) -> str:
    """A pending batch as an old service version might have accepted it."""
    batch_id = "bat_" + secrets.token_hex(8)
    raw = np.ascontiguousarray(filters).astype("<u8")
    with db.engine.begin() as conn:
        agency_id = conn.execute(
            sa.select(agencies.c.id).where(agencies.c.name == agency)
        ).scalar_one()
        conn.execute(
            batches.insert().values(
                id=batch_id,
                agreement_id=agreement,
                agency_id=agency_id,
                content_hash="blake3:" + secrets.token_hex(32),
                record_count=len(refs),
                segments=segments,
                encoded_at=datetime.now(UTC).isoformat(),
                caselink_version="0.1",
                status="pending",
                received_at=datetime.now(UTC),
            )
        )
        conn.execute(
            batch_records.insert(),
            [
                {
                    "batch_id": batch_id,
                    "position": k,
                    "agreement_id": agreement,
                    "agency_id": agency_id,
                    "record_ref": ref,
                    "bloom": raw[k].tobytes(),
                }
                for k, ref in enumerate(refs)
            ],
        )
    return batch_id


@pytest.fixture(scope="module")
def poisoned(service, person_v1_schema, secret, tmp_path_factory):
    """An agreement of two agencies, a good batch each, and two poison batches of poison-a."""
    import bloom
    from evaluation import generate_synthetic

    workdir = tmp_path_factory.mktemp(f"poison-{service.db.kind}")
    with service.admin() as admin:
        for agency in AGENCIES:
            admin.create_agency(agency)
        keys = {a: admin.create_key(a, "submitter")["api_key"] for a in AGENCIES}
    with service.client() as steward:
        body = agreement_body(person_v1_schema, list(AGENCIES), name="poison")
        agreement = steward.create_agreement(**body)["agreement_id"]
    data = generate_synthetic(120, 2, seed=9)
    good = {}
    for agency, df in zip(AGENCIES, data.agencies.values(), strict=True):
        path = encode_file(
            df.iloc[:-20], person_v1_schema, secret, agency, workdir / f"{agency}.parquet"
        )
        with service.client(keys[agency]) as c:
            good[agency] = c.upload(agreement, path)["batch_id"]
    extra = data.agencies["agency-a"].iloc[-20:]
    encoded = bloom.encode(
        extra, person_v1_schema, secret, agency=AGENCIES[0], id_column="record_ref"
    )
    refs = [str(r) for r in encoded.record_refs]
    layout = [["name", 512], ["zzz", 512]]  # the right width, another layout
    poison = {
        "layout": _insert(
            service.db, agreement, AGENCIES[0], layout, refs[:10], encoded.filters[:10]
        ),
        "width": _insert(
            service.db,
            agreement,
            AGENCIES[0],
            [[s.name, s.out_bits] for s in person_v1_schema.segments],
            refs[10:15],
            encoded.filters[10:15, :8],
        ),  # 512 of the 1024 bits
        # the right layout and width, but in the clear: the service seals what it stores, so
        # such a batch (written before encryption at rest) cannot be opened by a run
        "plain": _insert(
            service.db,
            agreement,
            AGENCIES[0],
            [[s.name, s.out_bits] for s in person_v1_schema.segments],
            refs[15:],
            encoded.filters[15:],
        ),
    }
    with service.client(keys[AGENCIES[0]]) as c:
        run = c.wait_run(agreement, c.start_run(agreement)["run_id"], timeout=300, poll=0.2)
    return dict(
        service=service,
        agreement=agreement,
        keys=keys,
        good=good,
        poison=poison,
        run=run,
        data=data,
        workdir=workdir,
    )


def test_the_run_succeeds_and_quarantines_only_the_poison(poisoned):
    run = poisoned["run"]
    assert run["status"] == "succeeded", run
    assert run["stats"]["quarantined"] == sorted(poisoned["poison"].values())
    assert run["stats"]["batches"] == 2
    db, agreement = poisoned["service"].db, poisoned["agreement"]
    with db.engine.connect() as conn:
        rows = {
            r.id: r
            for r in conn.execute(sa.select(batches).where(batches.c.agreement_id == agreement))
        }
    for batch_id in poisoned["good"].values():
        assert rows[batch_id].status == "linked" and rows[batch_id].quarantine_reason is None
    layout, width = (rows[poisoned["poison"][k]] for k in ("layout", "width"))
    assert layout.status == width.status == "quarantined"
    assert "another filter layout" in layout.quarantine_reason
    assert "zzz" not in layout.quarantine_reason  # counts, never a value from the batch
    assert "not 1024 bits wide" in width.quarantine_reason
    assert rows[poisoned["poison"]["plain"]].status == "quarantined"
    with poisoned["service"].client(poisoned["keys"]["poison-a"]) as c:
        listed = {b["batch_id"]: b for b in c.batches(agreement)}
        linked = {r["record_ref"] for r in c.iter_cases(agreement)}
    assert listed[layout.id]["status"] == "quarantined"
    assert listed[layout.id]["quarantine_reason"] == layout.quarantine_reason
    assert listed[poisoned["good"]["poison-a"]]["quarantine_reason"] is None
    assert len(linked) == rows[poisoned["good"]["poison-a"]].record_count


def test_each_quarantine_is_audited(poisoned):
    e = audit_entries.c
    with poisoned["service"].db.engine.connect() as conn:
        q = sa.select(e.details).where(
            e.scope == poisoned["agreement"], e.action == "batch.quarantine"
        )
        entries = conn.execute(q).scalars()
        details = [json.loads(d) for d in entries]
    assert sorted(d["batch"] for d in details) == sorted(poisoned["poison"].values())
    assert all(d["run"] == poisoned["run"]["run_id"] and d["reason"] for d in details)
    with poisoned["service"].client() as steward:
        check = steward.verify_audit(poisoned["agreement"])
    assert check["ok"], check["problems"]


def test_the_next_run_does_not_try_the_quarantined_batches_again(
    poisoned, person_v1_schema, secret
):
    agreement, key = poisoned["agreement"], poisoned["keys"]["poison-b"]
    late = poisoned["data"].agencies["agency-b"].iloc[-20:]
    path = encode_file(late, person_v1_schema, secret, "poison-b", poisoned["workdir"] / "late.pq")
    with poisoned["service"].client(key) as c:
        c.upload(agreement, path)
        run = c.wait_run(agreement, c.start_run(agreement)["run_id"], timeout=300, poll=0.2)
    assert run["status"] == "succeeded", run
    assert run["stats"]["quarantined"] == [] and run["stats"]["new_records"] == len(late)
    with poisoned["service"].db.engine.connect() as conn:
        statuses = {
            conn.execute(sa.select(batches.c.status).where(batches.c.id == b)).scalar()
            for b in poisoned["poison"].values()
        }
    assert statuses == {"quarantined"}
