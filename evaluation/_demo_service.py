"""The service half of `caselink demo`: three agencies link through a real caselink service.

A service starts on loopback with a fresh SQLite file. Its operator bootstraps a steward,
who adds three agencies (``unhcr``, ``msf``, ``icrc``) and a data-sharing agreement for the
``person`` schema. Each agency encodes its synthetic register on "its own machine" (here: in
this process, with a secret the service never sees), uploads the batch through the Python
client, one of them starts a linkage run (on Ray, inside the service), and each reads back
what it is allowed to see: its own records' case ids and confidence, and which other agencies
hold the same case. A family-tracing team then asks whether three sought people are known
anywhere, and the steward verifies the audit chain.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

import bloom
from evaluation._metrics import pairwise_scores
from evaluation._synthetic import generate
from service._admin import bootstrap_agency, open_database
from service._process import ServiceProcess
from service.client import Client

__all__ = ["run_service_demo"]

AGENCIES = {"agency-a": "unhcr", "agency-b": "msf", "agency-c": "icrc"}
TRACER = "tracing-team"
ABSENT = {
    "given_name": "Zainab",
    "family_name": "Okonkwo-Lindqvist",
    "father_name": "Emeka",
    "sex": "F",
    "date_of_birth": "1931-03-14",
    "place_of_birth": "Reykjavik",
}


def _encode(data, work: Path, secret: bloom.Secret, schema: bloom.Schema) -> dict[str, Path]:
    paths = {}
    for source, agency in AGENCIES.items():
        batch = bloom.encode(
            data.agencies[source], schema, secret, agency=agency, id_column="record_ref"
        )
        paths[agency] = batch.write(work / f"{agency}.parquet")
    return paths


def _setup(
    url: str, admin_key: str, steward_key: str, schema: bloom.Schema
) -> tuple[str, dict[str, str]]:
    """The operator (admin key) adds the agencies and their keys; the coordinating agency's
    steward sets up the agreement. Returns the agreement id and each agency's key."""
    keys = {}
    with Client(url, admin_key) as admin:
        for agency in AGENCIES.values():
            admin.create_agency(agency)
            keys[agency] = admin.create_key(agency, "submitter")["api_key"]
        admin.create_agency(TRACER)
        keys[TRACER] = admin.create_key(TRACER, "tracer")["api_key"]
    with Client(url, steward_key) as st:
        agreement = st.create_agreement(
            name="demo: registration, health and tracing",
            parties=[*AGENCIES.values(), TRACER],
            purposes=["linkage", "family-tracing"],
            schema_fingerprint=schema.fingerprint,
            filter_bits=schema.filter_bits,
            segments=schema.layout,
            retention_days=365,
        )
    return agreement["agreement_id"], keys


def _trace(console: Console, url: str, agreement_id: str, key: str, data, secret, schema) -> None:
    """The tracing team asks about three sought people: two registered, one nobody holds."""
    cols = ["given_name", "family_name", "father_name", "sex", "date_of_birth", "place_of_birth"]
    sought = pd.concat([data.people[cols].head(2), pd.DataFrame([ABSENT])], ignore_index=True)
    sought.insert(0, "ref", ["sought-1", "sought-2", "sought-3 (nobody holds)"])
    batch = bloom.encode(sought, schema, secret, agency=TRACER, id_column="ref")
    with Client(url, key) as c:
        answer = c.query(agreement_id, batch_bytes(batch), purpose="family-tracing", top_k=2)
    table = Table(
        "sought",
        "case id",
        "confidence",
        "agencies holding a record",
        title="a family-tracing team asks: is this person known anywhere?",
    )
    for result in answer["results"]:
        for hit in result["candidates"] or [None]:
            table.add_row(
                result["query_ref"],
                hit["case_id"] if hit else "-",
                f"{hit['confidence']:.3f}" if hit else "-",
                ", ".join(hit["agencies"]) if hit else "not known",
            )
    console.print(table)


def batch_bytes(batch: bloom.EncodedBatch) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return batch.write(Path(tmp) / "query.parquet").read_bytes()


def _views(url: str, agreement_id: str, keys: dict[str, str]) -> dict[str, pd.DataFrame]:
    views = {}
    for agency, key in keys.items():
        with Client(url, key) as c:
            views[agency] = pd.DataFrame(list(c.iter_cases(agreement_id)))
    return views


def _show(console: Console, views: dict[str, pd.DataFrame], truth: pd.DataFrame) -> float:
    table = Table(title="what each agency sees (its own records only)")
    for col in ("agency", "records", "in a case with another agency", "mean confidence"):
        table.add_column(col, justify="left" if col == "agency" else "right")
    for agency, v in views.items():
        shared = int((v["other_agencies"].str.len() > 0).sum())
        table.add_row(agency, f"{len(v):,}", f"{shared:,}", f"{v['confidence'].mean():.3f}")
    console.print(table)
    first = next(iter(views))
    sample = views[first][views[first]["other_agencies"].str.len() == 2].head(5)
    console.print(f"[bold]{first}[/bold]'s first records held by both other agencies:")
    console.print(
        sample.assign(other_agencies=sample["other_agencies"].str.join(", ")).to_string(index=False)
    )
    seen = pd.concat([v.assign(agency=a) for a, v in views.items()], ignore_index=True)
    truth = truth.assign(agency=truth["agency"].map(AGENCIES))
    merged = seen.merge(truth, on=["agency", "record_ref"], how="left")
    return pairwise_scores(merged["case_id"].to_numpy(), merged["entity_id"].to_numpy()).f1


def run_service_demo(workdir: Path, console: Console, people: int = 2000) -> dict[str, float]:
    """Run the three-agency flow through a real service; returns F1 and audit figures."""
    work = workdir / "service"
    work.mkdir(parents=True, exist_ok=True)
    db = work / "caselink.db"
    for stale in (db, work / "caselink.db-wal", work / "caselink.db-shm"):
        stale.unlink(missing_ok=True)
    url_db = f"sqlite:///{db.resolve()}"
    engine = open_database(url_db)
    admin = bootstrap_agency(engine, "operator", "admin").api_key
    steward = bootstrap_agency(engine, "coordination", "steward").api_key
    engine.dispose()
    schema, secret = bloom.Schema.load("person"), bloom.Secret.generate()
    data = generate(people, 3, seed=int(np.random.default_rng().integers(1 << 30)))
    with console.status("starting the caselink service (SQLite, Ray)"):
        svc = ServiceProcess(url_db, log=work / "service.log").start()
    try:
        agreement_id, keys = _setup(svc.url, admin, steward, schema)
        paths = _encode(data, work, secret, schema)
        for agency, path in paths.items():  # each agency with its own key
            with Client(svc.url, keys[agency]) as c:
                c.upload(agreement_id, path)
        with Client(svc.url, keys["unhcr"]) as c, console.status("linking on the service"):
            run = c.wait_run(agreement_id, c.start_run(agreement_id)["run_id"], poll=0.5)
        if run["status"] != "succeeded":
            raise RuntimeError(f"the demo run failed: {run['error']}")
        views = {a: k for a, k in keys.items() if a != TRACER}
        f1 = _show(console, _views(svc.url, agreement_id, views), data.truth)
        _trace(console, svc.url, agreement_id, keys[TRACER], data, secret, schema)
        with Client(svc.url, steward) as st:
            check = st.verify_audit(agreement_id)
    finally:
        svc.stop()
    console.print(
        f"linkage run: {run['stats']['new_records']:,} records, "
        f"{run['stats']['links_accepted']:,} links; pairwise F1 against the synthetic "
        f"truth (which the service never saw): {f1:.4f}"
    )
    console.print(
        f"audit chain of {agreement_id}: {check['entries']} entries, "
        f"{'intact' if check['ok'] else 'BROKEN'}; service log in {work}/service.log"
    )
    return {"f1": f1, "audit_entries": check["entries"], "audit_ok": float(check["ok"])}
