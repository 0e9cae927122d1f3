"""The client commands: `caselink upload`, `cases`, and `agency add` (admins, or stewards
for their own agency), `agreement create` (stewards); :func:`client` and the options every
command that talks to a running service (through :class:`service.client.Client`) shares.

The service is ``--url`` (or ``CASELINK_URL``, default ``http://127.0.0.1:8000``); the API key
comes from ``--api-key-file`` or ``CASELINK_API_KEY`` — never from a positional argument, which
would land in shell history. An https service's certificate is verified against the system's
authorities, or against ``--ca-file`` (``CASELINK_CA_FILE``).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from caselink_errors import CaselinkError
from caselink_output import JSON, binary_out, is_stdio, print_json

__all__ = ["register"]

console = Console(stderr=True, soft_wrap=True)
URL = typer.Option(None, "--url", help="Service URL (default: CASELINK_URL or 127.0.0.1:8000).")
KEY = typer.Option(None, "--api-key-file", help="File holding your API key (or CASELINK_API_KEY).")
CA = typer.Option(
    None, "--ca-file", help="CA certificate (PEM) to trust for an https URL (or CASELINK_CA_FILE)."
)
AGREEMENT = typer.Option(..., "--agreement", help="Agreement id (agr_...).")
EVALUATION_PURPOSE = typer.Option(  # the purpose of reading figures or labels, no records
    None, "--purpose", help="Why you read it (default: evaluation); the agreement must list it."
)
agency_app = typer.Typer(
    help="Agencies and keys (admins; stewards for their own agency).", no_args_is_help=True
)
agreement_app = typer.Typer(
    help="Data-sharing agreements: create and amend (stewards), list and show (parties and "
    "auditors).",
    no_args_is_help=True,
)


def client(
    url: str | None, key_file: Path | None, purpose: str | None = None, ca_file: Path | None = None
):
    from service.client import Client

    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise CaselinkError(f"--api-key-file: cannot read {key_file} ({e.strerror})") from e
    else:
        key = os.environ.get("CASELINK_API_KEY", "").strip()
    if not key:
        raise CaselinkError("no API key: pass --api-key-file FILE or set CASELINK_API_KEY")
    base = url or os.environ.get("CASELINK_URL") or "http://127.0.0.1:8000"
    ca = ca_file or (
        Path(os.environ["CASELINK_CA_FILE"]) if os.environ.get("CASELINK_CA_FILE") else None
    )
    return Client(base, key, purpose=purpose, ca_file=ca)


def upload(
    batches: list[Path] = typer.Argument(..., help="Encoded batch files (caselink encode)."),
    agreement: str = AGREEMENT,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """Upload encoded batches to an agreement; each is stored whole or refused whole."""
    table = Table("file", "batch", "records", "status")
    with client(url, api_key_file, ca_file=ca_file) as c:
        for path in batches:
            with console.status(f"uploading {path.name}"):
                b = c.upload(agreement, path)
            status = "already there" if b["duplicate"] else b["status"]
            table.add_row(path.name, b["batch_id"], f"{b['record_count']:,}", status)
    Console().print(table)


def cases(
    agreement: str = AGREEMENT,
    out: Path | None = typer.Option(
        None, "--out", help="Write every assignment to this CSV ('-': stdout)."
    ),
    offset: int = typer.Option(0, "--offset", min=0, help="Shown: from this record on."),
    limit: int = typer.Option(20, "--limit", min=1, max=10_000, help="Shown: this many records."),
    purpose: str | None = typer.Option(
        None,
        "--purpose",
        help="Why you read them (default: linkage); where the agreement maps it to a consent "
        "scope, other agencies are named only through records whose consent covers it.",
    ),
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """Your records' case ids, confidence and the other agencies holding the same case."""
    with client(url, api_key_file, purpose=purpose, ca_file=ca_file) as c:
        if out is not None:
            with console.status("downloading"), binary_out(out) as sink:
                c.write_cases_csv(agreement, sink)
            if not is_stdio(out):
                console.print(f"wrote {out}")
            return
        page = c.cases(agreement, offset=offset, limit=limit)
    if as_json:
        print_json(page)
        return
    table = Table(
        "record_ref",
        "case_id",
        "confidence",
        "other agencies",
        title=f"{page['total']:,} records ({page['pending_records']:,} not linked yet)",
    )
    for row in page["items"]:
        table.add_row(
            row["record_ref"],
            row["case_id"],
            f"{row['confidence']:.3f}",
            ", ".join(row["other_agencies"]) or "-",
        )
    Console().print(table)
    if page["next_offset"] is not None:
        console.print(f"more: --offset {page['next_offset']}, or --out FILE for all of them")


@agency_app.command("add")
def agency_add(
    name: str = typer.Argument(..., help="Agency name, as in its batch files."),
    role: str = typer.Option(
        "submitter",
        "--role",
        help="Role of the key to issue: admin, steward, submitter, tracer, evaluator or "
        "auditor (reads the agreements its agency is named on as auditor, and their audit).",
    ),
    key_out: Path = typer.Option(
        ..., "--key-out", help="Write the new key here (mode 0600; '-': stdout)."
    ),
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """Add an agency (if new; admin keys) and issue it a key, written to --key-out. A steward
    issues keys to its own agency only."""
    from service._keys import ROLES
    from service.client import ClientError

    if role not in ROLES:
        raise typer.BadParameter(f"use one of {', '.join(ROLES)}", param_hint="--role")
    with client(url, api_key_file, ca_file=ca_file) as c:
        if c.me()["role"] == "admin":
            try:
                c.create_agency(name)
            except ClientError as e:
                if e.status != 409:
                    raise
        issued = c.create_key(name, role)
    write_key(key_out, issued["api_key"], replace=True)
    where = "stdout" if is_stdio(key_out) else key_out
    console.print(f"agency {name}: key {issued['key_id']} ({role}) written to {where}")


@agreement_app.command("create")
def agreement_create(
    name: str = typer.Option(..., "--name", help="A name the parties will recognise it by."),
    party: list[str] = typer.Option(..., "--party", help="An agency taking part (repeat)."),
    auditor: list[str] | None = typer.Option(
        None,
        "--auditor",
        help="An agency named to oversee it (repeat): its auditor keys read the agreement and "
        "its audit; a party or not.",
    ),
    purpose: list[str] = typer.Option(
        ["linkage"], "--purpose", help="An allowed purpose (repeat for each)."
    ),
    schema: str = typer.Option(..., "--schema", help="Built-in schema name or JSON file."),
    retention_days: int = typer.Option(
        ..., "--retention-days", min=1, help="Days a batch is kept after it arrives."
    ),
    threshold: str = typer.Option(
        "auto", "--threshold", help="Link threshold: 'auto' or a match probability."
    ),
    review_band: str | None = typer.Option(
        None,
        "--review-band",
        help="Probabilities LOW,HIGH whose links go to clerical review after each run, or "
        "none (default: the service's, 0.05,0.9).",
    ),
    secret: Path | None = typer.Option(
        None,
        "--secret",
        help="The agreement's shared secret file: only its key check value is sent, so that "
        "batches and queries encoded with another secret are refused from the first one on "
        "(without it, the first accepted batch sets the value).",
    ),
    purpose_scope: list[str] | None = typer.Option(
        None,
        "--purpose-scope",
        help="PURPOSE=SCOPE: a call with this purpose is answered only from records whose "
        "consent covers SCOPE (repeat for each purpose).",
    ),
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """Create an agreement for a schema; prints its id."""
    import bloom
    from service.cli_agreements import purpose_scopes
    from service.cli_review import parse_band

    band = ... if review_band is None else parse_band(review_band)
    scopes = purpose_scopes(purpose_scope)
    s = bloom.Schema.load(schema)
    t: float | str = threshold if threshold == "auto" else float(threshold)
    key_check = None if secret is None else bloom.key_check_value(bloom.Secret.from_file(secret))
    with client(url, api_key_file, ca_file=ca_file) as c:
        a = c.create_agreement(
            name=name,
            parties=party,
            purposes=purpose,
            schema_fingerprint=s.fingerprint,
            filter_bits=s.filter_bits,
            segments=s.layout,
            retention_days=retention_days,
            threshold=t,
            key_check=key_check,
            auditors=auditor or (),
            purpose_scopes=scopes,
            review_band=band,
        )
    overseen = f"; auditors {', '.join(a['auditors'])}" if a["auditors"] else ""
    console.print(f"agreement {a['agreement_id']}: parties {', '.join(a['parties'])}{overseen}")
    typer.echo(a["agreement_id"])


def write_key(path: Path, key: str, *, replace: bool) -> None:
    """Write an API key to ``path``, readable by its owner only (mode 0600), or to stdout
    for ``-``. A file is written whole under a temporary name, then renamed: an existing
    one is replaced (``replace``) or refused."""
    if is_stdio(path):
        typer.echo(key)
        return
    if path.exists() and not replace:
        raise CaselinkError(f"--key-out: {path} exists already; name a new file or give --force")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(key + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise CaselinkError(f"--key-out: cannot write {path} ({e.strerror})") from e


def register(app: typer.Typer) -> None:
    app.command("upload")(upload)
    app.command("cases")(cases)
    app.add_typer(agency_app, name="agency")
    app.add_typer(agreement_app, name="agreement")
