"""Fixtures of the lifecycle tests: registries on SQLite and PostgreSQL, and real servers.

Registries are scoped by a fresh uuid (PostgreSQL) or live in their own SQLite file. The
servers are ``caselink serve`` subprocesses (the machinery of ``tests/service/conftest.py``),
one per backend for this package, so withdrawals and purges here never disturb the shared
world of ``tests/service``.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from linkage._registry import Registry, RegistryUpdate, metadata


@pytest.fixture(params=["sqlite", "postgresql"])
def make_registry(request, tmp_path):
    """A factory of empty registries on SQLite and on PostgreSQL (each in its own scope)."""
    if request.param == "sqlite":
        yield lambda: Registry.open(tmp_path / f"{uuid.uuid4().hex}.sqlite")
        return
    engine = request.getfixturevalue("postgres_engine")
    scopes: list[str] = []

    def make() -> Registry:
        scopes.append(f"test-{uuid.uuid4().hex}")
        return Registry(engine, scope=scopes[-1])

    yield make
    with engine.begin() as c:
        for table in metadata.sorted_tables:
            c.execute(table.delete().where(table.c.scope.in_(scopes)))


def planted_update(
    records: list[tuple[str, str, str]],
    links: list[tuple[int, int, float]],
    confidence: dict[str, float] | None = None,
) -> RegistryUpdate:
    """A registry update inserting ``records`` (agency, ref, case id) with ``links`` between
    their positions — the shape of what a linking run stores, built by hand."""
    n = len(records)
    cases = list(dict.fromkeys(c for _, _, c in records))
    conf = confidence or {}
    return RegistryUpdate(
        fingerprint="blake3:" + "0" * 64,
        filter_bits=64,
        new_agencies=np.array([a for a, _, _ in records], dtype=object),
        new_refs=np.array([r for _, r, _ in records], dtype=object),
        new_filters=np.arange(1, n + 1, dtype=np.uint64).reshape(n, 1),
        new_case_ids=np.array([c for _, _, c in records], dtype=object),
        new_confidence=np.array([conf.get(r, 0.9) for _, r, _ in records]),
        changed_ids=np.zeros(0, np.int64),
        changed_case_ids=np.zeros(0, object),
        changed_confidence=np.zeros(0),
        links=[(-1 - a, -1 - b, p) for a, b, p in links],
        new_cases=[(c, 0.9) for c in cases],
        merges={},
        case_confidence={},
    )
