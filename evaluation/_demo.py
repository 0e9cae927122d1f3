"""`caselink demo`: the main job end to end on embedded data.

FEBRL4's two halves play two agencies. Each encodes its register locally with the shipped
``febrl`` schema and a fresh secret, through the same streaming path as ``caselink encode``;
the batches are then linked offline with a case registry, as ``caselink link`` does, and the
result is scored against FEBRL's ground truth (which caselink itself never sees).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

import bloom
from evaluation._datasets import load_febrl4
from evaluation._demo_service import run_service_demo
from evaluation._metrics import pairwise_scores
from linkage import Registry, link

__all__ = ["run_demo"]


def run_demo(workdir: str | Path = "demo-out") -> dict[str, float]:
    console = Console()
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    data = load_febrl4()
    secret = bloom.Secret.generate()
    secret.write(work / "secret.key", overwrite=True)
    schema = bloom.Schema.load("febrl")
    batches = {}
    with Progress(console=console, transient=True) as progress:
        for agency, frame in (("agency-a", data.a), ("agency-b", data.b)):
            csv = work / f"{agency}.csv"
            frame.to_csv(csv, index=False)
            task = progress.add_task(f"encoding {agency}", total=csv.stat().st_size)
            out = work / f"{agency}.parquet"
            bloom.encode_csv(
                csv,
                schema,
                secret,
                agency=agency,
                out=out,
                id_column="record_ref",
                on_progress=lambda done, total, t=task: progress.update(t, completed=done),
            )
            batches[agency] = bloom.read_batch(out)
    registry_path = work / "registry.sqlite"
    registry_path.unlink(missing_ok=True)
    with console.status("linking the two agencies"):
        report = link(list(batches.values()), registry=Registry.open(registry_path))
    out = report.assignments
    out.to_csv(work / "cases.csv", index=False)
    entity = out["record_ref"].str.split("-").str[1].to_numpy()
    scores = pairwise_scores(out["case_id"].to_numpy(), entity)

    table = Table(title="caselink demo: FEBRL4 encoded by two agencies, linked offline")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("schema fingerprint", schema.fingerprint[:23] + "…")
    for name, batch in batches.items():
        table.add_row(f"{name} records encoded", f"{len(batch):,}")
    table.add_row("cases", f"{out['case_id'].nunique():,}")
    table.add_row("automatic threshold (match probability)", f"{report.threshold:.3f}")
    table.add_row("precision (pairs)", f"{scores.precision:.4f}")
    table.add_row("recall (pairs)", f"{scores.recall:.4f}")
    table.add_row("F1 (pairs)", f"{scores.f1:.4f}")
    console.print(table)
    console.print(out.head(6).to_string(index=False))
    console.print(
        f"cases.csv, the registry, the batches and the demo secret are in {work}/ "
        f"(try `caselink inspect {work}/agency-a.parquet`)"
    )
    console.rule("the same job through the caselink service")
    service = run_service_demo(work, console)
    return {
        "precision": scores.precision,
        "recall": scores.recall,
        "f1": scores.f1,
        "service_f1": service["f1"],
    }
