"""Accepting an encoded batch: validate all of it, then store all of it or nothing.

The upload is read by :func:`bloom.read_batch` (format, metadata and segment layout, content
hash, the ref rule, duplicate refs, no column but ``record_ref``, ``bloom`` and the optional
household and consent columns), then checked
against the agreement (the caller's own agency, the agreement's schema fingerprint, filter
length and exact segment layout: names, order and bits; the key check value of its secret,
:func:`key_check_refusal`) and against what the agency has
sent before: the same file again is idempotent (same content hash: the stored batch is
returned), while a ``record_ref`` the agency already holds in this agreement is refused.
Records are stored in ``batch_records`` inside one transaction with the batch row and its
audit entry, each with what its batch said of its household and consent, if anything
(:mod:`service._batch_facts`): nothing accepted is dropped.

An agreement made before agreements recorded their layout (``segments`` NULL) takes the
layout of its first accepted batch that a run has not set aside (a linked one first), or the
upload's own when it has none, and keeps it from then on. Likewise an agreement whose steward
gave no key check value takes the value of its first accepted batch that carries one.

Each filter is sealed by the service's cipher and bound to its agreement, agency and
record_ref (:func:`batch_aad`); :func:`load_batch` opens them again for a run.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

import bloom
from caselink_errors import BatchRefusedError
from linkage import insert_rows
from linkage.sealing import FilterCodec, filter_aad, open_rows, seal_rows
from service._audit import Actor, append
from service._batch_facts import FACT_COLUMNS, has_facts, loaded_facts, stored_facts
from service._tables import agreements, batch_records, batches
from service.repositories.agreements import AgreementRow

__all__ = [
    "BatchRefusedError",
    "StoredBatch",
    "agreement_problems",
    "batch_aad",
    "drop_linked_filters",
    "key_check_refusal",
    "load_batch",
    "read_upload",
    "store_batch",
]

_INSERT_ROWS = 5000
Layout = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class StoredBatch:
    row: Any
    duplicate: bool


def read_upload(source: Path | bytes) -> bloom.EncodedBatch:
    """The batch in a file (an upload) or in memory (a query), validated; 422 otherwise."""
    try:
        return bloom.read_batch(source, name="the upload")
    except bloom.BatchError as e:
        raise BatchRefusedError(
            422, "the upload is not a valid caselink batch", e.problems
        ) from None


def agreement_problems(
    batch: bloom.EncodedBatch, agreement: AgreementRow, agency: str
) -> list[str]:
    """What in ``batch`` does not fit the agreement or the agency sending it (sentences)."""
    m, problems = batch.metadata, []
    if m.agency != agency:
        problems.append(
            f"metadata/agency: the batch was encoded for agency {m.agency}; your key "
            f"belongs to {agency}. Encode with --agency {agency}"
        )
    if m.schema_fingerprint != agreement.schema_fingerprint:
        problems.append(
            f"metadata/schema_fingerprint: the batch uses schema {m.schema_fingerprint}; "
            f"agreement {agreement.id} uses {agreement.schema_fingerprint}. "
            "Encode with the agreement's schema"
        )
    if m.filter_bits != agreement.filter_bits:
        problems.append(
            f"metadata/filter_bits: the batch has {m.filter_bits}-bit filters; "
            f"agreement {agreement.id} uses {agreement.filter_bits}"
        )
    if agreement.segments is not None:
        problems += _layout_problems(m.segments, bloom.as_layout(agreement.segments), agreement.id)
    return problems


def key_check_refusal(
    offered: str | None, recorded: str | None, agreement_id: str, what: str = "batch"
) -> BatchRefusedError | None:
    """The refusal of a ``what`` (batch or query) whose key check value is not the
    agreement's, or None. An agreement with no value yet refuses nothing on this ground."""
    if recorded is None or offered == recorded:
        return None
    if offered is None:
        problem = (
            f"metadata/key_check: the {what} carries no key check value (it was encoded by an "
            f"older caselink), so the service cannot tell whether it was encoded with agreement "
            f"{agreement_id}'s secret; encode it again with this caselink"
        )
        return BatchRefusedError(
            422, f"the {what} carries no key check value", [problem], "wrong_secret"
        )
    problem = (
        f"metadata/key_check: the {what} was encoded with a different secret from the one "
        f"agreement {agreement_id} uses (key check value {offered}; the agreement's is "
        f"{recorded}). Encode it again with the agreement's shared secret: `caselink keygen "
        "--check FILE` prints a secret file's value. If your secret is the right one, ask the "
        "agreement's steward"
    )
    return BatchRefusedError(
        422, f"the {what} was encoded with a different secret", [problem], "wrong_secret"
    )


def settle_once(conn: sa.Connection, agreement_id: str, column: str, value: Any) -> Any:
    """What the agreement records in ``column`` once ``value`` is offered for it: set now if
    it was NULL, for good; a concurrent first upload may have set another value first, and
    then that one is returned (the UPDATE's ``IS NULL`` condition, then a re-read)."""
    g, settled = agreements.c, agreements.c[column]
    unset = sa.update(agreements).where(g.id == agreement_id, settled.is_(None))
    conn.execute(unset.values({column: value}))
    return conn.execute(sa.select(settled).where(g.id == agreement_id)).scalar_one()


def _layout_text(layout: Layout) -> str:
    return ", ".join(f"{name}:{bits}" for name, bits in layout)


def _layout_problems(offered: Layout, agreed: Layout, agreement_id: str) -> list[str]:
    """The batch's segment layout must be the agreement's exactly: names, order and bits."""
    if tuple(offered) == tuple(agreed):
        return []
    return [
        f"metadata/segments: the batch's segment layout is {_layout_text(offered)}; "
        f"agreement {agreement_id} uses {_layout_text(agreed)}. Encode with the agreement's "
        "schema (`caselink inspect` shows a batch's layout)"
    ]


def _first_layout(conn: sa.Connection, agreement: AgreementRow, offered: Layout) -> list[Any]:
    """The layout an agreement with none recorded takes, as stored: that of its first
    accepted batch a run has not set aside (a linked one first), or else ``offered``."""
    b = batches.c
    linked_first = sa.case((b.status == "linked", 0), else_=1)
    stored = (
        conn.execute(
            sa.select(b.segments)
            .where(b.agreement_id == agreement.id, b.status != "quarantined")
            .order_by(linked_first, b.received_at, b.id)
        )
        .scalars()
        .all()
    )
    fits = (s for s in stored if not bloom.layout_problems(s, agreement.filter_bits))
    return next(fits, None) or [[n, bits] for n, bits in offered]


def _held_refs(conn: sa.Connection, agreement_id: str, agency_id: int, refs: np.ndarray) -> int:
    r = batch_records.c
    held = (
        conn.execute(
            sa.select(r.record_ref).where(r.agreement_id == agreement_id, r.agency_id == agency_id)
        )
        .scalars()
        .all()
    )
    return int(pd.Index(held).isin(refs).sum()) if held else 0


def _same_batch(conn: sa.Connection, agreement_id: str, agency_id: int, content_hash: str):
    b = batches.c
    return conn.execute(
        sa.select(batches).where(
            b.agreement_id == agreement_id, b.agency_id == agency_id, b.content_hash == content_hash
        )
    ).first()


def _audit_upload(
    conn,
    agreement_id: str,
    actor: Actor,
    purpose: str,
    batch_id: str,
    records: int,
    duplicate: bool = False,
) -> None:
    details = {"batch": batch_id, "records": records} | ({"duplicate": True} if duplicate else {})
    append(conn, agreement_id, actor, "batch.upload", purpose=purpose, details=details)


def batch_aad(agreement_id: str, agency_id: int, record_ref: str) -> bytes:
    """What a pending record's sealed filter is bound to: its row of ``batch_records``."""
    return filter_aad("batch_records", agreement_id, agency_id, record_ref)


def store_batch(
    engine: sa.Engine,
    agreement: AgreementRow,
    agency_id: int,
    actor: Actor,
    path: Path,
    purpose: str,
    *,
    codec: FilterCodec,
) -> StoredBatch:
    """Validate the uploaded file at ``path`` and store it; raises :class:`BatchRefusedError`.

    A ref the agency sent before is caught by the ``uq_batch_record`` constraint as the
    records go in (no read of every ref held per upload); only then are the refs counted,
    for the message, after the failed transaction rolled back.
    """
    batch = read_upload(path)
    problems = agreement_problems(batch, agreement, actor.agency)
    if problems:
        raise BatchRefusedError(422, "the batch does not fit this agreement", problems)
    m = batch.metadata
    wrong = key_check_refusal(m.key_check, agreement.key_check, agreement.id)
    if wrong is not None:
        raise wrong
    sealed = _sealed(agreement.id, agency_id, batch, codec)  # slow: before the lock is taken
    try:
        with engine.begin() as conn:
            if agreement.key_check is None and m.key_check is not None:
                recorded = settle_once(conn, agreement.id, "key_check", m.key_check)
                wrong = key_check_refusal(m.key_check, recorded, agreement.id)
                if wrong is not None:
                    raise wrong
            if agreement.segments is None:
                first = _first_layout(conn, agreement, m.segments)
                agreed = bloom.as_layout(settle_once(conn, agreement.id, "segments", first))
                problems = _layout_problems(m.segments, agreed, agreement.id)
                if problems:
                    raise BatchRefusedError(422, "the batch does not fit this agreement", problems)
            same = _same_batch(conn, agreement.id, agency_id, m.content_hash)
            if same is None:
                row = _insert_batch(conn, agreement.id, agency_id, batch, sealed)
                _audit_upload(conn, agreement.id, actor, purpose, row.id, m.record_count)
                return StoredBatch(row, duplicate=False)
            _audit_upload(conn, agreement.id, actor, purpose, same.id, m.record_count, True)
            return StoredBatch(same, duplicate=True)
    except sa.exc.IntegrityError:
        with engine.begin() as conn:  # an identical upload may have won a race: idempotent
            same = _same_batch(conn, agreement.id, agency_id, m.content_hash)
            if same is not None:
                _audit_upload(conn, agreement.id, actor, purpose, same.id, m.record_count, True)
                return StoredBatch(same, duplicate=True)
            held = _held_refs(conn, agreement.id, agency_id, batch.record_refs)
        if not held:
            raise
        raise BatchRefusedError(
            409,
            "some records are here already",
            [
                f"record_ref: {held} of the {m.record_count} refs were uploaded before in this "
                "agreement; send only new records (withdraw a record before sending it again)"
            ],
        ) from None


def _sealed(agreement_id: str, agency_id: int, batch, codec: FilterCodec) -> list[bytes]:
    """Each record's filter as stored: sealed, bound to its row."""
    blooms = np.ascontiguousarray(batch.filters).astype("<u8", copy=False)
    refs = [str(r) for r in batch.record_refs]
    return seal_rows(
        codec, [b.tobytes() for b in blooms], lambda k: batch_aad(agreement_id, agency_id, refs[k])
    )


def _insert_batch(
    conn: sa.Connection, agreement_id: str, agency_id: int, batch, sealed: list[bytes]
) -> Any:
    """The batch row and its records; IntegrityError if a ref is held already."""
    m, batch_id = batch.metadata, "bat_" + secrets.token_hex(8)
    conn.execute(
        batches.insert().values(
            id=batch_id,
            agreement_id=agreement_id,
            agency_id=agency_id,
            content_hash=m.content_hash,
            record_count=m.record_count,
            segments=[[n, bits] for n, bits in m.segments],
            encoded_at=m.created_at,
            caselink_version=m.caselink_version,
            key_check=m.key_check,
            status="pending",
            received_at=datetime.now(UTC),
        )
    )
    _insert_records(conn, batch_id, agreement_id, agency_id, batch, sealed)
    return conn.execute(sa.select(batches).where(batches.c.id == batch_id)).one()


def _insert_records(
    conn, batch_id: str, agreement_id: str, agency_id: int, batch, sealed: list[bytes]
) -> None:
    """The batch's records as tuples to the driver's ``executemany``: the upload transaction
    holds the write lock that tracing queries' audit entries wait for (a dict per row through
    the statement layer cost most of it)."""
    refs = [str(r) for r in batch.record_refs]
    columns = ("batch_id", "position", "agreement_id", "agency_id", "record_ref", "bloom")
    facts = stored_facts(batch) if has_facts(batch) else None
    if facts is not None:
        columns += FACT_COLUMNS
    for start in range(0, len(batch), _INSERT_ROWS):
        stop = min(start + _INSERT_ROWS, len(batch))
        rows = [
            (batch_id, k, agreement_id, agency_id, refs[k], sealed[k], *(facts[k] if facts else ()))
            for k in range(start, stop)
        ]
        insert_rows(conn, "batch_records", columns, rows)


DROP_ROWS = 5000  # filters dropped per transaction once a run has stored its batches


def drop_linked_filters(engine: sa.Engine, batch_ids: list[str]) -> int:
    """Drop the filters these linked batches still hold (they live on, sealed, in the
    registry), :data:`DROP_ROWS` records per transaction so that no tracing query's audit
    entry waits long for the write lock. Returns the filters dropped."""
    r, b = batch_records.c, batches.c
    if not batch_ids:
        return 0
    linked = sa.select(b.id).where(b.status == "linked", b.id.in_(batch_ids))
    dropped = 0
    with engine.connect() as conn:
        spans = conn.execute(
            sa.select(r.batch_id, sa.func.min(r.position), sa.func.max(r.position))
            .where(r.batch_id.in_(linked), r.bloom.is_not(None))
            .group_by(r.batch_id)
        ).all()
    for batch_id, lo, hi in spans:
        for start in range(int(lo), int(hi) + 1, DROP_ROWS):
            with engine.begin() as conn:
                dropped += conn.execute(
                    batch_records.update()
                    .where(
                        r.batch_id == batch_id,
                        r.position >= start,
                        r.position < start + DROP_ROWS,
                        r.bloom.is_not(None),
                    )
                    .values(bloom=None)
                ).rowcount
    return dropped


def load_batch(
    conn: sa.Connection, row: Any, agency: str, fingerprint: str, *, codec: FilterCodec
) -> bloom.EncodedBatch:
    """A stored pending batch as an :class:`bloom.EncodedBatch`, ready for ``linkage.link``,
    with the household and consent its records hold (:func:`loaded_facts`); a filter altered
    or moved between records raises :class:`linkage.SealedValueError`."""
    r = batch_records.c
    recs = conn.execute(
        sa.select(r.position, r.record_ref, r.bloom, r.group_key, r.relationship, r.consent)
        .where(r.batch_id == row.id)
        .order_by(r.position)
    ).all()
    bits = sum(int(b) for _, b in row.segments)
    plain = open_rows(
        codec,
        [x.bloom for x in recs],
        lambda k: batch_aad(row.agreement_id, row.agency_id, recs[k].record_ref),
        bits // 8,
        lambda k: f"batch {row.id} record {recs[k].position}",
    )
    filters = np.frombuffer(plain, dtype="<u8").reshape(len(recs), bits // 64).astype(np.uint64)
    meta = bloom.BatchMetadata(
        schema_fingerprint=fingerprint,
        agency=agency,
        record_count=len(recs),
        filter_bits=bits,
        segments=tuple((str(n), int(b)) for n, b in row.segments),
        created_at=row.encoded_at,
        caselink_version=row.caselink_version,
        content_hash=row.content_hash,
        key_check=row.key_check,
    )
    refs = np.array([x.record_ref for x in recs], dtype=object)
    facts = loaded_facts([x[3:] for x in recs])
    return bloom.EncodedBatch(
        record_refs=refs,
        filters=filters,
        metadata=meta,
        groups=facts.groups,
        relationships=facts.relationships,
        consent=facts.consent,
    )
