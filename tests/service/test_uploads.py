"""Uploads are all-or-nothing: each bad upload is refused with a JSON error naming the
problem and leaves nothing behind; the same batch sent twice is stored once."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import bloom
from bloom._batch import _ContentHasher
from service._tables import audit_entries, batch_records, batches
from tests.service.conftest import agreement_body, encode_file


@pytest.fixture(scope="module")
def up(world, person_schema, febrl_schema, febrl4, secret):
    """An agreement of agency-a and agency-b for upload tests, and batch files to send."""
    workdir = world.workdir / "uploads"
    workdir.mkdir()
    with world.service.client() as steward:
        agreement = steward.create_agreement(
            **agreement_body(person_schema, ["agency-a", "agency-b"], name="uploads"))  # fmt: skip
    register = world.data.agencies["agency-a"].head(30)
    return SimpleNamespace(
        world=world, agreement_id=agreement["agreement_id"], dir=workdir, register=register,
        good=encode_file(register.head(20), person_schema, secret, "agency-a",
                         workdir / "good.parquet"),
        schema=person_schema, febrl_schema=febrl_schema, febrl4=febrl4, secret=secret,
    )  # fmt: skip


def _post(up, content, key: str | None = None, **headers: str) -> httpx.Response:
    key = key or up.world.keys["agency-a"]
    with httpx.Client(base_url=up.world.service.url, timeout=60) as http:
        headers = {"Authorization": f"Bearer {key}",
                   "Content-Type": "application/vnd.apache.parquet", **headers}  # fmt: skip
        return http.post(f"/v1/agreements/{up.agreement_id}/batches", content=content,
                         headers=headers)  # fmt: skip


def _stored(up) -> tuple:
    """What is stored for the agreement: batch ids (through the API) and database rows."""
    db, agreement = up.world.service.db, up.agreement_id
    with up.world.client("agency-a") as c:
        listed = sorted(b["batch_id"] for b in c.batches(agreement))
    with db.engine.connect() as conn:
        refs = sorted(conn.execute(batch_records.select().with_only_columns(
            batch_records.c.record_ref).where(batch_records.c.agreement_id == agreement)
        ).scalars())  # fmt: skip
    return listed, db.count(batches, batches.c.agreement_id == agreement), refs


def _rewrite(up, name: str, refs, filters: np.ndarray, **meta: object) -> Path:
    """The good batch's records replaced by ``refs``/``filters``, its metadata updated."""
    kv = pq.ParquetFile(up.good).metadata.metadata
    body = {**json.loads(kv[b"caselink"]), **meta}
    table = pa.table({
        "record_ref": pa.array(list(refs), pa.string()),
        "bloom": pa.array([row.astype("<u8").tobytes() for row in filters],
                          pa.binary(filters.shape[1] * 8)),
    }).replace_schema_metadata({"caselink": json.dumps(body)})  # fmt: skip
    path = up.dir / name
    pq.write_table(table, path)
    return path


def _wrong_fingerprint(up) -> bytes:
    df = up.febrl4.a.head(5)
    return encode_file(df, up.febrl_schema, up.secret, "agency-a", up.dir / "febrl.parquet"
                       ).read_bytes()  # fmt: skip


def _wrong_length(up) -> bytes:
    path = up.dir / "short.parquet"
    rng = np.random.default_rng(0)
    with bloom.BatchWriter(path, fingerprint=up.schema.fingerprint, agency="agency-a",
                           segments=(("all", 512),)) as w:  # fmt: skip
        w.write(["s1", "s2", "s3"], rng.integers(0, 2**63, (3, 8), dtype=np.uint64))
    return path.read_bytes()


def _other_agency(up) -> bytes:
    return encode_file(up.register.head(5), up.schema, up.secret, "agency-b",
                       up.dir / "for-b.parquet").read_bytes()  # fmt: skip


def _not_batch(up) -> bytes:
    path = up.dir / "plain.parquet"
    pd.DataFrame({"record_ref": ["x1", "x2"], "bloom": [b"\x00" * 128, b"\x01" * 128]}
                 ).to_parquet(path)  # fmt: skip
    return path.read_bytes()


def _altered(up) -> bytes:
    batch = bloom.read_batch(up.good)
    filters = batch.filters.copy()
    filters[3, 0] ^= np.uint64(1 << 5)  # one bit of one record
    return _rewrite(up, "altered.parquet", batch.record_refs, filters).read_bytes()


def _duplicate_refs(up) -> bytes:
    batch = bloom.read_batch(up.good)
    refs = [*batch.record_refs[:5], batch.record_refs[0]]
    filters = np.vstack([batch.filters[:5], batch.filters[:1]])
    hasher = _ContentHasher()
    hasher.update(pa.array(refs, pa.string()), filters)
    return _rewrite(up, "dups.parquet", refs, filters, record_count=6,
                    content_hash=hasher.hexdigest()).read_bytes()  # fmt: skip


BAD: dict[str, tuple[Callable, int, str, str]] = {
    # name: (body, status, error code, what the problems must name)
    "wrong schema fingerprint": (_wrong_fingerprint, 422, "invalid_batch", "schema_fingerprint"),
    "wrong filter length": (_wrong_length, 422, "invalid_batch", "filter_bits"),
    "encoded for another agency": (_other_agency, 422, "invalid_batch", "metadata/agency"),
    "not parquet": (lambda up: b"record_ref,bloom\nx,1\n", 422, "invalid_batch", "Parquet"),
    "parquet, not a batch": (_not_batch, 422, "invalid_batch", "caselink metadata"),
    "altered after encoding": (_altered, 422, "invalid_batch", "content_hash"),
    "duplicate refs in the file": (_duplicate_refs, 422, "invalid_batch", "duplicate"),
    "empty body": (lambda up: b"", 422, "invalid_batch", "empty"),
    "over the size limit": (lambda up: b"\x00" * (3 << 19), 413, "too_large", "bytes"),
}


def _check_refused(up, response: httpx.Response, status: int, error: str, named: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["detail"]
    assert body["problems"], f"no problem listed: {body}"
    assert any(named.lower() in p.lower() for p in body["problems"]), body["problems"]
    assert "caselink-upload-" not in response.text  # the server's temporary path stays inside


@pytest.mark.parametrize("case", BAD)
def test_bad_upload_is_refused_and_stores_nothing(up, case):
    make, status, error, named = BAD[case]
    before = _stored(up)
    response = _post(up, make(up))
    with up.world.service.db.engine.connect() as conn:  # the refusal itself is audited
        last = conn.execute(audit_entries.select().where(
            audit_entries.c.scope == up.agreement_id).order_by(audit_entries.c.seq.desc())
        ).first()  # fmt: skip
    assert (last.action, last.outcome) == ("batch.upload", error)
    assert _stored(up) == before
    _check_refused(up, response, status, error, named)


def test_streamed_body_over_the_limit_is_refused(up):
    """Without a Content-Length the limit is enforced while the body streams in."""
    before = _stored(up)
    chunks = (b"\x00" * (1 << 16) for _ in range(40))  # 2.5 MiB, chunked
    _check_refused(up, _post(up, chunks), 413, "too_large", "bytes")
    assert _stored(up) == before


@pytest.fixture(scope="module")
def accepted(up) -> dict:
    r = _post(up, up.good.read_bytes())
    assert r.status_code == 201, r.text
    return r.json()


def test_same_batch_twice_is_stored_once(up, accepted):
    assert accepted["duplicate"] is False and accepted["record_count"] == 20
    again = _post(up, up.good.read_bytes())
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["duplicate"] is True and body["batch_id"] == accepted["batch_id"]
    listed, count, refs = _stored(up)
    assert listed == [accepted["batch_id"]] and count == 1
    assert refs == sorted(up.register.head(20)["record_ref"])


def test_refs_already_uploaded_are_refused_whole(up, accepted):
    before = _stored(up)
    overlapping = up.register.iloc[15:30]  # 5 refs sent before, 10 new
    path = encode_file(overlapping, up.schema, up.secret, "agency-a", up.dir / "again.parquet")
    response = _post(up, path.read_bytes())
    _check_refused(up, response, 409, "conflict", "record_ref")
    assert any("5 of the 15" in p for p in response.json()["problems"])
    assert _stored(up) == before  # none of the 10 new records either
