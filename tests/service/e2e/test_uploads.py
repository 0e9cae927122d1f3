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
import sqlalchemy as sa

import bloom
from bloom._batch import _ContentHasher
from service._tables import agreements, audit_entries, batch_records, batches
from service.client import ClientError
from tests.bloom.crafted import craft
from tests.service import loopback
from tests.service.servers import agreement_body, encode_file


@pytest.fixture(scope="module")
def up(world, person_v1_schema, febrl_schema, febrl4, secret):
    """An agreement of agency-a and agency-b for upload tests, and batch files to send."""
    workdir = world.workdir / "uploads"
    workdir.mkdir()
    with world.service.client() as steward:
        body = agreement_body(person_v1_schema, ["agency-a", "agency-b"], name="uploads")
        agreement = steward.create_agreement(**body)
    register = world.data.agencies["agency-a"].head(30)
    return SimpleNamespace(
        world=world,
        agreement_id=agreement["agreement_id"],
        dir=workdir,
        register=register,
        good=encode_file(
            register.head(20), person_v1_schema, secret, "agency-a", workdir / "good.parquet"
        ),
        schema=person_v1_schema,
        febrl_schema=febrl_schema,
        febrl4=febrl4,
        secret=secret,
    )


def _post(up, content, key: str | None = None, **headers: str) -> httpx.Response:
    key = key or up.world.keys["agency-a"]
    with loopback.client(base_url=up.world.service.url, timeout=60) as http:
        headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/vnd.apache.parquet",
            **headers,
        }
        return http.post(
            f"/v1/agreements/{up.agreement_id}/batches", content=content, headers=headers
        )


def _stored(up) -> tuple:
    """What is stored for the agreement: batch ids (through the API) and database rows."""
    db, agreement = up.world.service.db, up.agreement_id
    with up.world.client("agency-a") as c:
        listed = sorted(b["batch_id"] for b in c.batches(agreement))
    with db.engine.connect() as conn:
        refs = sorted(
            conn.execute(
                batch_records.select()
                .with_only_columns(batch_records.c.record_ref)
                .where(batch_records.c.agreement_id == agreement)
            ).scalars()
        )
    return listed, db.count(batches, batches.c.agreement_id == agreement), refs


def _rewrite(up, name: str, refs, filters: np.ndarray, **meta: object) -> Path:
    """The good batch's records replaced by ``refs``/``filters``, its metadata updated."""
    kv = pq.ParquetFile(up.good).metadata.metadata
    body = {**json.loads(kv[b"caselink"]), **meta}
    table = pa.table(
        {
            "record_ref": pa.array(list(refs), pa.string()),
            "bloom": pa.array(
                [row.astype("<u8").tobytes() for row in filters], pa.binary(filters.shape[1] * 8)
            ),
        }
    ).replace_schema_metadata({"caselink": json.dumps(body)})
    path = up.dir / name
    pq.write_table(table, path)
    return path


def _wrong_fingerprint(up) -> bytes:
    df = up.febrl4.a.head(5)
    return encode_file(
        df, up.febrl_schema, up.secret, "agency-a", up.dir / "febrl.parquet"
    ).read_bytes()


def _wrong_length(up) -> bytes:
    path = up.dir / "short.parquet"
    rng = np.random.default_rng(0)
    with bloom.BatchWriter(
        path,
        fingerprint=up.schema.fingerprint,
        agency="agency-a",
        segments=(("all", 512),),
        key_check=bloom.key_check_value(up.secret),
    ) as w:
        w.write(["s1", "s2", "s3"], rng.integers(0, 2**63, (3, 8), dtype=np.uint64))
    return path.read_bytes()


def _other_agency(up) -> bytes:
    return encode_file(
        up.register.head(5), up.schema, up.secret, "agency-b", up.dir / "for-b.parquet"
    ).read_bytes()


def _not_batch(up) -> bytes:
    path = up.dir / "plain.parquet"
    pd.DataFrame({"record_ref": ["x1", "x2"], "bloom": [b"\x00" * 128, b"\x01" * 128]}).to_parquet(
        path
    )
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
    return _rewrite(
        up, "dups.parquet", refs, filters, record_count=6, content_hash=hasher.hexdigest()
    ).read_bytes()


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
        last = conn.execute(
            audit_entries.select()
            .where(audit_entries.c.scope == up.agreement_id)
            .order_by(audit_entries.c.seq.desc())
        ).first()
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


# -- poison batches and the ref rule (issue 11, defects 2 and 5) ---------------------------
SECRET_REF = "Zyxwvutsrq"  # a value that must never come back in an answer or the audit


@pytest.fixture(scope="module")
def poison(up):
    """An agreement of its own (what it stores is counted) and a genuine batch to bend."""
    with up.world.service.client() as steward:
        agreement = steward.create_agreement(
            **agreement_body(up.schema, ["agency-a"], name="poison")
        )
    assert agreement["segments"] == [{"name": n, "bits": b} for n, b in up.schema.layout]
    return SimpleNamespace(
        up=up, agreement_id=agreement["agreement_id"], good=bloom.read_batch(up.good)
    )


def _bent(poison, name: str, refs=None, **meta: object) -> bytes:
    """The genuine batch with ``refs`` and ``meta`` put in, under a correct content hash."""
    good = poison.good
    refs = list(good.record_refs[:4]) if refs is None else refs
    filters = np.resize(good.filters, (len(refs), good.words))
    return craft(poison.up.dir / name, refs, filters, like=good.metadata, **meta).read_bytes()


def _refs_with(bad: str) -> list[str]:
    return ["ok-1", "ok-2", bad, "ok-4"]


POISON: dict[str, tuple[Callable, str]] = {
    # name: (body, what the problems must name)
    "another segment layout (name:512, zzz:512)": (
        lambda p: _bent(
            p,
            "foreign.parquet",
            segments=[{"name": "name", "bits": 512}, {"name": "zzz", "bits": 512}],
        ),
        "metadata/segments: the batch's segment layout is name:512, zzz:512",
    ),
    "the same segments in another order": (
        lambda p: _bent(
            p,
            "order.parquet",
            segments=[{"name": n, "bits": b} for n, b in reversed(p.up.schema.layout)],
        ),
        "metadata/segments: the batch's segment layout is sex:64",
    ),
    "negative bits": (
        lambda p: _bent(
            p,
            "negative.parquet",
            segments=[{"name": "name", "bits": -512}, {"name": "zzz", "bits": 1536}],
        ),
        "metadata/segments/0/bits: must be a positive multiple of 64 (found -512)",
    ),
    "a ref of 257 characters": (
        lambda p: _bent(p, "long.parquet", _refs_with(SECRET_REF + "x" * 247)),
        "record_ref is longer than 256 characters: 1 row (3)",
    ),
    "a ref holding NUL": (
        lambda p: _bent(p, "nul.parquet", _refs_with(SECRET_REF + "\x00")),
        "record_ref holds a control character (such as NUL, tab, CR or LF): 1 row (3)",
    ),
    "a ref holding a line feed": (
        lambda p: _bent(p, "lf.parquet", _refs_with(SECRET_REF + "\n1")),
        "record_ref holds a control character (such as NUL, tab, CR or LF): 1 row (3)",
    ),
    "a ref holding U+2028": (
        lambda p: _bent(p, "ls.parquet", _refs_with(SECRET_REF + "\u2028")),
        "record_ref holds an invisible format or line-separator character",
    ),
    "an empty ref": (
        lambda p: _bent(p, "empty.parquet", _refs_with("")),
        "record_ref is empty: 1 row (3)",
    ),
    "a ref of spaces only": (
        lambda p: _bent(p, "blank.parquet", _refs_with("  ")),
        "record_ref is blank (only space characters): 1 row (3)",
    ),
    "no records": (lambda p: _bent(p, "none.parquet", []), "the batch holds no records"),
    "a plaintext name column": (
        lambda p: _bent(
            p,
            "plain.parquet",
            columns={
                "given_name": pa.array([SECRET_REF, "Amina", "Olena", "Jonathan"], pa.string())
            },
        ),
        "column 'given_name': a batch holds only record_ref and bloom (and the household "
        "columns group, relationship and consent), so that plaintext never reaches the service",
    ),
}


def _everything_stored(db, agreement_id: str) -> tuple[int, int, int]:
    """Rows in batches and batch_records (all agreements), and the agreement's audit entries."""
    return (
        db.count(batches),
        db.count(batch_records),
        db.count(audit_entries, audit_entries.c.scope == agreement_id),
    )


@pytest.mark.parametrize("case", POISON)
def test_poison_batches_are_refused_whole(poison, case):
    """Each crafted batch has a correct content hash, fingerprint and filter_bits; before
    issue 11 a foreign layout was accepted (and then failed every run of the agreement), and
    PostgreSQL answered 500, unaudited, to a NUL or an over-long ref."""
    make, named = POISON[case]
    db = poison.up.world.service.db
    body = make(poison)
    before = _everything_stored(db, poison.agreement_id)
    response = _post_to(poison, body)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"] == "invalid_batch" and answer["detail"]
    assert any(named in p for p in answer["problems"]), answer["problems"]
    assert SECRET_REF not in response.text
    batches_, records, audit = before
    assert _everything_stored(db, poison.agreement_id) == (batches_, records, audit + 1)
    with db.engine.connect() as conn:  # the refusal is in the agreement's own chain
        last = conn.execute(
            audit_entries.select()
            .where(audit_entries.c.scope == poison.agreement_id)
            .order_by(audit_entries.c.seq.desc())
        ).first()
    assert (last.action, last.outcome) == ("batch.upload", "invalid_batch")
    assert json.loads(last.details) == {"status": 422}
    with poison.up.world.service.client() as steward:
        assert steward.verify_audit(poison.agreement_id)["ok"]


def _post_to(poison, content: bytes) -> httpx.Response:
    with loopback.client(base_url=poison.up.world.service.url, timeout=60) as http:
        return http.post(
            f"/v1/agreements/{poison.agreement_id}/batches",
            content=content,
            headers={
                "Authorization": f"Bearer {poison.up.world.keys['agency-a']}",
                "Content-Type": "application/vnd.apache.parquet",
            },
        )


def test_the_longest_refs_are_stored_whole_on_both_databases(poison):
    """256 characters is the limit whatever their UTF-8 length: both databases count
    characters (PostgreSQL's varchar(256) does; SQLite stores what it gets)."""
    refs = ["x" * 256, "é" * 256, "\U0001f600" * 256, "رقم ١٢٣/ب"]
    response = _post_to(poison, _bent(poison, "longest.parquet", refs))
    assert response.status_code == 201, response.text
    db = poison.up.world.service.db
    with db.engine.connect() as conn:
        stored = (
            conn.execute(
                sa.select(batch_records.c.record_ref)
                .where(batch_records.c.batch_id == response.json()["batch_id"])
                .order_by(batch_records.c.position)
            )
            .scalars()
            .all()
        )
    assert stored == refs


def test_agreements_need_a_wellformed_layout(up):
    body = agreement_body(up.schema, ["agency-a"], name="layouts")
    cases = {
        "missing": ({k: v for k, v in body.items() if k != "segments"}, "segments"),
        "sum": (
            {**body, "segments": [{"name": "name", "bits": 512}]},
            "filter_bits: 1024 differs from the sum of the segment bits (512)",
        ),
        "duplicate": (
            {**body, "segments": [{"name": "a", "bits": 512}] * 2},
            "the name 'a' is used more than once",
        ),
        "bits": (
            {**body, "segments": [{"name": "a", "bits": -512}, {"name": "b", "bits": 1536}]},
            "segments.0.bits",
        ),
        "name": ({**body, "segments": [{"name": "1a", "bits": 1024}]}, "segments.0.name"),
    }
    with loopback.client(base_url=up.world.service.url, timeout=60) as http:
        auth = {"Authorization": f"Bearer {up.world.service.steward_key}"}
        for case, (sent, named) in cases.items():
            r = http.post("/v1/agreements", json=sent, headers=auth)
            assert r.status_code == 422, (case, r.text)
            assert any(named in p for p in r.json()["problems"]), (case, r.json())


def test_an_agreement_without_a_layout_takes_its_first_batchs(up, poison):
    """Agreements made before migration 0002 hold no layout: the first accepted batch sets
    it, and from then on a batch with another layout is refused."""
    with up.world.service.client() as steward:
        agreement_id = steward.create_agreement(
            **agreement_body(up.schema, ["agency-a"], name="legacy")
        )["agreement_id"]
    g = agreements.c
    db = up.world.service.db
    with db.engine.begin() as conn:
        conn.execute(sa.update(agreements).where(g.id == agreement_id).values(segments=sa.null()))
    with up.world.service.client() as steward:
        assert steward.agreement(agreement_id)["segments"] is None
    foreign = _bent(
        poison,
        "legacy-foreign.parquet",
        ["l1", "l2"],
        segments=[{"name": "name", "bits": 512}, {"name": "zzz", "bits": 512}],
    )
    genuine = _bent(poison, "legacy-good.parquet", ["l3", "l4"])
    poison_for = SimpleNamespace(up=up, agreement_id=agreement_id)
    assert _post_to(poison_for, genuine).status_code == 201
    with up.world.service.client() as steward:
        layout = steward.agreement(agreement_id)["segments"]
    assert layout == [{"name": n, "bits": b} for n, b in up.schema.layout]
    refused = _post_to(poison_for, foreign)
    assert refused.status_code == 422, refused.text
    assert any(p.startswith("metadata/segments") for p in refused.json()["problems"])
    assert db.count(batches, batches.c.agreement_id == agreement_id) == 1


def _post_as(up, agreement_id: str, agency: str, content: bytes) -> httpx.Response:
    with loopback.client(base_url=up.world.service.url, timeout=60) as http:
        return http.post(
            f"/v1/agreements/{agreement_id}/batches",
            content=content,
            headers={
                "Authorization": f"Bearer {up.world.keys[agency]}",
                "Content-Type": "application/vnd.apache.parquet",
            },
        )


def _encoded(up, agency: str, secret: bloom.Secret, name: str, rows: slice) -> bytes:
    register = up.register.iloc[rows]
    return encode_file(register, up.schema, secret, agency, up.dir / name).read_bytes()


def _stored_of(up, agreement_id: str) -> int:
    return up.world.service.db.count(batches, batches.c.agreement_id == agreement_id)


def test_the_first_batch_sets_the_key_check_and_another_secret_is_refused(up):
    """A batch encoded with the wrong secret used to be stored and become cases that match
    no one, at confidence 1.0. Now the agreement takes its first batch's key check value and
    refuses, whole, any batch with another value, or with none."""
    with up.world.service.client() as steward:
        agreement_id = steward.create_agreement(
            **agreement_body(up.schema, ["agency-a", "agency-b"], name="key check")
        )["agreement_id"]
        assert steward.agreement(agreement_id)["key_check"] is None
    right, wrong = up.secret, bloom.Secret.generate()
    first = _post_as(
        up, agreement_id, "agency-a", _encoded(up, "agency-a", right, "k1", slice(0, 5))
    )
    assert first.status_code == 201, first.text
    with up.world.service.client() as steward:
        assert steward.agreement(agreement_id)["key_check"] == bloom.key_check_value(right)
    refused = _post_as(
        up, agreement_id, "agency-b", _encoded(up, "agency-b", wrong, "k2", slice(5, 10))
    )
    _check_refused(up, refused, 422, "wrong_secret", "metadata/key_check")
    assert "different secret" in refused.json()["detail"]
    assert bloom.key_check_value(wrong) in refused.text
    assert bloom.key_check_value(right) in refused.text
    older = bloom.read_batch(up.dir / "k2")  # as from a caselink that wrote no key check
    unchecked = craft(
        up.dir / "k3",
        list(older.record_refs),
        older.filters,
        like=older.metadata,
        key_check=None,
    ).read_bytes()
    _check_refused(
        up, _post_as(up, agreement_id, "agency-b", unchecked), 422, "wrong_secret", "no key check"
    )
    assert _stored_of(up, agreement_id) == 1  # nothing of the refused batches
    ok = _post_as(up, agreement_id, "agency-b", _encoded(up, "agency-b", right, "k4", slice(5, 10)))
    assert ok.status_code == 201, ok.text
    with up.world.service.db.engine.connect() as conn:
        held = conn.execute(
            sa.select(batches.c.key_check).where(batches.c.agreement_id == agreement_id)
        ).scalars()
        assert set(held) == {bloom.key_check_value(right)}


def test_a_steward_may_give_the_value_so_even_a_wrong_first_batch_is_refused(up):
    right, wrong = up.secret, bloom.Secret.generate()
    with up.world.service.client() as steward:
        body = agreement_body(up.schema, ["agency-a"], name="declared")
        agreement_id = steward.create_agreement(**body, key_check=bloom.key_check_value(right))[
            "agreement_id"
        ]
        with pytest.raises(ClientError) as bad:
            steward.create_agreement(**body, key_check="kcv1:not-hex")
    assert bad.value.status == 422 and any("key_check" in p for p in bad.value.problems)
    refused = _post_as(
        up, agreement_id, "agency-a", _encoded(up, "agency-a", wrong, "d1", slice(10, 15))
    )
    _check_refused(up, refused, 422, "wrong_secret", "metadata/key_check")
    assert _stored_of(up, agreement_id) == 0
    with up.world.service.client() as steward:
        assert steward.agreement(agreement_id)["key_check"] == bloom.key_check_value(right)
    ok = _post_as(
        up, agreement_id, "agency-a", _encoded(up, "agency-a", right, "d2", slice(10, 15))
    )
    assert ok.status_code == 201, ok.text
