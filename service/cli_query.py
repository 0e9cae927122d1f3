"""`caselink query`: encode sought people on this machine, ask the service who knows them.

::

    caselink query --schema person --secret tracing.secret --agreement agr_... \\
        --purpose tracing --input sought.csv --id-column ref [--top-k 5] [--out results.csv]

The CSV is encoded locally with the agreement's schema and secret (exactly as ``caselink
encode`` does; names never leave the machine), for the caller's own agency as the service
knows its key (``GET /v1/me``). The encoded batch goes to ``POST /v1/agreements/{id}/queries``
with the purpose; the answer is one row per candidate case: ``query_ref, rank, case_id,
confidence, agencies`` (``;``-joined), and a row with an empty case id for a query record
that found nothing (``--out -``: the CSV on stdout; ``--json``: the service's answer as it
came). ``--input -`` reads the CSV from stdin. :meth:`service.Client.query` is the client
call, for scripts too.

A sought family: give its members one ``household_id`` (and a ``relationship`` each, as a
register does; the schema names the columns). The answer then says, per family, which
members were found and which were found registered together in one household at some
agency; the command prints it after the members' cases (on stderr with ``--out``).
"""

from __future__ import annotations

import csv
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from caselink_output import JSON, is_stdio, print_json, text_out
from service.cli_client import AGREEMENT, CA, KEY, URL, client

__all__ = ["family_rows", "register", "result_rows"]

console = Console(stderr=True, soft_wrap=True)


def result_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (query record, candidate case); a query without candidates gets one."""
    rows = []
    for result in answer["results"]:
        found = result["candidates"] or [None]
        for rank, cand in enumerate(found, start=1):
            rows.append(
                {
                    "query_ref": result["query_ref"],
                    "rank": rank if cand else "",
                    "case_id": cand["case_id"] if cand else "",
                    "confidence": cand["confidence"] if cand else "",
                    "agencies": ";".join(cand["agencies"]) if cand else "",
                }
            )
    return rows


def _encode(
    schema: str, secret: Path | None, source: Path, agency: str, id_column: str | None, out: Path
) -> int:
    import bloom

    report = bloom.encode_csv(
        source,
        bloom.Schema.load(schema),
        bloom.Secret.resolve(secret),
        agency=agency,
        out=out,
        id_column=id_column,
    )
    return report.records


def family_rows(answer: dict[str, Any]) -> list[dict[str, str]]:
    """One row per sought family of a family query (none for a query without households):
    its members, those found, those found together, and where."""
    rows = []
    for k, f in enumerate(answer.get("families") or [], start=1):
        rows.append(
            {
                "family": str(k),
                "members": ", ".join(f["members"]),
                "found": f"{len(f['members_found'])} of {len(f['members'])}",
                "found together": ", ".join(f["found_together"]) or "-",
                "households": "; ".join(
                    f"{h['agency']}: {', '.join(h['members'])}" for h in f["households"]
                )
                or "-",
                "leads": "; ".join(_lead_text(lead) for lead in f.get("leads", ())) or "-",
            }
        )
    return rows


def _lead_text(lead: dict[str, Any]) -> str:
    """A lead as one line: the member, the case and its own confidence, and where it sits
    with whom."""
    where = ", ".join(
        f"{h['agency']} with {', '.join(h['with_members'])}" for h in lead["households"]
    )
    return f"{lead['member']}: {lead['case_id']} ({lead['confidence']:.3f}; {where})"


def _show_families(answer: dict[str, Any], where: Console) -> None:
    if answer.get("families") is None:
        return
    rows = family_rows(answer)
    table = Table(
        "family",
        "members",
        "found",
        "found together",
        "households (agency: members)",
        "leads (member: case, confidence; household)",
        title="sought families",
    )
    for r in rows:
        table.add_row(*r.values())
    where.print(table)
    every = sum(1 for f in answer["families"] if len(f["members_found"]) == len(f["members"]))
    some = sum(1 for f in answer["families"] if f["members_found"])
    console.print(
        f"{len(rows):,} sought families: {every:,} with every member found, {some:,} with "
        "at least one"
        + (
            f"; {leads:,} lead(s) for members not found, through found relatives' households"
            if (leads := sum(len(f.get("leads", ())) for f in answer["families"]))
            else ""
        )
    )


def _show(rows: list[dict[str, Any]], out: Path | None) -> None:
    if out is not None:
        with text_out(out) as f:
            writer = csv.DictWriter(f, ["query_ref", "rank", "case_id", "confidence", "agencies"])
            writer.writeheader()
            writer.writerows(rows)
        if not is_stdio(out):
            console.print(f"wrote {out}")
        return
    table = Table("query_ref", "rank", "case_id", "confidence", "agencies")
    for r in rows:
        conf = f"{r['confidence']:.3f}" if r["case_id"] else "-"
        table.add_row(
            str(r["query_ref"]),
            str(r["rank"]),
            r["case_id"] or "not found",
            conf,
            r["agencies"].replace(";", ", ") or "-",
        )
    Console().print(table)


def query(
    schema: str = typer.Option(..., "--schema", help="The agreement's schema (file or name)."),
    secret: Path | None = typer.Option(
        None, "--secret", help="Secret file; without it CASELINK_SECRET is read."
    ),
    agreement: str = AGREEMENT,
    purpose: str = typer.Option(..., "--purpose", help="Why you ask; the agreement must allow it."),
    input_path: Path = typer.Option(..., "--input", help="CSV of the sought people ('-': stdin)."),
    id_column: str | None = typer.Option(
        None, "--id-column", help="Column of your own refs for them (default: row numbers)."
    ),
    top_k: int = typer.Option(5, "--top-k", min=1, help="Candidate cases per sought person."),
    min_confidence: float | None = typer.Option(
        None, "--min-confidence", min=0.0, max=1.0, help="Hide candidates below this."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write the results to this CSV ('-': stdout)."
    ),
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """Is this person known anywhere? Case ids, confidence and the agencies holding them.

    Members of a sought family sharing a household_id are also answered as a family: who
    was found, and who was found registered together."""
    if as_json and out is not None:
        raise typer.BadParameter("give --json or --out, not both", param_hint="--json")
    with client(url, api_key_file, ca_file=ca_file) as c, tempfile.TemporaryDirectory() as tmp:
        agency = c.me()["agency"]
        encoded = Path(tmp) / "query.parquet"
        if is_stdio(input_path):  # the encoder reads files: stdin is kept in the scratch folder
            input_path = Path(tmp) / "sought.csv"
            with input_path.open("wb") as f:
                shutil.copyfileobj(sys.stdin.buffer, f)
        with console.status("encoding"):
            n = _encode(schema, secret, input_path, agency, id_column, encoded)
        with console.status(f"querying {n:,} records"):
            answer = c.query(
                agreement, encoded, purpose=purpose, top_k=top_k, min_confidence=min_confidence
            )
    found = sum(1 for r in answer["results"] if r["candidates"])
    console.print(f"{found:,} of {answer['records_queried']:,} sought people have candidates")
    if as_json:
        print_json(answer)
        return
    _show(result_rows(answer), out)
    _show_families(answer, Console() if out is None else console)


def register(app: typer.Typer) -> None:
    app.command("query")(query)
