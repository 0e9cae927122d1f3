"""Registries written straight into a migrated service database, sealed as the service stores
them, for the tests of the tracing index's store (test_index_update, test_index_replicas,
test_index_process); and the run they apply, as a run stores it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import sqlalchemy as sa

from linkage import Registry, RegistryUpdate
from linkage._registry import cases_table, meta_table, records_table
from linkage.sealing import FilterCipher, registry_aad
from service._tables import agencies, agreements

FINGERPRINT = "f" * 64
FILTER_BITS = 256


def seed_agreement(
    engine: sa.Engine,
    agreement: str,
    name: str,
    filters: np.ndarray,
    names: np.ndarray,
    cases: np.ndarray,
    cipher: FilterCipher,
    *,
    people: int | None = None,
) -> None:
    """An agreement (created by agency ``coordination``) whose registry holds ``filters``,
    record ``r{k}`` of agency ``names[k]`` in case ``cases[k]``, sealed under ``cipher``; with
    ``people``, also the registry's meta row and cases ``CASE-0`` .. ``CASE-{people-1}``, so
    that :class:`linkage.Registry` can apply runs and removals to it."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        creator = conn.execute(
            agencies.insert().values(name="coordination", created_at=now)
        ).inserted_primary_key[0]
        conn.execute(
            agreements.insert().values(
                id=agreement,
                name=name,
                schema_fingerprint=FINGERPRINT,
                filter_bits=FILTER_BITS,
                segments=[["a", 128], ["b", 128]],
                purposes=["tracing"],
                retention_days=30,
                threshold="auto",
                allow_duplicates=False,
                created_by=creator,
                created_at=now,
            )
        )
        if people is not None:
            conn.execute(
                meta_table.insert().values(
                    scope=agreement,
                    next_case_seq=people,
                    schema_fingerprint=FINGERPRINT,
                    filter_bits=FILTER_BITS,
                )
            )
            conn.execute(
                cases_table.insert(),
                [
                    {"case_id": f"CASE-{p}", "scope": agreement, "seq": p, "confidence": 0.9}
                    for p in range(people)
                ],
            )
        conn.execute(
            records_table.insert(),
            [
                {
                    "scope": agreement,
                    "agency": str(a),
                    "record_ref": f"r{k}",
                    "case_id": str(c),
                    "bloom": cipher.encrypt(
                        f.astype("<u8").tobytes(), registry_aad(agreement, str(a), f"r{k}")
                    ),
                    "confidence": 0.9,
                }
                for k, (f, a, c) in enumerate(zip(filters, names, cases, strict=True))
            ],
        )


def a_run(
    engine: sa.Engine, agreement: str, cipher: FilterCipher, newcomers: np.ndarray
) -> tuple[Registry, RegistryUpdate]:
    """What a run stores: three new records (agency d joins CASE-3 and CASE-4, agency a's
    third opens NEW-1) and CASE-9 absorbing CASE-10, whose records change case."""
    registry = Registry(engine, scope=agreement, create_tables=False, codec=cipher)
    with engine.connect() as conn:
        moved = (
            conn.execute(sa.select(records_table.c.id).where(records_table.c.case_id == "CASE-10"))
            .scalars()
            .all()
        )
    update = RegistryUpdate(
        fingerprint=FINGERPRINT,
        filter_bits=FILTER_BITS,
        new_agencies=np.array(["d", "d", "a"], object),
        new_refs=np.array(["n1", "n2", "n3"], object),
        new_filters=newcomers,
        new_case_ids=np.array(["CASE-3", "CASE-4", "NEW-1"], object),
        new_confidence=np.full(3, 0.9),
        changed_ids=np.array(moved, np.int64),
        changed_case_ids=np.array(["CASE-9"] * len(moved), object),
        changed_confidence=np.full(len(moved), 0.9),
        links=[],
        new_cases=[("NEW-1", 0.9)],
        merges={"CASE-10": "CASE-9"},
        case_confidence={},
    )
    return registry, update


def a_large_run(
    engine: sa.Engine, agreement: str, cipher: FilterCipher, people: np.ndarray
) -> tuple[Registry, RegistryUpdate]:
    """What a run stores when agency d registers every one of ``people`` again, each joining
    the case ``CASE-{p}`` of its person: no record changes case."""
    n = len(people)
    registry = Registry(engine, scope=agreement, create_tables=False, codec=cipher)
    update = RegistryUpdate(
        fingerprint=FINGERPRINT,
        filter_bits=FILTER_BITS,
        new_agencies=np.array(["d"] * n, object),
        new_refs=np.array([f"n{k}" for k in range(n)], object),
        new_filters=people,
        new_case_ids=np.array([f"CASE-{p}" for p in range(n)], object),
        new_confidence=np.full(n, 0.9),
        changed_ids=np.zeros(0, np.int64),
        changed_case_ids=np.zeros(0, object),
        changed_confidence=np.zeros(0),
        links=[],
        new_cases=[],
        merges={},
        case_confidence={},
    )
    return registry, update
