"""`caselink link`: link encoded batches offline into case ids with calibrated confidence."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

if TYPE_CHECKING:  # a name of its own: _cipher imports FilterCipher when it runs
    from linkage.sealing import FilterCipher as _FilterCipher

__all__ = ["register"]

console = Console(stderr=True, soft_wrap=True)


def _threshold(value: str) -> float | str:
    if value == "auto":
        return value
    try:
        t = float(value)
    except ValueError:
        raise typer.BadParameter("use 'auto' or a probability such as 0.8") from None
    if not 0 < t <= 1:
        raise typer.BadParameter("a probability threshold must be in (0, 1]")
    return t


def _cipher(path: Path | None) -> _FilterCipher | None:
    """The cipher of ``--data-key-file``; a file that is not there is made with a new key."""
    from linkage._datakeys import DataKeyRing
    from linkage.sealing import FilterCipher

    if path is None:
        return None
    if not path.exists():
        DataKeyRing.generate().write(path, exclusive=True)
        console.print(f"made a new data key in {path}; back it up apart from the registry")
    return FilterCipher.from_file(path)


def link(
    batches: list[Path] = typer.Argument(..., help="Encoded batch files (caselink encode)."),
    out: Path = typer.Option(
        ..., "--out", help="CSV to write: agency, record_ref, case_id, confidence."
    ),
    registry: Path | None = typer.Option(
        None, "--registry", help="SQLite case registry: keeps case ids stable across runs."
    ),
    threshold: str = typer.Option("auto", "--threshold", help="'auto' or a match probability."),
    allow_duplicates: bool = typer.Option(
        False,
        "--allow-duplicates-within-agency",
        help="A case may hold several records of one agency.",
    ),
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        help="Link on Ray (same result as in this process): the run in a Ray task, its "
        "candidate search as Ray tasks, the batch files sent through Ray's object store one "
        "at a time; 'local' or a cluster address (default: CASELINK_RAY_ADDRESS if set, else "
        "in this process).",
    ),
    data_key_file: Path | None = typer.Option(
        None,
        "--data-key-file",
        help="Encrypt the registry's filters with the data keys in this file (made with a "
        "new key if absent). Without it the registry keeps them in the clear.",
    ),
    summary: Path | None = typer.Option(
        None,
        "--summary",
        help="Also write what the run decided as JSON: threshold, candidate floor per agency "
        "pair, pairs scored, links, records, cases, seconds.",
    ),
) -> None:
    """Link batches into cases; every input record gets a case id and a confidence."""
    import bloom
    from linkage._link import link as run_link
    from linkage._registry import Registry

    t = _threshold(threshold)
    if data_key_file is not None and registry is None:
        raise typer.BadParameter(
            "a data key seals a registry: give --registry too", param_hint="--data-key-file"
        )
    address = ray_address or os.environ.get("CASELINK_RAY_ADDRESS")
    reg = Registry.open(registry, codec=_cipher(data_key_file)) if registry else None
    options: dict[str, Any] = {"threshold": t, "allow_duplicates_within_agency": allow_duplicates}
    if address:
        from linkage._batch_files import BatchFiles
        from linkage._ray import ensure_ray
        from linkage._ray_link import ray_plan_link

        ensure_ray(None if address == "local" else address)
        inputs = BatchFiles.put(batches, state=reg.state() if reg is not None else None)
        started = time.perf_counter()
        with console.status("linking on Ray"):  # the run in a task, its search as tasks
            report = ray_plan_link(inputs, search="tasks", **options)
            if reg is not None and report.update is not None:
                reg.apply(report.update)
    else:
        loaded = [bloom.read_batch(p) for p in batches]
        started = time.perf_counter()
        with console.status("linking"):
            report = run_link(loaded, registry=reg, **options)
    seconds = time.perf_counter() - started
    report.assignments.to_csv(out, index=False)
    a = report.assignments
    if summary is not None:
        summary.write_text(
            json.dumps(
                {
                    "threshold": report.threshold,
                    "candidate_threshold": report.candidate_threshold,
                    "floors": {k: v.get("candidate_threshold") for k, v in report.models.items()},
                    "pairs_scored": report.pairs_scored,
                    "links_accepted": report.links_accepted,
                    "records": len(a),
                    "cases": int(a["case_id"].nunique()),
                    "seconds": round(seconds, 1),
                    "stages": report.stages,
                },
                indent=2,
            )
            + "\n"
        )
    console.print(
        f"{len(a):,} records in {a['case_id'].nunique():,} cases "
        f"({int((a.groupby('case_id').size() > 1).sum()):,} linked across agencies); "
        f"threshold {report.threshold:.3f}; wrote {out}"
    )
    if report.merges:
        console.print(
            f"{len(report.merges):,} existing cases were merged into others (kept as aliases)"
        )


def register(app: typer.Typer) -> None:
    app.command("link")(link)
