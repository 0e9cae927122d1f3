"""Batch files sent to a linking run's Ray task through the object store, one at a time.

``caselink link --ray-address`` links in a Ray task (:func:`linkage.ray_plan_link`), not in
the command's own process (the Ray driver). :meth:`BatchFiles.put` reads and checks one batch
file at a time, puts the file's bytes (Parquet, as written) into Ray's object store, and lets
the decoded batch go before it reads the next. So the driver holds at most one agency's
filters at a time, and no filter travels as a pickled Python object. The task decodes the
files itself (:meth:`BatchFiles.load`, ``bloom.read_batch`` on the bytes). A problem with a
file is reported by the driver, naming the file, before any task starts.

A registry's state (``caselink link --registry``) is read by the driver and sent with the
files: the registry is a file or a database the driver was given, which a task on another
node might not reach.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bloom
from linkage._registry import RegistryState

__all__ = ["BatchFiles"]


@dataclass(frozen=True)
class BatchFiles:
    """Batch files in Ray's object store, in the order they are linked: a
    :class:`linkage.PlanInputs` for :func:`linkage.ray_plan_link`."""

    names: tuple[str, ...]  # the files' names, for messages
    parts: tuple[Any, ...]  # one Ray object reference to each file's bytes
    state: RegistryState | None = None

    @classmethod
    def put(
        cls, paths: Sequence[str | os.PathLike[str]], state: RegistryState | None = None
    ) -> BatchFiles:
        """Check each file (``bloom.read_batch``: a :class:`bloom.BatchError` names it) and put
        its bytes into the object store, one file at a time. Ray must be running."""
        import ray

        refs = []
        for path in paths:
            data = Path(path).read_bytes()  # read once: checked here, then sent as it is
            bloom.read_batch(data, name=str(path))  # the decoded batch goes before the next
            refs.append(ray.put(data))
        return cls(tuple(Path(p).name for p in paths), tuple(refs), state)

    def load(self) -> tuple[list[bloom.EncodedBatch], RegistryState | None]:
        """In the task: every batch, decoded from its bytes, and the registry's state."""
        import ray

        batches = [
            bloom.read_batch(ray.get(ref), name=name)
            for name, ref in zip(self.names, self.parts, strict=True)
        ]
        return batches, self.state

    def prepare(self, report: Any) -> None:
        """Nothing to do in the task: the driver stores the result where it was asked."""
