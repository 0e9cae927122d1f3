"""`caselink admin data-keys`, `rotate-data-key` and `drop-data-key`: the keys at rest.

::

    caselink admin data-keys                 # the ring, and how many stored filters each key seals
    caselink admin rotate-data-key           # a new key; every stored filter re-encrypted under it
    caselink admin drop-data-key 3f9a1c2e    # once no stored filter needs it

The keys are the service's own (``CASELINK_DATA_KEY_FILE`` or ``CASELINK_DATA_KEYS``, see
:mod:`service._datakeys`); these commands work on the database directly, the service may run.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from caselink_errors import CaselinkError
from caselink_output import JSON, print_json

__all__ = ["register"]

console = Console(stderr=True, soft_wrap=True)
DB = typer.Option(None, "--database-url", help="Default: CASELINK_DATABASE_URL or ./caselink.db")


def _open(database_url: str | None):
    from service._admin import open_database
    from service._datakeys import inventory, load_cipher
    from service._settings import get_settings

    settings = get_settings()
    engine = open_database(database_url or settings.database_url)
    held = inventory(engine)
    return settings, engine, held, load_cipher(settings, held)


def data_keys(database_url: str | None = DB, as_json: bool = JSON) -> None:
    """List the data keys and how many stored filters each one seals."""
    _, engine, held, cipher = _open(database_url)
    engine.dispose()
    rows: list[tuple[str | None, str, int]] = []
    for key_id in cipher.ring.ids:
        role = "encrypts and decrypts" if key_id == cipher.ring.newest.key_id else "decrypts"
        rows.append((key_id, role, held.by_key.get(key_id, 0)))
    for key_id in sorted(set(held.by_key) - set(cipher.ring.ids)):
        rows.append((key_id, "missing from the ring", held.by_key[key_id]))
    if held.plain:
        rows.append((None, "in the clear", held.plain))
    if as_json:
        print_json([{"key_id": k, "role": r, "stored_filters": n} for k, r, n in rows])
        return
    table = Table("key id", "role", "stored filters")
    for key_id, role, n in rows:
        shown = role if key_id in cipher.ring.ids else f"[red]{role}"
        table.add_row(key_id or "(none)", shown, f"{n:,}")
    Console().print(table)


def rotate_data_key(
    no_new_key: bool = typer.Option(
        False, "--no-new-key", help="Re-encrypt under the ring's newest key; add no key."
    ),
    database_url: str | None = DB,
) -> None:
    """Add a new data key, then re-encrypt every stored filter under it (in chunks)."""
    from linkage.sealing import FilterCipher
    from service._rotation import reseal

    settings, engine, _, cipher = _open(database_url)
    try:
        if not no_new_key:
            if settings.data_keys is not None:
                raise CaselinkError(
                    "the data keys come from CASELINK_DATA_KEYS, which this command cannot "
                    "change: put a new key (64 hex characters, e.g. from `caselink keygen`) last "
                    "in it, then run `caselink admin rotate-data-key --no-new-key`"
                )
            cipher.ring.with_new_key().write(settings.data_key_file)
            cipher = FilterCipher.from_file(settings.data_key_file)
            console.print(f"added data key {cipher.ring.newest.key_id} to {settings.data_key_file}")
        with console.status("re-encrypting the stored filters"):
            report = reseal(engine, cipher)
    finally:
        engine.dispose()
    console.print(
        f"{report.resealed:,} stored filters re-encrypted under data key {report.key_id}"
        + (f" ({report.was_plain:,} had been stored in the clear)" if report.was_plain else "")
    )
    old = [k for k in report.unused if k != report.key_id]
    if old:
        console.print(
            f"no stored filter needs key(s) {', '.join(old)} any more: drop them with "
            "`caselink admin drop-data-key ID` — but keep a copy as long as you keep backups "
            "made before this rotation, which need them"
        )


def drop_data_key(
    key_id: str = typer.Argument(..., help="Id of the key to remove (caselink admin data-keys)."),
    database_url: str | None = DB,
) -> None:
    """Remove a data key from the key file; refused while a stored filter needs it."""
    from service._rotation import drop_key

    settings, engine, _, _ = _open(database_url)
    try:
        if settings.data_keys is not None:
            raise CaselinkError(
                "the data keys come from CASELINK_DATA_KEYS: remove the key "
                "from that variable instead"
            )
        kept = drop_key(engine, Path(settings.data_key_file), key_id.lower())
    finally:
        engine.dispose()
    console.print(
        f"dropped data key {key_id} from {settings.data_key_file}; "
        f"the ring holds {', '.join(kept.ids)}"
    )


def register(admin: typer.Typer) -> None:
    admin.command("data-keys")(data_keys)
    admin.command("rotate-data-key")(rotate_data_key)
    admin.command("drop-data-key")(drop_data_key)
