"""The service in process with the publication routes mounted (as service/api/app.py will
mount them), its real parts (SQLite, data keys, audit chain, run executor on the session's
Ray), and a world of agencies, keys and one linked agreement."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

import bloom
from service._admin import bootstrap_agency
from service._settings import Settings
from service.api.app import create_app
from service.api.state import start_services
from tests.service.api.test_routes_in_process import InProcess

PARQUET = {"Content-Type": "application/vnd.apache.parquet"}
ROLES = {
    "north": ("steward", "submitter", "evaluator", "tracer"),
    "south": ("steward", "submitter"),
    "east": ("steward", "submitter"),
}


def make_app(settings: Settings, state: Any) -> Any:
    application = create_app(settings, cipher=state.cipher)
    application.state.service = state
    return application


@pytest.fixture(scope="package")
def service(ray_session, tmp_path_factory) -> Iterator[SimpleNamespace]:
    work: Path = tmp_path_factory.mktemp("console-data")
    settings = Settings(
        database_url=f"sqlite:///{work / 'caselink.db'}",
        state_dir=work / "state",
        data_key_file=work / "keys" / "data-keys",
        ray_num_cpus=1,
        retention_sweep_seconds=3600,
    )
    (work / "keys").mkdir()
    state = start_services(settings)
    client = InProcess(make_app(settings, state))
    keys = {"admin": bootstrap_agency(state.engine, "operators", "admin").api_key}
    try:
        for agency, roles in ROLES.items():
            assert client.call(keys["admin"], "POST", "/v1/agencies", json={"name": agency})
            r = client.call(
                keys["admin"], "POST", f"/v1/agencies/{agency}/keys", json={"role": "steward"}
            )
            keys[f"{agency}-steward"] = r.json()["api_key"]
            for role in roles[1:]:
                r = client.call(
                    keys[f"{agency}-steward"],
                    "POST",
                    f"/v1/agencies/{agency}/keys",
                    json={"role": role},
                )
                assert r.status_code == 201, r.text
                keys[f"{agency}-{role}"] = r.json()["api_key"]
        yield SimpleNamespace(client=client, state=state, keys=keys, settings=settings, work=work)
    finally:
        state.stop()


def new_agreement(
    service: SimpleNamespace,
    schema: bloom.Schema,
    parties: list[str],
    purposes: tuple[str, ...] = ("linkage", "tracing", "evaluation"),
    retention_days: int = 30,
) -> str:
    body = {
        "name": "family tracing",
        "parties": parties,
        "purposes": list(purposes),
        "schema_fingerprint": schema.fingerprint,
        "filter_bits": schema.filter_bits,
        "segments": [{"name": n, "bits": b} for n, b in schema.layout],
        "retention_days": retention_days,
    }
    made = service.client.call(service.keys["north-steward"], "POST", "/v1/agreements", json=body)
    assert made.status_code == 201, made.text
    return made.json()["agreement_id"]


def upload(
    service: SimpleNamespace,
    agreement: str,
    agency: str,
    people: pd.DataFrame,
    schema: bloom.Schema,
    secret: bloom.Secret,
    where: Path,
) -> dict:
    path = bloom.encode(people, schema, secret, agency=agency, id_column="ref").write(
        where / f"{agency}-{agreement}.parquet"
    )
    r = service.client.call(
        service.keys[f"{agency}-submitter"],
        "POST",
        f"/v1/agreements/{agreement}/batches",
        content=path.read_bytes(),
        headers=PARQUET,
    )
    assert r.status_code == 201, r.text
    return r.json()


def run(service: SimpleNamespace, agreement: str, timeout: float = 300.0) -> dict:
    """Start a run and poll it until it has finished (no fixed wait: it ends when it ends)."""
    key = service.keys["north-submitter"]
    started = service.client.call(key, "POST", f"/v1/agreements/{agreement}/runs")
    assert started.status_code == 202, started.text
    path = f"/v1/agreements/{agreement}/runs/{started.json()['run_id']}"
    deadline = time.monotonic() + timeout
    while True:
        found = service.client.call(key, "GET", path).json()
        if found["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            assert found["status"] == "succeeded", found
            return found
        time.sleep(0.2)


@pytest.fixture(scope="package")
def linked(service, person_schema, secret, tmp_path_factory) -> SimpleNamespace:
    """One agreement of north, south and east: north and south uploaded the same four
    people (south's spelt a little differently), east two of them; one run linked them."""
    where = tmp_path_factory.mktemp("batches")
    people = pd.DataFrame(
        {
            "ref": ["p1", "p2", "p3", "p4"],
            "given_name": ["Mohammed", "Amina", "Jonathan", "Olena"],
            "family_name": ["Al-Hassan", "Yusuf", "Smith", "Kovalenko"],
            "father_name": ["Ahmed", None, "Peter", "Ivan"],
            "sex": ["M", "F", "M", "F"],
            "date_of_birth": ["1985-03-12", "1990-01-01", "1979-12-01", "2001-07-01"],
            "place_of_birth": ["Aleppo", "Mogadishu", "Leeds", "Kharkiv"],
        }
    )
    south = people.assign(
        ref=["s1", "s2", "s3", "s4"],
        given_name=["Mohamed", "Aminah", "Jonathon", "Olena"],
    )
    east = people.iloc[:2].assign(ref=["e1", "e2"])
    agreement = new_agreement(service, person_schema, ["south", "east"])
    batches = {
        agency: upload(service, agreement, agency, frame, person_schema, secret, where)
        for agency, frame in (("north", people), ("south", south), ("east", east))
    }
    finished = run(service, agreement)
    return SimpleNamespace(agreement=agreement, batches=batches, run=finished)
