"""`caselink keys list | rotate | revoke` and `caselink agency list`, through a running service.

::

    caselink keys list [--json]                        # the keys you manage; never a key itself
    caselink keys rotate [KEY_ID] --key-out new.key    # default: the key you call with
    caselink keys revoke KEY_ID

An admin manages every key, a steward its own agency's, and any key may rotate itself. A
rotated key stops working at once: its successor is written, mode 0600, to ``--key-out``
(``-``: stdout) and shown nowhere else. (The data keys that seal stored filters are
``caselink admin data-keys``.)
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from caselink_errors import CaselinkError
from caselink_output import JSON, is_stdio, print_json
from service.cli_client import CA, KEY, URL, agency_app, client, write_key

__all__ = ["register"]

console = Console(stderr=True, soft_wrap=True)
keys_app = typer.Typer(
    help="API keys: list, rotate, revoke (admins, stewards; a key itself).", no_args_is_help=True
)


@keys_app.command("list")
def list_keys(
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """The keys you manage: every agency's (admins) or your agency's (stewards)."""
    with client(url, api_key_file, ca_file=ca_file) as c:
        keys = c.list_keys()
    if as_json:
        print_json(keys)
        return
    table = Table("key id", "agency", "role", "created", "revoked")
    for k in keys:
        table.add_row(k["key_id"], k["agency"], k["role"], k["created_at"], k["revoked_at"] or "-")
    Console().print(table)


@keys_app.command("rotate")
def rotate(
    key_id: str | None = typer.Argument(
        None, help="Id of the key to replace (key_...); default: the key you call with."
    ),
    key_out: Path = typer.Option(
        ..., "--key-out", help="Write the new key here (mode 0600; '-': stdout)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace --key-out if it exists."),
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """Replace a key by a new one of the same agency and role; the old one stops at once."""
    if not is_stdio(key_out):  # checked before the old key is gone
        if key_out.exists() and not force:
            raise typer.BadParameter(
                f"{key_out} exists already; name a new file or give --force",
                param_hint="--key-out",
            )
        if not os.access(key_out.parent, os.W_OK):
            raise typer.BadParameter(
                f"cannot write in {key_out.parent}; name a file in a folder you can write",
                param_hint="--key-out",
            )
    with client(url, api_key_file, ca_file=ca_file) as c:
        target = key_id or c.me()["key_id"]
        issued = c.rotate_key(target)
    try:
        write_key(key_out, issued["api_key"], replace=force)
    except CaselinkError as e:  # the old key is gone already: the new one must not be lost
        console.print(f"[red]{e}[/red]; the new key, shown this once:")
        typer.echo(issued["api_key"])
        raise typer.Exit(1) from None
    where = "stdout" if is_stdio(key_out) else f"{key_out} (readable by you only)"
    console.print(
        f"key {target} of agency {issued['agency']} ({issued['role']}) no longer works; "
        f"its successor {issued['key_id']} is written to {where}"
    )


@keys_app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="Id of the key to revoke (key_...)."),
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """Revoke a key at once (admins any key, stewards their agency's)."""
    with client(url, api_key_file, ca_file=ca_file) as c:
        k = c.revoke_key(key_id)
    console.print(
        f"key {k['key_id']} of agency {k['agency']} ({k['role']}) revoked at {k['revoked_at']}"
    )


def list_agencies(
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """Every agency's name, to name the parties of an agreement (admins, stewards)."""
    with client(url, api_key_file, ca_file=ca_file) as c:
        found = c.agencies()
    if as_json:
        print_json(found)
        return
    table = Table("agency", "created")
    for a in found:
        table.add_row(a["name"], a["created_at"])
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    agency_app.command("list")(list_agencies)
