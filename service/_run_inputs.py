"""A run's inputs, read by the run's own Ray task instead of the service process.

Before a run can link, its pending batches and the agreement's whole registry are read from
the database and every filter is opened (decrypted): seconds of work per 100,000 records,
nearly all of it holding the interpreter's lock. Done in the service process, it slowed
every request answered meanwhile. :class:`RunInputs` carries only ids and where to read them
— the database URL and the path of the data-key file, never a key — so the task reads and
opens the filters itself, links, and seals the new records' filters before it returns
(:class:`linkage.PlanInputs`). The service then only writes the result.

This needs a database the task's process can open (:func:`inputs_url`): a SQLite file with a
local Ray, or a database server. A ring given only in memory (``CASELINK_DATA_KEYS``) keeps
the reading in the service process, so that no key leaves it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

import bloom
import linkage
from linkage.sealing import FilterCodec

# Imported with this module, which a run's task imports to unpickle its RunInputs: before the
# run's memory budget applies (linkage's memory_budget), not inside it, where a module loaded
# for the first time failed as the budget's cause did not (a SystemError of an extension
# module's set-up under a 1 MiB budget, on PostgreSQL, once ``service`` stopped importing
# all of itself).
from service._batches import load_batch
from service._db import make_engine, reader_engine
from service._index_process import shareable_url
from service._tables import agencies, batches

__all__ = ["RunInputs", "inputs_url"]


def inputs_url(engine: sa.Engine, codec: FilterCodec | None, local_ray: bool) -> str | None:
    """The URL a run's task may read from, or ``None`` where it must not or cannot."""
    if codec is not None and getattr(codec, "path", None) is None:
        return None  # the keys live only in this process
    if engine.dialect.name == "sqlite" and not local_ray:
        return None  # a file on this machine; the task may run on another
    return shareable_url(engine)


@functools.cache
def _engine(url: str) -> sa.Engine:
    return reader_engine(make_engine(url))


@functools.cache
def _codec(key_file: str | None) -> FilterCodec | None:
    return linkage.FilterCipher.from_file(key_file) if key_file is not None else None


@dataclass(frozen=True)
class RunInputs:
    """The batches of one run and the registry they join, named by id."""

    url: str
    key_file: str | None
    agreement_id: str
    fingerprint: str
    batch_ids: tuple[str, ...]  # in the order the run links them

    def _registry(self) -> linkage.Registry:
        engine = _engine(self.url)
        return linkage.Registry(
            engine,
            scope=self.agreement_id,
            create_tables=False,
            codec=_codec(self.key_file),
            reader=engine,
        )

    def load(self) -> tuple[Sequence[bloom.EncodedBatch], linkage.RegistryState]:
        b = batches.c
        with _engine(self.url).connect() as conn:
            rows = conn.execute(
                sa.select(batches, agencies.c.name.label("agency"))
                .join(agencies, agencies.c.id == b.agency_id)
                .where(b.id.in_(self.batch_ids))
            ).all()
            by_id = {r.id: r for r in rows}
            loaded = [
                load_batch(
                    conn, by_id[i], by_id[i].agency, self.fingerprint, codec=_codec(self.key_file)
                )
                for i in self.batch_ids
            ]
        return loaded, self._registry().state()

    def prepare(self, report: linkage.LinkReport) -> None:
        if report.update is not None:
            self._registry().prepare(report.update)
