"""Large tracing indexes are built in a worker process, off the service's GIL: the index it
sends back answers exactly as one built in the calling thread, on SQLite and on PostgreSQL; a
worker that dies costs no build, and the next large build starts a new one."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import sqlalchemy as sa

from service._db import make_engine, migrate
from service._index import load_index
from service._index_process import shareable_url
from service._index_store import IndexStore
from tests.linkage.test_query_index import _noisy, _registry
from tests.service.query.registries import seed_agreement
from tests.service.servers import make_database

AGREEMENT = "agr_index_process"


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request, tmp_path):
    """A migrated database holding one agreement whose registry has 3 x 120 records, their
    filters sealed under a data-key file as the service stores them; and that file's cipher."""
    from linkage import DataKeyRing
    from linkage.sealing import FilterCipher

    key_file = DataKeyRing.generate().write(tmp_path / "keys" / "data-keys")
    cipher = FilterCipher.from_file(key_file)
    with make_database(request.param, request, tmp_path) as db:
        engine = make_engine(db.url)
        migrate(engine)
        people, filters, names, cases, _ = _registry(120)
        seed_agreement(engine, AGREEMENT, "index process", filters, names, cases, cipher)
        yield engine, people, cipher
        engine.dispose()


def _workers() -> list[multiprocessing.Process]:
    return multiprocessing.active_children()


def test_a_worker_built_index_answers_as_one_built_here(registry):
    engine, people, cipher = registry
    here = load_index(engine, AGREEMENT, codec=cipher)
    store = IndexStore(engine, codec=cipher, process_from=1)  # the worker opens the key file
    try:
        before = {p.pid for p in _workers()}
        there = store.refresh(AGREEMENT).result(300)
        (worker,) = [p for p in _workers() if p.pid not in before]  # built by a new child
        assert os.getpriority(os.PRIO_PROCESS, worker.pid) > os.getpriority(os.PRIO_PROCESS, 0)
        assert there is store.get(AGREEMENT) and there is not here
        np.testing.assert_array_equal(there.filters.filters, here.filters.filters)
        assert there.case_ids.tolist() == here.case_ids.tolist()
        assert there.model.floor == here.model.floor
        q = _noisy(people[[3, 60, 119]], 6, 99)
        assert there.search(q, top_k=3) == here.search(q, top_k=3)
    finally:
        store.shutdown()


def test_the_worker_process_imports_no_part_of_the_web_service():
    """A spawned worker imports the module of ``build_in_worker`` to unpickle the call:
    not the app, the console or Ray with it (``service`` gives its names on first use)."""
    probe = (
        "import sys, service._index_process\n"
        "print(' '.join({m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    web = {"fastapi", "starlette", "jinja2", "uvicorn", "ray", "httpx"}
    assert set(out.stdout.split()).isdisjoint(web)


def test_a_small_registry_is_built_here(registry):
    engine, _, cipher = registry
    store = IndexStore(engine, codec=cipher)  # 360 records: under PROCESS_FROM
    try:
        before = {p.pid for p in _workers()}
        assert store.refresh(AGREEMENT).result(300).records == 360
        # no child started; one an earlier test's pool left exiting may have gone meanwhile
        assert {p.pid for p in _workers()} <= before
    finally:
        store.shutdown()


def test_a_dead_worker_costs_no_build_and_is_replaced(registry):
    engine, _, cipher = registry
    store = IndexStore(engine, codec=cipher, process_from=1)
    try:
        before = {p.pid for p in _workers()}
        store.refresh(AGREEMENT).result(300)
        (worker,) = [p for p in _workers() if p.pid not in before]
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(60)
        assert store.refresh(AGREEMENT).result(300).records == 360  # built here instead
        assert store.refresh(AGREEMENT).result(300).records == 360  # and by a new worker
        assert {p.pid for p in _workers()} - before - {worker.pid}
    finally:
        store.shutdown()


def test_an_in_memory_database_is_not_shared_with_a_worker(tmp_path):
    assert shareable_url(sa.create_engine("sqlite://")) is None
    assert shareable_url(sa.create_engine("sqlite:///:memory:")) is None
    assert shareable_url(None) is None
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert shareable_url(sa.create_engine(url)) == url
