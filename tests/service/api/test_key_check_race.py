"""Two first uploads to one agreement at once, encoded with different secrets: exactly one
secret becomes the agreement's key check value, and the other upload is refused whole.

An agreement whose steward gave no key check value takes the value of its first accepted
batch (:mod:`service._batches`). Each upload reads the agreement before it receives its
body, so two first uploads may both see no value yet; the one that stores second must then
find the value the other stored (``settle_once``: ``UPDATE ... WHERE key_check IS NULL``,
then a re-read) and be refused as encoded with another secret — not overwrite it, not be
stored beside it.

The interleaving is made, not hoped for, with the fault point ``upload.received``
(:mod:`service._faults`): agency-a's upload is held there — it has read the agreement (no
value yet) and received its body, nothing of it is stored — while agency-b's, with the
other secret, is stored whole; then the point lets agency-a's go on (``Faults.release``, as
the service's stop does). The app runs in this process (its real parts, on SQLite and on
PostgreSQL), which is what lets the test release the point while the held request is still
open: a ``caselink serve`` would wait for that request before it stopped.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import bloom
from service._admin import bootstrap_agency
from service._settings import Settings
from service._tables import agencies, audit_entries, batch_records, batches
from service.api.app import create_app
from service.api.state import ServiceState, start_services
from tests.service.console.inprocess import call
from tests.service.servers import BACKENDS, PLANTED, agreement_body, make_database

HELD = "fault point upload.received: holding here"
WAIT_S = 120.0  # a cap on waiting for the held upload to reach its point; never a sleep


@dataclass
class Site:
    app: Any
    state: ServiceState
    engine: sa.Engine
    faults: Path
    keys: dict[str, str]  # "steward", "agency-a", "agency-b"


@pytest.fixture(params=BACKENDS)
def site(request, ray_session, tmp_path) -> Iterator[Site]:
    """The app on a fresh database of each backend, its fault points read from a file."""
    (tmp_path / "keys").mkdir()
    with make_database(request.param, request, tmp_path) as db:
        settings = Settings(
            database_url=db.url,
            state_dir=tmp_path / "state",
            data_key_file=tmp_path / "keys" / "data-keys",
            upload_dir=tmp_path / "uploads",
            ray_num_cpus=1,
            retention_sweep_seconds=3600,
            test_faults_file=tmp_path / "faults",
        )
        state = start_services(settings)
        try:
            app = create_app(settings, cipher=state.cipher)
            app.state.service = state
            admin = bootstrap_agency(state.engine, "operators", "admin").api_key
            keys = {
                "steward": _agency_key(app, admin, "coordinator", "steward"),
                "agency-a": _agency_key(app, admin, "agency-a", "submitter"),
                "agency-b": _agency_key(app, admin, "agency-b", "submitter"),
            }
            yield Site(app, state, db.engine, tmp_path / "faults", keys)
        finally:
            state.stop()


def _agency_key(app: Any, admin: str, agency: str, role: str) -> str:
    assert call(app, "POST", "/v1/agencies", admin, json={"name": agency}).status_code == 201
    r = call(app, "POST", f"/v1/agencies/{agency}/keys", admin, json={"role": role})
    assert r.status_code == 201, r.text
    return str(r.json()["api_key"])


def _upload(site: Site, agreement_id: str, agency: str, body: bytes) -> httpx.Response:
    return call(
        site.app,
        "POST",
        f"/v1/agreements/{agreement_id}/batches",
        site.keys[agency],
        content=body,
        headers={"Content-Type": "application/vnd.apache.parquet"},
    )


class _Seen(logging.Handler):
    """Sets ``held`` when the service logs that an upload is held at its fault point."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.held = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(HELD):
            self.held.set()


def test_two_first_uploads_with_different_secrets_at_once_store_one_secret(
    site, person_schema, secret, other_secret, tmp_path
):
    body = agreement_body(person_schema, ["agency-a", "agency-b"], name="first at once")
    made = call(site.app, "POST", "/v1/agreements", site.keys["steward"], json=body)
    assert made.status_code == 201, made.text
    agreement_id = made.json()["agreement_id"]
    assert made.json()["key_check"] is None
    encoded = {}
    for agency, key in (("agency-a", other_secret), ("agency-b", secret)):
        df = PLANTED.assign(record_ref=[f"{agency}-{j}" for j in range(len(PLANTED))])
        path = tmp_path / f"{agency}.parquet"
        bloom.encode(df, person_schema, key, agency=agency, id_column="record_ref").write(path)
        encoded[agency] = path.read_bytes()
    held_check, winning_check = bloom.key_check_value(other_secret), bloom.key_check_value(secret)

    seen = _Seen()
    faults_log = logging.getLogger("service._faults")
    faults_log.addHandler(seen)
    site.faults.write_text("pause upload.received\n")
    answers: dict[str, httpx.Response] = {}

    def held_upload() -> None:
        answers["agency-a"] = _upload(site, agreement_id, "agency-a", encoded["agency-a"])

    first = threading.Thread(target=held_upload)
    first.start()
    try:
        assert seen.held.wait(WAIT_S), "agency-a's upload never reached upload.received"
        site.faults.unlink()  # agency-b's upload passes the point
        answers["agency-b"] = _upload(site, agreement_id, "agency-b", encoded["agency-b"])
    finally:
        site.state.faults.release()  # agency-a's upload goes on
        first.join(WAIT_S)
        faults_log.removeHandler(seen)
    assert not first.is_alive(), "agency-a's upload did not finish once released"

    stored, refused = answers["agency-b"], answers["agency-a"]
    assert stored.status_code == 201, stored.text
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "wrong_secret"
    (problem,) = refused.json()["problems"]
    assert problem.startswith("metadata/key_check") and held_check in problem
    assert winning_check in problem  # the agreement's value, as agency-b's batch set it

    r = call(site.app, "GET", f"/v1/agreements/{agreement_id}", site.keys["steward"])
    assert r.json()["key_check"] == winning_check
    a = agencies.c
    with site.engine.connect() as conn:
        ids = dict(conn.execute(sa.select(a.name, a.id)).all())
        kept = conn.execute(
            sa.select(batches.c.id, batches.c.agency_id, batches.c.key_check).where(
                batches.c.agreement_id == agreement_id
            )
        ).all()
        refs = conn.execute(
            sa.select(batch_records.c.agency_id, batch_records.c.record_ref).where(
                batch_records.c.agreement_id == agreement_id
            )
        ).all()
        uploads = conn.execute(
            sa.select(audit_entries.c.actor, audit_entries.c.outcome, audit_entries.c.details)
            .where(audit_entries.c.scope == agreement_id, audit_entries.c.action == "batch.upload")
            .order_by(audit_entries.c.seq)
        ).all()
    assert [(k.id, k.agency_id, k.key_check) for k in kept] == [
        (stored.json()["batch_id"], ids["agency-b"], winning_check)
    ]
    assert sorted(refs) == sorted((ids["agency-b"], f"agency-b-{j}") for j in range(len(PLANTED)))
    assert [(u.actor, u.outcome) for u in uploads] == [
        ("agency-b", "ok"),
        ("agency-a", "wrong_secret"),
    ]
    assert json.loads(uploads[1].details) == {"status": 422}
    assert not any((tmp_path / "uploads").iterdir())  # no body left behind
