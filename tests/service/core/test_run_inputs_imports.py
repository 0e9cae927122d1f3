"""A run's task reads its inputs itself (:mod:`service._run_inputs`) inside the run's memory
budget; what it reads them with must be imported before the budget applies. The task imports
``service._run_inputs`` to unpickle its :class:`RunInputs`, outside the budget; a module of
ours first imported inside it failed as something else than the budget (a SystemError of an
extension module's set-up under a 1 MiB budget, on PostgreSQL, once ``service`` gave its
names on first use and no longer imported all of itself with ``service._run_inputs``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import service._run_inputs
from evaluation._bench_startup import packages, probe_once


@pytest.fixture(scope="module")
def unpickled() -> set[str]:
    """Every module a fresh interpreter holds once it has unpickled a run's inputs, as the
    run's task does (one interpreter for the tests that read it)."""
    return probe_once(
        "import pickle\n"
        "from service._run_inputs import RunInputs\n"
        "pickle.loads(pickle.dumps(RunInputs('sqlite://', None, 'agr', 'fp', ('b',))))\n"
    )[1]


def test_unpickling_the_inputs_imports_every_module_the_load_reads_with(unpickled):
    assert {"service._batches", "service._db", "service._tables"} <= unpickled


def test_a_runs_task_does_not_import_the_migrations_tool(unpickled):
    """Alembic (about 0.17 s of a fresh worker's imports) only migrates; a run's task reads
    through service._db and never migrates, so unpickling its inputs leaves Alembic out."""
    assert "alembic" not in packages(unpickled)
    assert "sqlalchemy" in packages(unpickled)  # the probe saw the module's own imports


def test_the_inputs_module_imports_nothing_in_its_functions():
    """An import inside a function would run inside the budget: every import is at the top."""
    tree = ast.parse(Path(service._run_inputs.__file__).read_text(encoding="utf-8"))
    inside = [
        f"{fn.name}: line {node.lineno}"
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(fn)
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert inside == []
