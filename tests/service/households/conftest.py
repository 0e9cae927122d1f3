"""A real server with households and consent, on SQLite and on PostgreSQL.

One ``caselink serve`` per backend (the machinery of ``tests/service/servers.py``), its own
database. On it, the ``households`` world (package-scoped):

* agreement **families**: three agencies holding the registers of
  :func:`evaluation.generate_households` (household ids, relationships, consent), plus a
  register of agency-c without any of those columns, all linked by a first run; no purpose
  needs a consent scope;
* agreement **consent**: purposes ``tracing`` and ``coordination`` each need the scope of
  the same name (``research`` none); synthetic background registers without consent, and the
  planted people of :data:`CONSENT_PEOPLE`, held by agency-b only (``Q*``) or by agency-a
  (saying nothing of consent) and agency-b (``S*``), with agency-b's consent as each one's
  ``consent`` says (``None``: in a batch without a consent column). Linked by a first run.

Tracer keys are agency-c's; submitter keys each agency's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

import bloom
from service.client import Client
from tests.service import loopback
from tests.service.query.conftest import bootstrap_steward
from tests.service.servers import AGENCIES, Database, Server, agreement_body, make_database

HOUSEHOLD_ENV = {
    "CASELINK_QUERY_BURST": "5000",
    "CASELINK_QUERY_RATE_PER_MINUTE": "2",
    "CASELINK_QUERY_TOP_K_MAX": "10",
    "CASELINK_MAX_UPLOAD_MB": "4",
}
CONSENT_PURPOSES = ["linkage", "tracing", "coordination", "research", "evaluation"]
SCOPES = {"tracing": "tracing", "coordination": "coordination"}
_PEOPLE = [  # given, family, father, sex, date of birth, place of birth: one of a kind each
    ("Aurelio", "Maksimovic-Tanaka", "Desmond", "M", "1966-03-14", "Mombasa"),
    ("Florentyna", "Okafor-Lindgren", "Bartholomew", "F", "1979-09-02", "Tromso"),
    ("Evangelos", "Nakamura-Obi", "Cyprian", "M", "1983-12-19", "Arequipa"),
    ("Philippa", "Abernathy-Kowalczyk", "Ezekiel", "F", "1991-06-27", "Gdansk"),
    ("Thaddeus", "Villanueva-Eriksen", "Ambrose", "M", "1958-01-08", "Cusco"),
    ("Gwendolyn", "Oyelaran-Petrov", "Lucian", "F", "1974-04-30", "Kazan"),
    ("Casimir", "Delacroix-Mbeki", "Horatio", "M", "1987-10-11", "Lyon"),
    ("Isadora", "Fitzgerald-Achebe", "Rupert", "F", "1969-08-21", "Enugu"),
    ("Maximilian", "Haddad-Solberg", "Octavian", "M", "1995-02-03", "Bergen"),
    ("Ottilie", "Ramanathan-Voss", "Sebastian", "F", "1962-11-15", "Madurai"),
    ("Leopoldine", "Cardoso-Wojcik", "Aloysius", "F", "1981-05-09", "Porto"),
    ("Severin", "Muthoni-Castellano", "Benedikt", "M", "1977-07-16", "Nyeri"),
    ("Anastasia", "Bjornsdottir-Mensah", "Valentin", "F", "1990-03-25", "Akureyri"),
    ("Cornelius", "Takahashi-Dube", "Fabian", "M", "1985-12-01", "Bulawayo"),
]
# name -> agency-b's consent (None: a batch without a consent column); Q*: agency-b only,
# S*: agency-a too. QX/SX have their consent changed by the tests; QP comes in a later run.
CONSENT_PEOPLE: dict[str, str | None] = {
    "QN": None,
    "QE": "",
    "QT": "tracing",
    "QC": "coordination",
    "QB": "coordination tracing",
    "SN": None,
    "SE": "",
    "ST": "tracing",
    "SC": "coordination",
    "QX": "tracing",
    "SX": "tracing",
    "QY": "tracing",
    "QP": "tracing",
}
LATER = ("QP",)  # uploaded after the first run


def person(name: str) -> pd.DataFrame:
    """The planted person ``name`` as a one-row register (no ref)."""
    given, family, father, sex, dob, place = _PEOPLE[list(CONSENT_PEOPLE).index(name)]
    return pd.DataFrame(
        {
            "given_name": [given],
            "family_name": [family],
            "father_name": [father],
            "sex": [sex],
            "date_of_birth": [dob],
            "place_of_birth": [place],
        }
    )


def ref_of(name: str, agency: str) -> str:
    return f"{agency[-1].upper()}-{name}"


@dataclass
class Households:
    server: Server
    db: Database
    admin: Client
    schema: bloom.Schema
    secret: bloom.Secret
    keys: dict[str, str]  # agency -> submitter key
    tracer: str  # a tracer key of agency-c
    workdir: Path
    families_id: str = ""
    consent_id: str = ""
    data: object = None  # evaluation.HouseholdData of the families agreement
    plain: pd.DataFrame = field(default_factory=pd.DataFrame)  # agency-c's register without
    cases: dict[str, str] = field(default_factory=dict)  # consent world: agency-b ref -> case

    def client(self, agency: str) -> Client:
        return self.server.client(self.keys[agency])

    def encode(self, df: pd.DataFrame, agency: str, name: str) -> Path:
        path = self.workdir / f"{name}.parquet"
        bloom.encode(df, self.schema, self.secret, agency=agency, id_column="record_ref").write(
            path
        )
        return path

    def upload(self, agreement_id: str, df: pd.DataFrame, agency: str, name: str) -> dict:
        with self.client(agency) as c:
            return c.upload(agreement_id, self.encode(df, agency, name))

    def run(self, agreement_id: str) -> dict:
        with self.client("agency-a") as c:
            run = c.wait_run(agreement_id, c.start_run(agreement_id)["run_id"], timeout=300)
        assert run["status"] == "succeeded", run
        return run

    def query(
        self, agreement_id: str, body: bytes, purpose: str = "tracing", **params
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tracer}", "X-Caselink-Purpose": purpose}
        url = f"{self.server.url}/v1/agreements/{agreement_id}/queries"
        return loopback.post(url, content=body, headers=headers, params=params, timeout=120)

    def rows(self, query: sa.Select) -> list[dict]:
        with self.db.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def households_db(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Database]:
    where = tmp_path_factory.mktemp(f"households-{request.param}")
    with make_database(request.param, request, where) as db:
        yield db


@pytest.fixture(scope="package")
def households(
    households_db: Database, person_schema, secret, tmp_path_factory, ray_session
) -> Iterator[Households]:
    workdir = tmp_path_factory.mktemp(f"households-{households_db.kind}")
    server = Server(
        households_db, workdir, name="households", ray=ray_session.address, **HOUSEHOLD_ENV
    )
    try:
        server.launch()
        server.wait_migrated()
        admin_key = bootstrap_steward(households_db.url, "steward", "admin")
        server.wait_ready()
        with server.client(admin_key) as admin:
            world = _world(server, households_db, admin, person_schema, secret, workdir)
            _families(world)
            _consent(world)
            yield world
    finally:
        server.cleanup()


def _world(server, db, admin: Client, schema, secret, workdir) -> Households:
    for agency in AGENCIES:
        admin.create_agency(agency)
    keys = {a: admin.create_key(a, "submitter")["api_key"] for a in AGENCIES}
    tracer = admin.create_key("agency-c", "tracer")["api_key"]
    keys["steward"] = admin.create_key("steward", "steward")["api_key"]
    return Households(server, db, admin, schema, secret, keys, tracer, workdir)


def _families(world: Households) -> None:
    from evaluation import generate_households, generate_synthetic

    with world.client("steward") as steward:
        body = agreement_body(world.schema, list(AGENCIES), name="families")
        world.families_id = steward.create_agreement(**body)["agreement_id"]
    world.data = data = generate_households(400, 3, seed=5)
    for agency, register in data.agencies.items():
        world.upload(world.families_id, register, agency, f"families-{agency}")
    plain = generate_synthetic(40, 1, seed=3).agencies["agency-a"]
    world.plain = plain.assign(record_ref=[f"PLAIN-{k:03d}" for k in range(len(plain))])
    world.upload(world.families_id, world.plain, "agency-c", "families-plain")
    world.run(world.families_id)


def _consent_registers() -> dict[str, list[pd.DataFrame]]:
    """Per agency, its batches: agency-b's first without a consent column, its second with."""
    from evaluation import generate_synthetic

    background = generate_synthetic(150, 3, seed=11).agencies
    said = [n for n, c in CONSENT_PEOPLE.items() if c is not None and n not in LATER]
    unsaid = [n for n, c in CONSENT_PEOPLE.items() if c is None]
    shared = [n for n in CONSENT_PEOPLE if n.startswith("S")]

    def planted(names: list[str], agency: str, consent: bool = False) -> pd.DataFrame:
        rows = [person(n).assign(record_ref=ref_of(n, agency)) for n in names]
        df = pd.concat(rows, ignore_index=True)
        return df.assign(consent=[CONSENT_PEOPLE[n] for n in names]) if consent else df

    return {
        "agency-a": [pd.concat([background["agency-a"], planted(shared, "agency-a")])],
        "agency-b": [
            pd.concat([background["agency-b"], planted(unsaid, "agency-b")]),
            planted(said, "agency-b", consent=True),
        ],
        "agency-c": [background["agency-c"]],
    }


def _consent(world: Households) -> None:
    with world.client("steward") as steward:
        body = agreement_body(world.schema, list(AGENCIES), name="consent")
        body |= {"purposes": CONSENT_PURPOSES, "purpose_scopes": SCOPES}
        world.consent_id = steward.create_agreement(**body)["agreement_id"]
    for agency, frames in _consent_registers().items():
        for k, df in enumerate(frames):
            world.upload(world.consent_id, df.reset_index(drop=True), agency, f"c-{agency}-{k}")
    world.run(world.consent_id)
    with world.client("agency-b") as c:
        world.cases = {r["record_ref"]: r["case_id"] for r in c.iter_cases(world.consent_id)}
