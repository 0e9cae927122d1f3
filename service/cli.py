"""`caselink serve`, `caselink admin ...` and the client commands of the service."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from caselink_errors import CaselinkError
from caselink_output import JSON, print_json
from service._keys import ROLES

__all__ = ["register"]

console = Console(stderr=True, soft_wrap=True)
admin = typer.Typer(
    help="Operate the service's database directly (no key needed).", no_args_is_help=True
)
DB = typer.Option(None, "--database-url", help="Default: CASELINK_DATABASE_URL or ./caselink.db")
PUBLIC_KEY_HELP = (
    "With --against: the public key 'caselink admin audit-key' printed (hex, or a file "
    "holding it); default: the public half of the service's key file."
)


def _prepare(settings):
    """Migrate, then open the data keys against what the database holds: a missing key is a
    plain error before anything starts (not a traceback from the app's start-up)."""
    from service._datakeys import open_cipher
    from service._db import make_engine, migrate

    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        return open_cipher(settings, engine)
    finally:
        engine.dispose()


def serve(
    host: str = typer.Option(None, "--host", help="Default: CASELINK_HOST or 127.0.0.1"),
    port: int = typer.Option(None, "--port", help="Default: CASELINK_PORT or 8000"),
    tls_cert: Path | None = typer.Option(
        None, "--tls-cert", help="PEM certificate chain: serve https (or CASELINK_TLS_CERT_FILE)."
    ),
    tls_key: Path | None = typer.Option(
        None, "--tls-key", help="PEM private key of --tls-cert (or CASELINK_TLS_KEY_FILE)."
    ),
) -> None:
    """Run the matching service (uvicorn) until stopped (Ctrl-C or SIGTERM)."""
    import uvicorn

    from service._logging import configure_logging
    from service._settings import get_settings
    from service._tls import server_tls
    from service.api import create_app

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    host, port = host or settings.host, port or settings.port
    tls = server_tls(tls_cert or settings.tls_cert_file, tls_key or settings.tls_key_file)
    # Bind before the app starts: Ray's processes, started by the app, take free ports, and
    # one of them must not take ours in the seconds before uvicorn would have bound it.
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so; without it every
    # answer after the first on a kept-alive connection waited 40 ms (Nagle, delayed ACK).
    sock = socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)  # listening now: a second bind of this port fails at once
    except OSError as e:
        raise CaselinkError(f"--port: cannot listen on {host}:{port} ({e.strerror})") from e
    # uvicorn re-raises SIGTERM into the handler it found once it has shut down gracefully:
    # let that be a clean exit (status 0), not death by the default handler (143).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    scheme, shown = ("https" if tls else "http"), (f"[{host}]" if ":" in host else host)
    logging.getLogger("caselink.serve").info(
        "caselink serves at %s://%s:%s (API docs at /docs)", scheme, shown, port
    )
    config = uvicorn.Config(
        create_app(settings, cipher=_prepare(settings)),
        host=host,
        port=port,
        log_config=None,
        log_level=settings.log_level.lower(),
        **tls,  # type: ignore[arg-type]
    )
    uvicorn.Server(config).run(sockets=[sock])


def _engine(url: str | None):
    from service._admin import open_database
    from service._settings import get_settings

    return open_database(url or get_settings().database_url)


@admin.command("create-agency")
def create_agency(
    name: str = typer.Argument(..., help="Agency name, as in its batch files."),
    role: str = typer.Option(
        "steward",
        "--role",
        help=f"One of {', '.join(ROLES)}; admin is the operator's key to every agency's keys.",
    ),
    key_out: Path | None = typer.Option(
        None,
        "--key-out",
        help="Write the new key to this file (mode 0600, never replaced) instead of printing it.",
    ),
    database_url: str | None = DB,
) -> None:
    """Create an agency (or add a key to one) and print its new API key, once."""
    from service._admin import bootstrap_agency

    if role not in ROLES:
        raise typer.BadParameter(f"use one of {', '.join(ROLES)}", param_hint="--role")
    if key_out is not None and key_out.exists():
        raise typer.BadParameter(
            f"{key_out} exists already; name a new file", param_hint="--key-out"
        )
    issued = bootstrap_agency(_engine(database_url), name, role)
    if key_out is not None:
        _write_private(key_out, issued.api_key + "\n")
        console.print(
            f"agency {issued.agency}: key {issued.key_id} with role {issued.role}, written to "
            f"{key_out} (readable by you only). It is not shown anywhere else."
        )
        return
    console.print(
        f"agency {issued.agency}: key {issued.key_id} with role {issued.role}. "
        "The key is shown once; store it now:"
    )
    typer.echo(issued.api_key)


def _write_private(path: Path, text: str) -> None:
    """Write a new file readable by its owner only (mode 0600); never replace one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


@admin.command("migrate")
def migrate_db(database_url: str | None = DB) -> None:
    """Bring the database to the newest schema (the service also does it at start-up)."""
    _engine(database_url)
    console.print("database schema is current")


@admin.command("verify-audit")
def verify_audit(
    agreement: str | None = typer.Option(None, "--agreement", help="One agreement only."),
    against: Path | None = typer.Option(
        None, "--against", help="Kept checkpoints: one JSON checkpoint or a JSON-lines file."
    ),
    public_key: str | None = typer.Option(None, "--public-key", help=PUBLIC_KEY_HELP),
    database_url: str | None = DB,
    as_json: bool = JSON,
) -> None:
    """Recompute every audit chain; exit 1 when any entry was edited, removed or reordered, or
    (--against) a chain is shorter than a kept checkpoint or differs from it."""
    from service._admin import verify_all
    from service._audit_journal import AuditJournal
    from service._settings import get_settings
    from service.cli_audit import load_kept

    kept = load_kept(against, public_key) if against is not None else None
    journal = AuditJournal(get_settings().audit_journal_dir)
    engine = _engine(database_url)
    try:
        checks = verify_all(engine, agreement, kept, record=True)
        with engine.connect() as conn:
            waiting = journal.waiting(conn)
    finally:
        engine.dispose()
    damaged = journal.damaged()
    if as_json:
        print_json(
            {
                "ok": all(c.ok for c in checks) and not damaged,
                "chains": [
                    {
                        "scope": c.scope,
                        "entries": c.entries,
                        "head_hash": c.head_hash,
                        "ok": c.ok,
                        "problems": list(c.problems),
                    }
                    for c in checks
                ],
                "kept_checkpoints": None if kept is None else kept.count,
                "journal_waiting": waiting,
                "journal_damaged": [str(p) for p in damaged],
            }
        )
        if not all(c.ok for c in checks) or damaged:
            raise typer.Exit(1)
        return
    table = Table("chain", "entries", "head hash", "result")
    for c in checks:
        table.add_row(
            c.scope or "(service)",
            str(c.entries),
            c.head_hash[:16],
            "ok" if c.ok else "[red]" + "; ".join(c.problems),
        )
    Console().print(table)
    if kept is not None:
        console.print(
            f"checked against {kept.count} kept checkpoint(s) of "
            f"{len(kept.scopes)} chain(s) in {against}"
        )
    if waiting:
        console.print(
            f"{waiting} audit entries wait in the audit journal ({journal.directory});"
            " the service folds them into their chains when it next starts"
        )
    for path in damaged:
        console.print(
            f"[red]audit journal {path.name} was edited after it was written: its "
            "entries are not in any chain; keep the file as evidence"
        )
    if not all(c.ok for c in checks) or damaged:
        raise typer.Exit(1)


@admin.command("backup")
def backup_db(
    out: Path = typer.Option(..., "--out", help="Backup file to write (SQLite)."),
    force: bool = typer.Option(False, "--force", help="Replace the backup file if it exists."),
    database_url: str | None = DB,
) -> None:
    """Back up the SQLite database, online; the file appears only once it is checked."""
    from service._backup import backup
    from service._settings import get_settings

    r = backup(database_url or get_settings().database_url, out, force=force)
    console.print(
        f"backup {r.path}: {r.bytes:,} bytes, schema {r.revision}, "
        f"{r.audit_entries:,} audit entries verified"
    )


@admin.command("restore")
def restore_db(
    backup_file: Path = typer.Argument(..., help="A file made by caselink admin backup."),
    database_url: str | None = DB,
) -> None:
    """Restore the SQLite database from a checked backup (stop the service first)."""
    from service._backup import restore
    from service._settings import get_settings

    r = restore(backup_file, database_url or get_settings().database_url)
    console.print(
        f"restored from {backup_file}: schema {r.revision}, "
        f"{r.audit_entries:,} audit entries verified"
    )


def register(app: typer.Typer) -> None:
    from service import (
        cli_agreements,
        cli_apikeys,
        cli_audit,
        cli_client,
        cli_consent,
        cli_keys,
        cli_ops,
        cli_query,
        cli_review,
        cli_runs,
        cli_withdraw,
    )

    app.command("serve")(serve)
    app.add_typer(admin, name="admin")
    cli_client.register(app)  # upload, cases; the agency and agreement groups
    cli_runs.register(app)
    cli_agreements.register(app)  # agreement list, show, amend; summary
    cli_apikeys.register(app)  # keys; agency list
    cli_withdraw.register(app)
    cli_consent.register(app)  # consent set
    cli_ops.register(app)  # admin sweep
    cli_query.register(app)
    cli_audit.register(app)  # audit show, verify, checkpoint; admin audit-key
    cli_keys.register(admin)  # admin data-keys, rotate-data-key, drop-data-key
    cli_review.register(app)  # review list, decide, labels
