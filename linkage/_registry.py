"""The case registry: records, their filters, links and stable case ids, in one database.

SQLite by default (a file for offline ``caselink link --registry``); the service hands in its
own SQLAlchemy engine (SQLite or PostgreSQL) and a ``scope`` (its agreement) so many
registries share one database. Every change of a linking run is applied in one transaction:
a run that fails leaves the registry as it was.

Tables (all keyed by scope): ``registry_meta`` (schema fingerprint, filter bits),
``registry_records`` (agency, record_ref, filter, case id, confidence, and what the batch
said of the record's household and consent: :mod:`linkage._facts`), ``registry_links``
(pairs of records with their match probability, kept so cases can be re-formed) and
``registry_cases`` (case id, issue order, the id it was merged into, confidence).

Given a codec (:class:`linkage.FilterCipher`), every stored filter is sealed: encrypted and
bound to its row's scope, agency and record_ref (:mod:`linkage.sealing`).

:meth:`Registry.remove` takes records out (withdrawal, retention): their filters and links go,
and the cases they leave are re-formed (:mod:`linkage._removal` says how).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import sqlalchemy as sa

from caselink_errors import RegistryError
from linkage._facts import RecordFacts
from linkage._registry_write import (
    FACT_COLUMNS,
    change_rows,
    insert_rows,
    link_rows,
    new_record_ids,
    update_rows,
)
from linkage._types import LinkEnd
from linkage.sealing import FilterCodec, SealedColumn, open_rows, registry_aad, seal_rows

if TYPE_CHECKING:
    from linkage._query_update import IndexRows
    from linkage._registry_read import CaseRow, RegistryFigures
    from linkage._removal import RemovalReport

__all__ = ["Registry", "RegistryError", "RegistryState", "RegistryUpdate"]

metadata = sa.MetaData()
meta_table = sa.Table(
    "registry_meta",
    metadata,
    sa.Column("scope", sa.String(100), primary_key=True),
    sa.Column("schema_fingerprint", sa.String(80), nullable=False),
    sa.Column("filter_bits", sa.Integer, nullable=False),
    sa.Column("next_case_seq", sa.BigInteger, nullable=False, default=0),
)
records_table = sa.Table(
    "registry_records",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("scope", sa.String(100), nullable=False),
    sa.Column("agency", sa.String(64), nullable=False),
    sa.Column("record_ref", sa.String(256), nullable=False),
    sa.Column("bloom", sa.LargeBinary, nullable=False),
    sa.Column("case_id", sa.String(16), nullable=False, index=True),
    sa.Column("confidence", sa.Float, nullable=False),
    # what the record's batch said besides its filter (linkage._facts); NULL: nothing
    sa.Column("group_key", sa.BigInteger, nullable=True),
    sa.Column("relationship", sa.SmallInteger, nullable=True),
    sa.Column("consent", sa.String, nullable=True),
    sa.UniqueConstraint("scope", "agency", "record_ref", name="uq_registry_record"),
)
links_table = sa.Table(
    "registry_links",
    metadata,
    sa.Column("scope", sa.String(100), primary_key=True),
    sa.Column("rec_a", sa.BigInteger, primary_key=True),
    sa.Column("rec_b", sa.BigInteger, primary_key=True),
    sa.Column("probability", sa.Float, nullable=False),
)
cases_table = sa.Table(
    "registry_cases",
    metadata,
    sa.Column("case_id", sa.String(16), primary_key=True),
    sa.Column("scope", sa.String(100), nullable=False, index=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("merged_into", sa.String(16), nullable=True),
    sa.Column("confidence", sa.Float, nullable=False),
)


@dataclass
class RegistryState:
    """Everything a linking run needs from the registry, as arrays (rows in id order)."""

    ids: np.ndarray  # int64 record ids
    agencies: np.ndarray  # object
    refs: np.ndarray  # object
    filters: np.ndarray  # (n, words) uint64
    case_ids: np.ndarray  # object
    confidence: np.ndarray  # float64
    link_a: np.ndarray  # int64 record ids
    link_b: np.ndarray
    link_p: np.ndarray  # float64
    case_seq: dict[str, int] = field(default_factory=dict)  # issue order of live cases
    all_case_ids: set[str] = field(default_factory=set)  # every id ever issued here
    case_confidence: dict[str, float] = field(default_factory=dict)  # stored, of live cases
    fingerprint: str | None = None  # the schema of the records held; None while empty
    # each record's household group, relationship and consent (linkage._facts); None: none
    groups: np.ndarray | None = None  # uint64, 0 = no group
    relationships: np.ndarray | None = None  # int8, -1 = not given
    consent: np.ndarray | None = None  # object: str, or None = nothing said

    def facts(self) -> RecordFacts:
        """The records' household group, relationship and consent (defaults where none)."""
        return RecordFacts.of(len(self.ids), self.groups, self.relationships, self.consent)

    @classmethod
    def empty(cls, words: int) -> RegistryState:
        """The state of a registry that holds nothing (filters of ``words`` uint64 words)."""
        none = np.zeros(0, np.int64)
        return cls(
            ids=none,
            agencies=np.zeros(0, object),
            refs=np.zeros(0, object),
            filters=np.zeros((0, words), np.uint64),
            case_ids=np.zeros(0, object),
            confidence=np.zeros(0),
            link_a=none,
            link_b=none,
            link_p=np.zeros(0),
        )


@dataclass
class RegistryUpdate:
    """The changes of one linking run."""

    fingerprint: str
    filter_bits: int
    new_agencies: np.ndarray
    new_refs: np.ndarray
    new_filters: np.ndarray
    new_case_ids: np.ndarray  # case id of each new record
    new_confidence: np.ndarray
    changed_ids: np.ndarray  # existing record ids whose case or confidence changed
    changed_case_ids: np.ndarray
    changed_confidence: np.ndarray
    links: list[tuple[LinkEnd, LinkEnd, float]]  # (record, record, probability)
    new_cases: list[tuple[str, float]]  # (case id, confidence) issued by this run
    merges: dict[str, str]  # absorbed case id -> surviving case id
    case_confidence: dict[str, float]  # updated confidence of live cases
    sealed: list[bytes] | None = None  # the new filters as stored, once Registry.prepare ran
    # the new records' household group, relationship and consent (linkage._facts); None:
    # the batches said nothing (stored as NULL)
    new_groups: np.ndarray | None = None  # uint64, 0 = no group
    new_relationships: np.ndarray | None = None  # int8, -1 = not given
    new_consent: np.ndarray | None = None  # object: str, or None = nothing said

    def new_facts(self) -> RecordFacts:
        """The new records' household group, relationship and consent."""
        n = len(self.new_refs)
        return RecordFacts.of(n, self.new_groups, self.new_relationships, self.new_consent)


class Registry:
    """A persistent case registry for one scope (one agreement)."""

    def __init__(
        self,
        engine: sa.Engine,
        scope: str = "",
        *,
        create_tables: bool = True,
        codec: FilterCodec | None = None,
        reader: sa.Engine | None = None,
    ) -> None:
        """``create_tables=False`` where migrations own the tables (the service). ``codec``
        seals every filter written and opens every filter read (:mod:`linkage.sealing`);
        without one, filters are kept in the clear and sealed ones are refused. ``reader``
        (default: ``engine``) serves every read: a service whose writes take a lock gives an
        engine that reads a snapshot without it, so a long read never holds up its writers."""
        self.engine = engine
        self.reader = reader or engine
        self.scope = scope
        self.codec = codec
        if create_tables:
            from linkage._registry_facts import add_fact_columns

            metadata.create_all(engine)
            add_fact_columns(engine)  # a table made before the columns existed

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], scope: str = "", *, codec: FilterCodec | None = None
    ) -> Registry:
        """A registry in a SQLite file (created if absent)."""
        url = f"sqlite:///{Path(path).resolve()}"
        return cls(sa.create_engine(url), scope, codec=codec)

    def _aad(self, agency: str, record_ref: str) -> bytes:
        return registry_aad(self.scope, agency, record_ref)

    # -- reading ----------------------------------------------------------------------
    def meta(self) -> tuple[str, int] | None:
        with self.reader.connect() as c:
            row = c.execute(sa.select(meta_table).where(meta_table.c.scope == self.scope)).first()
        return (row.schema_fingerprint, row.filter_bits) if row else None

    def _read(
        self, connection: sa.Connection | None
    ) -> contextlib.AbstractContextManager[sa.Connection]:
        """The caller's connection (its transaction), else one of this registry's reader."""
        if connection is not None:
            return contextlib.nullcontext(connection)
        return self.reader.connect()

    def records(self, agency: str | None = None, *, connection: sa.Connection | None = None) -> int:
        """How many records this registry holds (of one ``agency`` if given)."""
        from linkage._registry_read import count_records

        with self._read(connection) as c:
            return count_records(c, self.scope, agency)

    def case_page(
        self,
        agency: str,
        offset: int,
        limit: int,
        *,
        consent: str | None = None,
        connection: sa.Connection | None = None,
    ) -> list[CaseRow]:
        """``limit`` of ``agency``'s records from ``offset`` (registration order), each with
        its case, confidence and the other agencies in that case — never their refs
        (:class:`linkage._registry_read.CaseRow`). ``consent``: the scope the read's purpose
        needs; another agency is named only through a record whose consent covers it (or
        says nothing). ``None``: every record."""
        from linkage._registry_read import case_page

        with self._read(connection) as c:
            return case_page(c, self.scope, agency, offset, limit, consent)

    def case_record_ids(
        self, agency: str, record_ref: str, *, connection: sa.Connection | None = None
    ) -> tuple[int, ...]:
        """Registry ids of ``agency``'s record ``record_ref`` and of the other records of its
        case, ascending; empty if there is no such record."""
        from linkage._registry_read import case_record_ids

        with self._read(connection) as c:
            return case_record_ids(c, self.scope, agency, record_ref)

    def figures(self, *, connection: sa.Connection | None = None) -> RegistryFigures:
        """Counts computed by the database, no record fetched: per agency, per case, and a
        confidence histogram (:class:`linkage._registry_read.RegistryFigures`)."""
        from linkage._registry_read import figures

        with self._read(connection) as c:
            return figures(c, self.scope)

    def shared_cases(
        self, *, connection: sa.Connection | None = None
    ) -> dict[tuple[str, str], int]:
        """Per pair of agencies ``(a, b)``, ``a < b``, the cases holding a record of each:
        counts computed by the database (:func:`linkage._registry_read.shared_cases`)."""
        from linkage._registry_read import shared_cases

        with self._read(connection) as c:
            return shared_cases(c, self.scope)

    def index_rows(
        self,
        words: int,
        ids: np.ndarray | None = None,
        *,
        connection: sa.Connection | None = None,
    ) -> IndexRows:
        """Records with their filters opened with this registry's codec, ids ascending: all of
        them, or those among ``ids`` still stored, each with its household group,
        relationship and consent — for a :class:`linkage.QueryIndex`
        (:func:`linkage._registry_read.index_rows`; no ref is kept)."""
        from linkage._registry_read import index_rows

        with self._read(connection) as c:
            return index_rows(c, self.scope, words, self.codec, ids)

    def record_cases(
        self, *, connection: sa.Connection | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every record's ``(id, agency, case_id)``, ids ascending (no filter, no ref)."""
        from linkage._registry_read import record_cases

        with self._read(connection) as c:
            return record_cases(c, self.scope)

    @staticmethod
    def sealed_column() -> SealedColumn:
        """The registry's stored filters, every scope, as a key rotation walks them
        (:func:`linkage.sealing.reseal_column`, :func:`~linkage.sealing.count_heads`)."""
        r = records_table.c
        return SealedColumn(
            column=r.bloom,
            select=lambda last: (
                sa.select(r.id, r.scope, r.agency, r.record_ref, r.bloom)
                .where(r.id > last)
                .order_by(r.id)
            ),
            key=lambda x: x.id,
            first=-1,
            aad=lambda x: registry_aad(x.scope, x.agency, x.record_ref),
            where=lambda x: f"registry record {x.id}",
            update=records_table.update()
            .where(r.id == sa.bindparam("k_id"), r.bloom == sa.bindparam("old"))
            .values(bloom=sa.bindparam("new")),
            params=lambda x: {"k_id": x.id},
        )

    @staticmethod
    def records_everywhere(connection: sa.Connection) -> int:
        """Records of every registry (every scope) in this database."""
        from linkage._registry_read import count_records

        return count_records(connection, None)

    def state(self) -> RegistryState:
        """All records, filters and links of this scope."""
        r, lk, k = records_table.c, links_table.c, cases_table.c
        with self.reader.connect() as c:
            rows = c.execute(
                sa.select(
                    r.id,
                    r.agency,
                    r.record_ref,
                    r.bloom,
                    r.case_id,
                    r.confidence,
                    r.group_key,
                    r.relationship,
                    r.consent,
                )
                .where(r.scope == self.scope)
                .order_by(r.id)
            ).all()
            links = c.execute(
                sa.select(lk.rec_a, lk.rec_b, lk.probability).where(lk.scope == self.scope)
            ).all()
            cases = c.execute(
                sa.select(k.case_id, k.seq, k.merged_into, k.confidence).where(
                    k.scope == self.scope
                )
            ).all()
        meta = self.meta()
        words = meta[1] // 64 if meta else 0
        plain = open_rows(
            self.codec,
            [x.bloom for x in rows],
            lambda k: self._aad(rows[k].agency, rows[k].record_ref),
            words * 8,
            lambda k: f"registry record {rows[k].id}",
        )
        filters = np.frombuffer(plain, dtype="<u8")
        facts = RecordFacts.from_stored([x[6:] for x in rows])
        return RegistryState(
            ids=np.array([x.id for x in rows], dtype=np.int64),
            agencies=np.array([x.agency for x in rows], dtype=object),
            refs=np.array([x.record_ref for x in rows], dtype=object),
            filters=filters.reshape(len(rows), words).astype(np.uint64),
            case_ids=np.array([x.case_id for x in rows], dtype=object),
            confidence=np.array([x.confidence for x in rows], dtype=np.float64),
            link_a=np.array([x.rec_a for x in links], dtype=np.int64),
            link_b=np.array([x.rec_b for x in links], dtype=np.int64),
            link_p=np.array([x.probability for x in links], dtype=np.float64),
            case_seq={x.case_id: x.seq for x in cases if x.merged_into is None},
            all_case_ids={x.case_id for x in cases},
            case_confidence={x.case_id: x.confidence for x in cases if x.merged_into is None},
            fingerprint=meta[0] if meta else None,
            groups=facts.groups,
            relationships=facts.relationships,
            consent=facts.consent,
        )

    def resolve(self, case_id: str) -> str:
        """The live case id that ``case_id`` is (or was merged into)."""
        k = cases_table.c
        seen = set()
        with self.reader.connect() as c:
            while case_id not in seen:
                seen.add(case_id)
                row = c.execute(
                    sa.select(k.merged_into).where(k.scope == self.scope, k.case_id == case_id)
                ).first()
                if row is None:
                    raise RegistryError(f"case id {case_id} is not in this registry")
                if row.merged_into is None:
                    return case_id
                case_id = row.merged_into
        raise RegistryError(f"case id {case_id} has a merge cycle")  # pragma: no cover

    def assignments(self) -> pd.DataFrame:
        """agency, record_ref, case_id, confidence for every record."""
        r = records_table.c
        with self.reader.connect() as c:
            rows = c.execute(
                sa.select(r.agency, r.record_ref, r.case_id, r.confidence)
                .where(r.scope == self.scope)
                .order_by(r.id)
            ).all()
        return pd.DataFrame(rows, columns=["agency", "record_ref", "case_id", "confidence"])

    def aliases(self) -> dict[str, str]:
        k = cases_table.c
        with self.reader.connect() as c:
            rows = c.execute(
                sa.select(k.case_id, k.merged_into).where(
                    k.scope == self.scope, k.merged_into.is_not(None)
                )
            ).all()
        return {x.case_id: x.merged_into for x in rows}

    # -- writing ----------------------------------------------------------------------
    def apply(self, u: RegistryUpdate, *, connection: sa.Connection | None = None) -> np.ndarray:
        """Apply one run's changes in a single transaction; returns the new records' ids.

        The transaction is the caller's ``connection`` when given, so that its other changes
        (a service marking batches linked, recording the run) commit or roll back with these.
        """
        if connection is None:
            self.prepare(u)  # sealing is slow: not while the transaction holds its locks
            with self.engine.begin() as c:
                return self._apply(c, u)
        return self._apply(connection, u)

    def prepare(self, u: RegistryUpdate) -> RegistryUpdate:
        """Seal ``u``'s new filters now (the slow part of writing them), so that the
        transaction of :meth:`apply` holds its locks only for the writes; returns ``u``."""
        if u.sealed is None and len(u.new_refs):
            blooms = np.ascontiguousarray(u.new_filters).astype("<u8", copy=False)
            u.sealed = seal_rows(
                self.codec,
                [b.tobytes() for b in blooms],
                lambda i: self._aad(u.new_agencies[i], u.new_refs[i]),
            )
        return u

    def _apply(self, c: sa.Connection, u: RegistryUpdate) -> np.ndarray:
        seq = self._check_meta(c, u)
        new_ids = self._insert_records(c, u)
        update_rows(c, "registry_records", ("case_id", "confidence"), "id", change_rows(u))
        insert_rows(
            c,
            "registry_links",
            ("scope", "rec_a", "rec_b", "probability"),
            link_rows(self.scope, u, new_ids),
        )
        self._write_cases(c, u, seq)
        seq += len(u.new_cases)
        c.execute(
            meta_table.update().where(meta_table.c.scope == self.scope).values(next_case_seq=seq)
        )
        return new_ids

    def _write_cases(self, c: sa.Connection, u: RegistryUpdate, seq: int) -> None:
        """New cases, merges and case confidence, each as one driver ``executemany``
        (:mod:`linkage._registry_write`)."""
        rows = [
            (cid, self.scope, seq + i, float(conf)) for i, (cid, conf) in enumerate(u.new_cases)
        ]
        insert_rows(c, "registry_cases", ("case_id", "scope", "seq", "confidence"), rows)
        update_rows(
            c,
            "registry_cases",
            ("merged_into",),
            "case_id",
            [(new, old) for old, new in u.merges.items()],
        )
        update_rows(
            c,
            "registry_cases",
            ("confidence",),
            "case_id",
            [(float(v), cid) for cid, v in u.case_confidence.items()],
        )

    def _check_meta(self, c: sa.Connection, u: RegistryUpdate) -> int:
        row = c.execute(sa.select(meta_table).where(meta_table.c.scope == self.scope)).first()
        if row is None:
            c.execute(
                meta_table.insert().values(
                    scope=self.scope,
                    schema_fingerprint=u.fingerprint,
                    filter_bits=u.filter_bits,
                    next_case_seq=0,
                )
            )
            return 0
        if row.schema_fingerprint != u.fingerprint:
            raise RegistryError(
                f"the registry holds records encoded with schema {row.schema_fingerprint}; "
                f"these batches use {u.fingerprint}. Use another registry or re-encode"
            )
        return int(row.next_case_seq)

    def _insert_records(self, c: sa.Connection, u: RegistryUpdate) -> np.ndarray:
        """The new records under ids allocated here, in their order; returns the ids."""
        n = len(u.new_refs)
        new_ids = new_record_ids(c, n)
        if n == 0:
            return new_ids
        stored = self.prepare(u).sealed
        assert stored is not None
        rows = zip(
            new_ids.tolist(),
            [self.scope] * n,
            u.new_agencies.tolist(),
            u.new_refs.tolist(),
            stored,
            u.new_case_ids.tolist(),
            np.asarray(u.new_confidence, np.float64).tolist(),
            u.new_facts().stored(),
            strict=True,
        )
        insert_rows(
            c,
            "registry_records",
            (
                "id",
                "scope",
                "agency",
                "record_ref",
                "bloom",
                "case_id",
                "confidence",
                *FACT_COLUMNS,
            ),
            [(*row[:-1], *row[-1]) for row in rows],
        )
        return new_ids

    def set_consent(
        self,
        agency: str,
        refs: Sequence[str],
        scopes: Sequence[str] | None,
        *,
        connection: sa.Connection | None = None,
    ) -> int:
        """Set the consent of ``agency``'s records ``refs``: the scope codes they may be used
        for (``[]``: none), or ``None`` (nothing said: every purpose, as a record of a batch
        without consent). Returns how many records changed; refs not held are not counted.
        One transaction, the caller's ``connection`` when given (the service audits it)."""
        from linkage._facts import scopes_text
        from linkage._registry_facts import set_consent

        text = scopes_text(scopes)
        if connection is None:
            with self.engine.begin() as c:
                return set_consent(c, self.scope, agency, refs, text)
        return set_consent(connection, self.scope, agency, refs, text)

    def record_ids(
        self, agency: str, refs: Sequence[str], *, connection: sa.Connection | None = None
    ) -> np.ndarray:
        """Registry ids of ``agency``'s records ``refs`` still held, ascending (to read them
        again into a tracing index after :meth:`set_consent`)."""
        from linkage._registry_facts import record_ids

        with self._read(connection) as c:
            return record_ids(c, self.scope, agency, refs)

    # -- removing ---------------------------------------------------------------------
    def remove(
        self,
        records: Sequence[tuple[str, str]],
        *,
        threshold: float | None = None,
        connection: sa.Connection | None = None,
    ) -> RemovalReport:
        """Remove records ``(agency, record_ref)`` and their links; re-form the cases they leave.

        The remaining records of a case keep its id while the stored links between them at
        or above ``threshold`` (``None``: every stored link) connect them; otherwise the
        component holding the oldest record keeps it and each other component gets a new id
        (:mod:`linkage._removal`). Confidence is recomputed for the remaining records of those
        cases and for records that were linked to a removed one. One transaction — the
        caller's ``connection`` when given, so its other changes commit or roll back with it.
        """
        from linkage._removal import Removal

        if connection is None:
            with self.engine.begin() as c:
                return Removal(self.scope, c).run(records, threshold)
        return Removal(self.scope, connection).run(records, threshold)
