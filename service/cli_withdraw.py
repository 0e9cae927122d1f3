"""`caselink withdraw`: withdraw records from an agreement, one or a file of refs, through a
running service; each withdrawn record gets the service's receipt.

::

    caselink withdraw --agreement agr_... --reason erasure --record-ref UNHCR-0042
    caselink withdraw --agreement agr_... --reason consent --refs-file refs.txt   # '-': stdin

A refs file holds one ``record_ref`` per line (blank lines are skipped). Every ref is tried:
one that fails is reported by its line number — never by the ref itself, which is personal
data — and the others go on; the command exits 1 if any failed. Only an answer that no later
ref could escape (the service unreachable, the key refused) stops the rest, which are then
reported as not tried.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from caselink_errors import ClientError
from caselink_output import JSON, print_json, read_text
from service.cli_client import AGREEMENT, CA, KEY, URL, client

__all__ = ["refs_in", "register"]

console = Console(stderr=True, soft_wrap=True)
STOPS_ALL = (0, 401)  # unreachable, or the key refused: no later ref would fare better


def refs_in(text: str) -> list[tuple[int, str]]:
    """(line number, ref) of each non-blank line of a refs file; a line's end (``\\n``,
    ``\\r\\n``) is not part of the ref."""
    return [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _receipt_table(receipt: dict[str, Any]) -> Table:
    table = Table("field", "value")
    for key, value in receipt.items():
        table.add_row(key, str(value))
    return table


def _withdraw_all(c, agreement: str, refs, reason: str, agency: str | None) -> dict[str, list]:
    done: dict[str, list] = {"withdrawn": [], "failed": [], "not_tried": []}
    for k, (line, ref) in enumerate(refs):
        try:
            receipt = c.withdraw(agreement, ref, reason, agency=agency)
        except ClientError as e:
            failure = {
                "line": line,
                "status": e.status,
                "error": e.error,
                "detail": e.detail,
                "problems": list(e.problems),
            }
            done["failed"].append(failure)
            if e.status in STOPS_ALL:
                done["not_tried"] = [n for n, _ in refs[k + 1 :]]
                break
            continue
        done["withdrawn"].append({"line": line, "receipt": receipt})
    return done


def _show_bulk(done: dict[str, list]) -> None:
    table = Table("line", "result", "receipt", "was", "former case", "left in it", "split off")
    rows = [(w["line"], w) for w in done["withdrawn"]] + [(f["line"], f) for f in done["failed"]]
    for line, row in sorted(rows, key=lambda r: r[0]):
        if "receipt" in row:
            r = row["receipt"]
            table.add_row(
                str(line),
                "withdrawn",
                r["receipt_id"],
                r["status"],
                r["former_case_id"] or "-",
                f"{r['remaining_records']:,} records, {r['remaining_agencies']:,} agencies",
                str(r["split_off_cases"]),
            )
        else:
            detail = f"[red]failed ({row['status']} {row['error']})[/red]: {row['detail']}"
            table.add_row(str(line), detail, "-", "-", "-", "-", "-")
    Console().print(table)


def withdraw_command(
    agreement: str = AGREEMENT,
    reason: str = typer.Option(..., "--reason", help="consent, correction or erasure."),
    record_ref: str | None = typer.Option(
        None, "--record-ref", help="The holding agency's ref of the one record to withdraw."
    ),
    refs_file: Path | None = typer.Option(
        None, "--refs-file", help="A file of refs to withdraw, one per line ('-': stdin)."
    ),
    agency: str | None = typer.Option(None, "--agency", help="Default: your key's agency."),
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """Withdraw records from an agreement (one, or a file of refs) and print the receipts."""
    if (record_ref is None) == (refs_file is None):
        raise typer.BadParameter("give either --record-ref or --refs-file (one of them)")
    if record_ref is not None:
        with client(url, api_key_file, ca_file=ca_file) as c:
            receipt = c.withdraw(agreement, record_ref, reason, agency=agency)
        if as_json:
            print_json(receipt)
        else:
            Console().print(_receipt_table(receipt))
        return
    assert refs_file is not None
    refs = refs_in(read_text(refs_file, "--refs-file"))
    if not refs:
        raise typer.BadParameter("the file holds no ref (one per line)", param_hint="--refs-file")
    with (
        client(url, api_key_file, ca_file=ca_file) as c,
        console.status(f"withdrawing {len(refs):,} records"),
    ):
        done = _withdraw_all(c, agreement, refs, reason, agency)
    if as_json:
        print_json(done)
    else:
        _show_bulk(done)
    console.print(
        f"{len(done['withdrawn']):,} of {len(refs):,} withdrawn, {len(done['failed']):,} failed"
        + (f", {len(done['not_tried']):,} not tried" if done["not_tried"] else "")
    )
    if done["not_tried"]:
        console.print(
            f"[red]stopped at line {done['failed'][-1]['line']}[/red]: no later ref could "
            "succeed; fix that, then run again with the refs not withdrawn"
        )
    if done["failed"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("withdraw")(withdraw_command)
