"""The audit anchoring commands: ``caselink audit checkpoint`` (a party keeps a signed head,
through a running service) and ``caselink admin audit-key`` (the operator prints the public
key that checks them). ``caselink admin verify-audit --against`` loads kept checkpoints with
:func:`load_kept`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

__all__ = ["load_kept", "register"]

console = Console(stderr=True, soft_wrap=True)
audit_app = typer.Typer(help="The audit chains: keep signed checkpoints.", no_args_is_help=True)


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


def checkpoint_command(
    out: Path = typer.Option(..., "--out", help="JSON-lines file to append the checkpoint to."),
    agreement: str | None = typer.Option(
        None, "--agreement", help="Agreement id (agr_...); default: the service's own chain."
    ),
    url: str | None = typer.Option(None, "--url", help="Service URL (or CASELINK_URL)."),
    api_key_file: Path | None = typer.Option(None, "--api-key-file", help="Your API key file."),
) -> None:
    """Fetch the chain's signed head and append it to --out; keep that file off the service."""
    from service._checkpoint_writer import append_checkpoints
    from service.cli_client import client

    with client(url, api_key_file) as c:
        document = c.audit_checkpoint(agreement)
    append_checkpoints(out, [document])
    chain = document["scope"] or "(service)"
    console.print(
        f"chain {chain}: entry {document['seq']} signed by key {document['key_id']}, "
        f"appended to {out}"
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
    """``audit checkpoint`` on ``app``; ``admin audit-key`` on the service's admin group."""
    from service.cli import admin

    audit_app.command("checkpoint")(checkpoint_command)
    app.add_typer(audit_app, name="audit")
    admin.command("audit-key")(audit_key_command)
