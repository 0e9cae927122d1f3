"""``caselink admin sweep``: retention, on the database (``caselink withdraw``, through a
running service, is :mod:`service.cli_withdraw`)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["parse_as_of", "register"]

console = Console(stderr=True, soft_wrap=True)


def parse_as_of(text: str | None) -> datetime:
    """An ISO 8601 time (a zone-less one is UTC); now when ``text`` is None."""
    if text is None:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            "give an ISO 8601 time, e.g. 2027-01-31T00:00:00Z", param_hint="--as-of"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def sweep_command(
    as_of: str | None = typer.Option(
        None, "--as-of", "--now", help="Sweep as if it were this ISO 8601 time (default: now)."
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Default: CASELINK_DATABASE_URL or ./caselink.db"
    ),
) -> None:
    """Purge every batch past its agreement's retention period; exit 1 if any purge failed."""
    from service._admin import OPERATOR
    from service._retention import sweep
    from service.cli import _engine

    when = parse_as_of(as_of)
    engine = _engine(database_url)
    try:
        report = sweep(engine, when, actor=OPERATOR)
    finally:
        engine.dispose()
    table = Table("agreement", "batch", "agency", "received", "records", "linked", "cases")
    for p in report.purged:
        table.add_row(
            p.agreement_id,
            p.batch_id,
            p.agency,
            p.received_at.isoformat(),
            str(p.records),
            str(p.registry_records),
            str(p.cases_reformed),
        )
    Console().print(table)
    console.print(
        f"as of {report.as_of.isoformat()}: {len(report.purged)} batch(es) purged, "
        f"{len(report.skipped)} left for a later sweep (a run in progress), "
        f"{len(report.failed)} failed"
    )
    for batch_id, error in report.failed:
        console.print(f"[red]batch {batch_id}: {error}; it was left whole. See the log")
    if report.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach ``admin sweep`` to the service's ``admin`` group."""
    from service.cli import admin

    admin.command("sweep")(sweep_command)
