"""`caselink consent set`: change the consent scopes of your agency's records, from a file of
refs, through a running service.

::

    caselink consent set --agreement agr_... --refs-file refs.txt --scopes tracing,coordination
    caselink consent set --agreement agr_... --refs-file refs.txt --scopes ""    # no scope
    caselink consent set --agreement agr_... --refs-file - --unsaid              # every purpose

A refs file holds one ``record_ref`` per line (blank lines are skipped), as for ``caselink
withdraw``. Every record named gets the same scopes. The refs go to the service in parts of
at most 10,000 (``PUT /v1/agreements/{id}/records/consent``, each part one audited change);
what is printed are counts — records changed pending and linked, already so, not held —
never a ref. ``--unsaid`` says nothing of consent: the records then serve every purpose, as
records of a batch without a consent column do. To remove records altogether, withdraw them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from caselink_output import JSON, print_json, read_text
from service.cli_client import AGREEMENT, CA, KEY, URL, client
from service.cli_withdraw import refs_in

__all__ = ["register"]

console = Console(stderr=True, soft_wrap=True)
consent_app = typer.Typer(
    help="Consent scopes of your agency's records: what they may be used for.",
    no_args_is_help=True,
)
COUNTS = ("records", "pending_changed", "linked_changed", "unchanged", "not_held")
LABELS = {
    "records": "records named",
    "pending_changed": "changed, waiting for a run",
    "linked_changed": "changed, linked",
    "unchanged": "had these scopes already",
    "not_held": "not held by your agency",
}


def _scopes(scopes: str | None, unsaid: bool) -> list[str] | None:
    from bloom._households import split_scopes  # here: `bloom` loads its whole encoder

    if (scopes is None) == (not unsaid):
        raise typer.BadParameter("give either --scopes or --unsaid (one of them)")
    return None if unsaid else sorted(set(split_scopes(scopes)))


def _total(answers: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {k: sum(a[k] for a in answers) for k in COUNTS}
    first = answers[0]
    return {"agreement_id": first["agreement_id"], "agency": first["agency"]} | {
        "scopes": first["scopes"],
        **total,
        "calls": len(answers),
    }


def set_command(
    agreement: str = AGREEMENT,
    refs_file: Path = typer.Option(
        ..., "--refs-file", help="A file of your records' refs, one per line ('-': stdin)."
    ),
    scopes: str | None = typer.Option(
        None,
        "--scopes",
        help="The scopes from now on, separated by commas (tracing,coordination); '' for none.",
    ),
    unsaid: bool = typer.Option(
        False, "--unsaid", help="Say nothing of consent: the records serve every purpose."
    ),
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """Give records of your agency new consent scopes (submitter keys); audited, counts only."""
    wanted = _scopes(scopes, unsaid)
    refs = [ref for _, ref in refs_in(read_text(refs_file, "--refs-file"))]
    if not refs:
        raise typer.BadParameter("the file holds no ref (one per line)", param_hint="--refs-file")
    from service.api.models_consent import CONSENT_REFS_MAX  # its models import bloom

    distinct = list(dict.fromkeys(refs))
    parts = [distinct[k : k + CONSENT_REFS_MAX] for k in range(0, len(distinct), CONSENT_REFS_MAX)]
    with (
        client(url, api_key_file, ca_file=ca_file) as c,
        console.status(f"changing the consent of {len(distinct):,} records"),
    ):
        answers = [c.set_consent(agreement, part, wanted) for part in parts]
    total = _total(answers)
    if as_json:
        print_json(total)
        return
    shown = "nothing said (every purpose)" if wanted is None else (", ".join(wanted) or "none")
    out = Console()
    out.print(f"consent from now on: {shown}")
    table = Table("", "records")
    for key in COUNTS:
        table.add_row(LABELS[key], f"{total[key]:,}")
    out.print(table)
    if total["not_held"]:
        console.print(
            f"{total['not_held']:,} refs name no record your agency holds in {agreement} "
            "(withdrawn, purged or never uploaded)"
        )


def register(app: typer.Typer) -> None:
    consent_app.command("set")(set_command)
    app.add_typer(consent_app, name="consent")
