"""`caselink run start | status | list`: linkage runs of an agreement, through a running service.

::

    caselink run start --agreement agr_...          # queue a run, follow it to its end
    caselink run status --agreement agr_... [--run-id run_...] [--json]
    caselink run list --agreement agr_... [--json]

``status`` shows the latest run (or the one named); it exits 0 whatever the run's outcome,
which its output (``status``) says. Submitters and stewards of a party may use them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from caselink_errors import CaselinkError
from caselink_output import JSON, print_json
from service.cli_client import AGREEMENT, CA, KEY, URL, client

__all__ = ["register"]

console = Console(stderr=True, soft_wrap=True)
run_app = typer.Typer(
    help="Linkage runs: start one and follow it, or see how the latest went.",
    no_args_is_help=True,
)


def _outcome(done: dict[str, Any]) -> str:
    stats = done["stats"] or {}
    return (
        f"{stats.get('new_records', 0):,} new records, {stats.get('links_accepted', 0):,} "
        f"links, {stats.get('merges', 0):,} merges"
    )


@run_app.command("start")
def start(
    agreement: str = AGREEMENT,
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="Follow the run to its end (or only queue it)."
    ),
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """Start a linkage run of the agreement's new batches and follow its progress."""
    with client(url, api_key_file, ca_file=ca_file) as c:
        started = c.start_run(agreement)
        console.print(f"run {started['run_id']} queued")
        if not wait:
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[stage]}"),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("linking", total=1.0, stage="queued")
            done = c.wait_run(
                agreement,
                started["run_id"],
                poll=0.5,
                on_progress=lambda r: progress.update(
                    task, completed=r["progress"], stage=r["stage"]
                ),
            )
    if done["status"] == "failed":
        console.print(f"[red]run {done['run_id']} failed:[/red] {done['error']}")
        raise typer.Exit(1)
    console.print(f"run {done['run_id']} succeeded: {_outcome(done)}")
    for batch_id in (done["stats"] or {}).get("quarantined", []):
        console.print(
            f"[yellow]batch {batch_id} was quarantined[/yellow] (not linked); the "
            "agency's batch listing says why"
        )


@run_app.command("status")
def status(
    agreement: str = AGREEMENT,
    run_id: str | None = typer.Option(
        None, "--run-id", help="The run (run_...); default: the agreement's latest."
    ),
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """How a run stands: status, stage, progress, times and what it linked."""
    with client(url, api_key_file, ca_file=ca_file) as c:
        if run_id is not None:
            run = c.run(agreement, run_id)
        else:
            runs = c.runs(agreement)  # newest first
            if not runs:
                raise CaselinkError(
                    "the agreement has had no run yet; start one with `caselink run start`"
                )
            run = runs[0]
    if as_json:
        print_json(run)
        return
    table = Table("field", "value", show_header=False)
    for key in ("run_id", "status", "stage", "created_at", "started_at", "finished_at"):
        table.add_row(key, str(run[key] or "-"))
    table.add_row("progress", f"{run['progress']:.0%}")
    if run["status"] == "succeeded":
        table.add_row("linked", _outcome(run))
        quarantined = (run["stats"] or {}).get("quarantined", [])
        if quarantined:
            table.add_row("quarantined", ", ".join(quarantined))
    if run["error"]:
        table.add_row("error", run["error"])
    Console().print(table)


@run_app.command("list")
def list_runs(
    agreement: str = AGREEMENT,
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """The agreement's runs, newest first."""
    with client(url, api_key_file, ca_file=ca_file) as c:
        runs = c.runs(agreement)
    if as_json:
        print_json(runs)
        return
    table = Table("run", "status", "created", "finished", "new records", "links")
    for r in runs:
        stats = r["stats"] or {}
        table.add_row(
            r["run_id"],
            r["status"],
            r["created_at"],
            r["finished_at"] or "-",
            f"{stats['new_records']:,}" if "new_records" in stats else "-",
            f"{stats['links_accepted']:,}" if "links_accepted" in stats else "-",
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(run_app, name="run")
