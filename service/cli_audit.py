"""The audit commands, through a running service: ``caselink audit show`` (entries, page by
page), ``audit verify`` (the service recomputes a chain) and ``audit checkpoint`` (a party or
an auditor keeps a signed head) — an agreement's chain for its stewards and for the auditor
keys of the agencies named as its auditors, the service's own chain (no ``--agreement``) for
admins — and ``caselink admin audit-key`` (the operator prints the public key that checks the
checkpoints). ``caselink admin verify-audit``, on the database, verifies every chain and
loads kept checkpoints with :func:`load_kept`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from caselink_output import JSON, is_stdio, print_json
from service.cli_client import CA, KEY, URL, client

__all__ = ["load_kept", "register"]

console = Console(stderr=True, soft_wrap=True)
audit_app = typer.Typer(
    help="The audit chains: read, verify, keep signed checkpoints.", no_args_is_help=True
)
CHAIN = typer.Option(
    None, "--agreement", help="Agreement id (agr_...); default: the service's own chain (admins)."
)


def _key_path(key_file: Path | None) -> Path:
    from service._settings import get_settings

    return key_file or get_settings().audit_key_path


def load_kept(against: Path, public_key: str | None, key_file: Path | None = None):
    """The checkpoints in ``against``, signatures checked with ``public_key`` (hex or a file)
    or else with the public half of the service's key file."""
    from service._checkpoint import check_kept, read_checkpoints
    from service._signing import load_signer, parse_public_key

    if public_key is not None:
        key = parse_public_key(public_key)
    else:
        key = load_signer(_key_path(key_file)).public
    return check_kept(read_checkpoints(against), key, where=str(against))


def show(
    agreement: str | None = CHAIN,
    after: int = typer.Option(0, "--after", min=0, help="Entries after this seq (0: all)."),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="Entries to show."),
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """A chain's entries, oldest first: who did what, when, for what purpose, with what outcome."""
    with client(url, api_key_file, ca_file=ca_file) as c:
        page = c.audit(agreement, after=after, limit=limit)
    if as_json:
        print_json(page)
        return
    table = Table("seq", "at", "actor", "role", "action", "purpose", "outcome", "details")
    for e in page["items"]:
        table.add_row(
            str(e["seq"]),
            e["at"],
            e["actor"],
            e["role"],
            e["action"],
            e["purpose"] or "-",
            e["outcome"],
            escape(json.dumps(e["details"], sort_keys=True)) if e["details"] else "-",
        )
    Console().print(table)
    if page["next_after"] is not None:
        console.print(f"more entries: --after {page['next_after']}")


def _verdict(check: dict[str, Any]) -> str:
    chain = check["scope"] or "(service)"
    if check["ok"]:
        return f"chain {chain}: {check['entries']:,} entries intact, head {check['head_hash'][:16]}"
    return f"chain {chain}: [red]{len(check['problems'])} problem(s)[/red]"


def verify(
    agreement: str | None = CHAIN,
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """Have the service recompute a chain; exit 1 if an entry was edited, removed or reordered."""
    with client(url, api_key_file, ca_file=ca_file) as c:
        check = c.verify_audit(agreement)
    if as_json:
        print_json(check)
    else:
        console.print(_verdict(check))
        for problem in check["problems"]:
            console.print(f"  {escape(problem)}")
    if not check["ok"]:
        raise typer.Exit(1)


def checkpoint_command(
    out: Path = typer.Option(
        ..., "--out", help="JSON-lines file to append the checkpoint to ('-': stdout)."
    ),
    agreement: str | None = CHAIN,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """Fetch the chain's signed head and append it to --out; keep that file off the service."""
    from service._checkpoint_writer import append_checkpoints

    with client(url, api_key_file, ca_file=ca_file) as c:
        document = c.audit_checkpoint(agreement)
    if is_stdio(out):  # the line the file would get, for a store elsewhere
        typer.echo(json.dumps(document, sort_keys=True, separators=(",", ":")))
    else:
        append_checkpoints(out, [document])
    chain = document["scope"] or "(service)"
    console.print(
        f"chain {chain}: entry {document['seq']} signed by key {document['key_id']}, "
        f"{'printed' if is_stdio(out) else f'appended to {out}'}"
    )


def audit_key_command(
    key_file: Path | None = typer.Option(
        None, "--key-file", help="Default: CASELINK_AUDIT_KEY_FILE or STATE_DIR/audit-signing.key."
    ),
    create: bool = typer.Option(False, "--create", help="Make the key (mode 0600) if absent."),
) -> None:
    """Print the public key that checks the service's audit checkpoints (64 hex digits)."""
    from service._signing import load_signer

    path = _key_path(key_file)
    signer = load_signer(path, create=create)
    console.print(f"audit signing key {path}: key id {signer.key_id}; public key:")
    typer.echo(signer.public.hex)


def register(app: typer.Typer) -> None:
    """``audit show | verify | checkpoint`` on ``app``; ``admin audit-key`` on the service's
    admin group."""
    from service.cli import admin

    audit_app.command("show")(show)
    audit_app.command("verify")(verify)
    audit_app.command("checkpoint")(checkpoint_command)
    app.add_typer(audit_app, name="audit")
    admin.command("audit-key")(audit_key_command)
