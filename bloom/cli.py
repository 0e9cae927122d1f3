"""`caselink keygen`, `encode`, `inspect` and `privacy check`: the agency-side commands."""

from __future__ import annotations

import dataclasses
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bloom._batch import EncodedBatch
from bloom._batchread import read_batch
from bloom._bitops import popcount_rows
from bloom._csvencode import encode_csv
from bloom._encode import DEFAULT_CHUNK_BYTES
from bloom._household_batch import HouseholdCounts
from bloom._household_input import not_carried_text
from bloom._i18n import ENV, LOCALES, N_, gettext, ngettext, number, pgettext, use_language
from bloom._keycheck import key_check_value
from bloom._privacy import (
    EXIT_LEAKS,
    LEAK_THRESHOLD,
    PrivacyCheck,
    check_batch,
    schema_for,
    schema_warnings,
)
from bloom._schema import Schema
from bloom._secret import Secret
from caselink_errors import CaselinkError, EncodingError
from caselink_output import JSON, print_json

__all__ = ["register"]

console = Console(stderr=True, soft_wrap=True)
out = Console()
privacy = typer.Typer(
    help="What an encoded batch lets whoever holds it learn (offline, no plaintext, no secret).",
    no_args_is_help=True,
)


class DateOrder(StrEnum):
    """The orders ``--date-order`` takes (see :mod:`bloom._dateorder`)."""

    DMY = "DMY"
    MDY = "MDY"
    YMD = "YMD"


def keygen(
    out_path: Path | None = typer.Option(
        None, "--out", help="Where to write the new secret (mode 0600)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    check: Path | None = typer.Option(
        None,
        "--check",
        help="Make no secret: print the key check value of this secret file, to compare with "
        "the other agencies' and with the agreement's.",
    ),
) -> None:
    """Make a new 32-byte shared secret. Share it only with the agencies of the agreement."""
    if (out_path is None) == (check is None):
        raise typer.BadParameter("give either --out FILE (a new secret) or --check FILE")
    if check is not None:
        typer.echo(key_check_value(Secret.from_file(check)))
        return
    assert out_path is not None
    secret = Secret.generate()
    secret.write(out_path, overwrite=force)
    console.print(
        f"wrote a new secret to {out_path} (readable by you only); never send it to the service"
    )
    console.print(
        f"its key check value is {key_check_value(secret)}: the other agencies' copy must show "
        "the same (`caselink keygen --check FILE`); it reveals nothing about the secret"
    )


def encode(
    schema: str = typer.Option(
        ..., "--schema", help="Schema file, or a shipped one: febrl, person."
    ),
    input_path: Path = typer.Option(
        ..., "--input", help="The register, a CSV file with a header; - reads standard input."
    ),
    agency: str = typer.Option(
        ..., "--agency", help="Your agency's name as the agreement knows it."
    ),
    out_path: Path = typer.Option(..., "--out", help="The encoded batch to write (Parquet)."),
    secret: Path | None = typer.Option(
        None, "--secret", help="Secret file; without it CASELINK_SECRET is read."
    ),
    id_column: str | None = typer.Option(
        None, "--id-column", help="Column of your own record ids (default: row numbers)."
    ),
    jobs: int = typer.Option(1, "--jobs", min=1, help="Worker processes."),
    chunk_mb: float = typer.Option(
        DEFAULT_CHUNK_BYTES / 2**20, "--chunk-mb", min=0.1, help="Size of each block read."
    ),
    input_encoding: str | None = typer.Option(
        None,
        "--input-encoding",
        help="Text encoding of the CSV (default utf-8; a byte-order mark decides where there "
        "is one). cp1252 is what Excel on Windows saves.",
    ),
    delimiter: str = typer.Option(
        ",", "--delimiter", help="The character between fields: , ; | or tab."
    ),
    date_order: DateOrder | None = typer.Option(
        None,
        "--date-order",
        case_sensitive=False,
        help="How the register writes dates like 03/12/2010 (default: the schema's "
        "date_order, else its formats as written).",
    ),
    group_column: str | None = typer.Option(
        None,
        "--group-column",
        help="Column of your household (or family group) ids; each is pseudonymised with the "
        "secret and your agency before it leaves this machine (default: the schema's "
        "household.group_column, read when the register has it).",
    ),
    relationship_column: str | None = typer.Option(
        None,
        "--relationship-column",
        help="Column of each record's place in its household: head, spouse, child, parent, "
        "sibling, other, or a spelling of one (default: the schema's "
        "household.relationship_column, read when the register has it).",
    ),
    consent_column: str | None = typer.Option(
        None,
        "--consent-column",
        help="Column of each record's consent scopes, among those the schema's consent "
        "section declares (default: its consent.column, read when the register has it).",
    ),
    problems_out: Path | None = typer.Option(
        None,
        "--problems-out",
        help="Write every problem found to this CSV: row, line, column, problem, severity "
        "(never a value). Rows count records after the header from 1; line is the file's line.",
    ),
    lang: str | None = typer.Option(
        None,
        "--lang",
        envvar=ENV,
        show_envvar=True,
        help=f"The language of the messages: {', '.join(LOCALES)} (default en). Problem codes, "
        "options and row numbers stay as they are; --problems-out is always in English.",
    ),
) -> None:
    """Encode a register into keyed Bloom filters, on this machine, in bounded memory.

    Every problem of the file is reported in one pass, by row and problem code.
    Rows count the records after the header: the header is row 0, the first record row 1.
    A blank line is no row, and a line break inside quotes does not start one.
    Each message lists the first 20 rows of a problem; --problems-out lists them all.
    """
    notice = use_language(lang)
    if notice is not None:
        console.print(escape(notice), highlight=False)
    try:
        _encode(
            schema,
            input_path,
            agency,
            out_path,
            secret,
            id_column,
            jobs,
            chunk_mb,
            input_encoding,
            delimiter,
            date_order,
            problems_out,
            (group_column, relationship_column, consent_column),
        )
    except CaselinkError as e:
        console.print(f"[red]{escape(gettext('error:'))}[/red] {escape(_error_text(e))}")
        raise typer.Exit(2) from None
    finally:
        use_language(None)  # the process speaks English again (in-process callers, tests)


# the headlines of the errors encode raises, for the catalogue (caselink_errors says them)
_HEADLINES = (
    N_("invalid input"),
    N_("invalid linkage schema"),
    N_("cannot encode the input"),
    N_("invalid encoded batch"),
)


def _error_text(e: CaselinkError) -> str:
    """The message of ``e`` as :class:`CaselinkError` writes it, in the language in use."""
    headline = type(e).headline
    head = gettext(headline) if headline else None
    if len(e.problems) == 1:
        return (
            gettext("{headline}: {problem}").format(headline=head, problem=e.problems[0])
            if head
            else e.problems[0]
        )
    listed = "\n".join(f"  - {p}" for p in e.problems)
    title = ngettext(
        "{headline} ({count} problem):", "{headline} ({count} problems):", len(e.problems)
    ).format(headline=head or gettext("problems found"), count=number(len(e.problems)))
    return f"{title}\n{listed}"


def _encode(
    schema: str,
    input_path: Path,
    agency: str,
    out_path: Path,
    secret: Path | None,
    id_column: str | None,
    jobs: int,
    chunk_mb: float,
    input_encoding: str | None,
    delimiter: str,
    date_order: DateOrder | None,
    problems_out: Path | None,
    household: tuple[str | None, str | None, str | None],
) -> None:
    the_schema = Schema.load(schema)
    if date_order is not None:
        the_schema = the_schema.with_date_order(date_order.value)
    the_secret = Secret.resolve(secret)
    from_stdin = str(input_path) == "-"
    size = input_path.stat().st_size if not from_stdin and input_path.is_file() else 0
    with Progress(
        TextColumn(escape(gettext("encoding"))),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("encode", total=size or None)
        try:
            report = encode_csv(
                sys.stdin.buffer if from_stdin else input_path,
                the_schema,
                the_secret,
                agency=agency,
                out=out_path,
                id_column=id_column,
                jobs=jobs,
                chunk_bytes=int(chunk_mb * 2**20),
                input_encoding=input_encoding,
                delimiter=delimiter,
                problems_out=problems_out,
                on_progress=lambda done, total: progress.update(
                    task, completed=done, total=total or None
                ),
                group_column=household[0],
                relationship_column=household[1],
                consent_column=household[2],
            )
        except EncodingError as e:
            progress.stop()
            error = escape(gettext("error:"))
            console.print(f"[red]{error}[/red] {escape(_error_text(e))}", highlight=False)
            if e.lists_rows:
                console.print(_every_row(problems_out), highlight=False)
            raise typer.Exit(2) from None
    text = ngettext(
        "encoded {count} record into {path}", "encoded {count} records into {path}", report.records
    )
    console.print(escape(text.format(count=number(report.records), path=out_path)), highlight=False)
    for name, count in sorted(report.missing.items()):
        if count:
            text = gettext("  field {field}: {count} missing")
            console.print(escape(text.format(field=name, count=number(count))), highlight=False)
    for line in _household_lines(report.households):
        console.print(escape(f"  {line}"), highlight=False)
    for fact, column in report.not_carried:
        console.print(escape(f"  {not_carried_text(fact, column)}"), highlight=False)
    warning = escape(gettext("warning:"))
    for problem in report.warnings:
        console.print(f"[yellow]{warning}[/yellow] {escape(problem.sentence())}", highlight=False)
    if report.warnings:
        console.print(_every_row(problems_out), highlight=False)
    warnings = schema_warnings(the_schema)
    for text in warnings:
        console.print(f"[yellow]warning:[/yellow] schema '{the_schema.name or schema}': {text}")
    if warnings:
        console.print(f"Run `caselink privacy check {out_path}` to see what this batch shows")


def _household_lines(counts: HouseholdCounts | None) -> list[str]:
    """What a batch's household columns hold, one line each: counts, never a group."""
    if counts is None:
        return []
    sep = pgettext("list separator", ", ")

    def listed(found: dict[str, int]) -> str:
        return sep.join(f"{k} {number(n)}" for k, n in found.items()) or gettext("(none)")

    lines = []
    if counts.groups is not None:
        text = gettext("household groups: {groups}; records in a group: {records}")
        lines.append(text.format(groups=number(counts.groups), records=number(counts.grouped or 0)))
    if counts.relationships is not None:
        text = gettext("relationships: {counts}; not given: {none}")
        none = number(counts.relationship_not_given or 0)
        lines.append(text.format(counts=listed(counts.relationships), none=none))
    if counts.scopes is not None:
        text = gettext("consent scopes: {counts}; records with no scope: {none}")
        lines.append(text.format(counts=listed(counts.scopes), none=number(counts.no_scope or 0)))
    return lines


def _every_row(problems_out: Path | None) -> str:
    if problems_out is not None:
        text = gettext("Every row of each problem is listed in {path}")
        return escape(text.format(path=problems_out))
    return escape(gettext("To list every row of each problem, run again with --problems-out FILE"))


def _densities(b: EncodedBatch) -> list[dict[str, Any]]:
    """Bits set per record, segment by segment: mean, sd, min, max and mean density."""
    found, word = [], 0
    for name, bits in b.metadata.segments:
        counts = popcount_rows(b.filters, word, word + bits // 64)
        word += bits // 64
        found.append(
            {
                "segment": name,
                "bits": bits,
                "mean": float(counts.mean()),
                "sd": float(counts.std()),
                "min": int(counts.min()),
                "max": int(counts.max()),
                "mean_density": float(counts.mean() / bits),
            }
        )
    return found


def inspect(
    batch: Path = typer.Argument(..., help="An encoded batch file."),
    as_json: bool = JSON,
) -> None:
    """Show a batch's metadata and bit-density figures (nothing that identifies anyone).

    A batch with household columns also shows how many records carry a group, how many
    groups, the relationships given and the consent scopes: counts only.
    """
    b = read_batch(batch)
    m = b.metadata
    densities = _densities(b)
    empty = int(np.count_nonzero(popcount_rows(b.filters, 0, b.words) == 0))
    households = HouseholdCounts.of(b.groups, b.relationships, b.consent)
    if as_json:
        print_json(
            {
                "metadata": dataclasses.asdict(m),
                "bits_set_per_record": densities,
                "records_without_bits": empty,
                "households": dataclasses.asdict(households) if households else None,
            }
        )
        return
    meta = Table(title=f"{batch}", show_header=False)
    for key, value in (
        ("agency", m.agency),
        ("records", f"{m.record_count:,}"),
        ("filter bits", str(m.filter_bits)),
        ("schema fingerprint", m.schema_fingerprint),
        ("created at", m.created_at),
        ("caselink version", m.caselink_version),
        ("format version", str(m.format_version)),
        ("content hash", m.content_hash),
        ("key check value", m.key_check or "none (encoded before key checks)"),
    ):
        meta.add_row(key, value)
    out.print(meta)
    dens = Table(title="bits set per record, by segment")
    for col in ("segment", "bits", "mean", "sd", "min", "max", "mean density"):
        dens.add_column(col, justify="right" if col != "segment" else "left")
    for d in densities:
        dens.add_row(
            d["segment"],
            str(d["bits"]),
            f"{d['mean']:.1f}",
            f"{d['sd']:.1f}",
            str(d["min"]),
            str(d["max"]),
            f"{d['mean_density']:.3f}",
        )
    out.print(dens)
    for line in _household_lines(households):
        out.print(escape(line), highlight=False)
    if empty:
        out.print(f"[yellow]{empty:,} records have no bits set (every field missing)[/yellow]")


@privacy.command("check")
def privacy_check(
    batch: Path = typer.Argument(..., help="An encoded batch file."),
    schema: str | None = typer.Option(
        None, "--schema", help="The schema it was encoded with (default: a shipped one that fits)."
    ),
    threshold: float = typer.Option(
        LEAK_THRESHOLD, "--threshold", min=0.0, max=1.0, help="Largest groupable share allowed."
    ),
    as_json: bool = JSON,
) -> None:
    """Per segment: distinct patterns and records in groups of 5 or more near-identical ones --
    records the service could sort by that segment's fields. Exit 0 OK, 3 LEAKS, 2 bad input."""
    b = read_batch(batch)
    result = check_batch(b, schema_for(b.metadata.schema_fingerprint, schema), threshold=threshold)
    if as_json:
        print_json({**dataclasses.asdict(result), "leaks": result.leaks, "verdict": result.verdict})
    else:
        _show_check(batch, result)
    if result.leaks:
        raise typer.Exit(EXIT_LEAKS)


def _show_check(path: Path, r: PrivacyCheck) -> None:
    unknown = "unknown (give --schema)"
    hardening = unknown if r.hardening is None else ", ".join(r.hardening) or "none"
    name = escape(r.schema or unknown)
    out.print(f"{escape(str(path))}: {r.records:,} records, schema {name}, hardening: {hardening}")
    if r.noise:
        out.print(f"per-record noise undone first (flip probability {r.noise:.3f})")
    table = Table(title=f"groups of {r.min_group}+ near-identical records (Dice >= {r.dice})")
    for col in (
        "segment",
        "fields",
        "bits",
        "distinct patterns",
        "empty",
        "in groups",
        "largest group",
        "verdict",
    ):
        left = col in ("segment", "fields", "verdict")
        table.add_column(col, justify="left" if left else "right")
    for s in (*r.segments, r.whole):
        table.add_row(
            s.segment,
            ", ".join(s.fields) or "-",
            str(s.bits),
            f"{s.distinct_patterns:,}",
            f"{s.empty:,}",
            f"{s.grouped_share:.1%}",
            f"{s.largest_group_share:.1%}",
            "[red]leaks[/red]" if s.leaks else ("-" if s is r.whole else "ok"),
        )
    out.print(table)
    colour = "red" if r.leaks else "green"
    out.print(f"[bold {colour}]{r.verdict}[/bold {colour}]")
    for line in r.details[1:]:
        out.print(f"  and {line}")
    if r.leaks:
        out.print(
            f"Threshold: {r.threshold:.0%} of records per segment. Encode with a schema whose "
            "hardening hides these fields before sending this batch."
        )


def register(app: typer.Typer) -> None:
    app.command("keygen")(keygen)
    app.command("encode")(encode)
    app.command("inspect")(inspect)
    app.add_typer(privacy, name="privacy")
