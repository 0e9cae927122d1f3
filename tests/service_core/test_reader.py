"""A request's key lookup is a pure read: on SQLite it must not queue behind a writer.

Every transaction of the service's own engine starts with ``BEGIN IMMEDIATE``; with the
lookup on that engine each request waited for whoever held the write lock — a run's registry
commit, an upload — and past the pool's wait it was a 500 (measured by ``--only load``). Here
another connection holds the write lock while a request is answered; without the plain reader
the request would wait for the lock (60 s busy timeout), and the client's bound of 45 s fails
the test rather than any figure of speed.
"""

from __future__ import annotations

import sqlite3

import httpx

from service import ServiceProcess
from service._admin import bootstrap_agency, open_database


def test_the_key_lookup_answers_while_a_writer_holds_the_lock(tmp_path):
    path = tmp_path / "caselink.db"
    url = f"sqlite:///{path}"
    engine = open_database(url)
    key = bootstrap_agency(engine, "operator", "admin").api_key
    engine.dispose()
    env = {"CASELINK_RAY_NUM_CPUS": "1", "CASELINK_RAY_OBJECT_STORE_MB": "100",
           "CASELINK_DATA_KEY_FILE": str(tmp_path / "keys" / "data-keys")}  # fmt: skip
    with ServiceProcess(url, log=tmp_path / "service.log", env=env) as svc:
        writer = sqlite3.connect(path, isolation_level=None, timeout=60)
        try:
            writer.execute("BEGIN IMMEDIATE")  # the write lock, held
            writer.execute("UPDATE agencies SET name = name")
            r = httpx.get(f"{svc.url}/v1/me", headers={"Authorization": f"Bearer {key}"},
                          timeout=45)  # fmt: skip
        finally:
            writer.execute("ROLLBACK")
            writer.close()
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "admin"
