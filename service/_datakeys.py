"""The service's data keys: where they come from, and the check before the service starts.

Every filter the service stores (``batch_records.bloom`` until a run moves it into the
registry, ``registry_records.bloom`` after) is sealed with a :class:`linkage.FilterCipher`,
so a stolen database file or backup holds no filter in the clear. The keys come from
``CASELINK_DATA_KEYS`` or from the key file ``CASELINK_DATA_KEY_FILE`` (default
``$XDG_CONFIG_HOME/caselink/data-keys``, never beside the database), not both.

:func:`open_cipher` decides, from what the database holds (:func:`inventory`):

- a key file that is not there is made, with one new key (mode 0600, folder 0700), only while
  the database holds no encrypted filter, and a warning says to back it up;
- encrypted filters and no key file, or a ring without a key they name: the service refuses
  to start (:class:`linkage.DataKeyError`) and says which key ids it needs;
- filters stored in the clear (a database from before encryption at rest): it refuses too,
  and says to encrypt them with ``caselink admin rotate-data-key``.

It never writes a filter in the clear, and never makes a key that would hide a lost one.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from linkage import DataKeyError, DataKeyRing, Registry
from linkage.sealing import VERSION, FilterCipher, count_heads
from service._settings import Settings
from service._tables import batch_records

__all__ = ["Inventory", "inventory", "key_problems", "load_cipher", "open_cipher"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inventory:
    """What the stored filters are: sealed under which key ids, in the clear, or neither."""

    by_key: dict[str, int] = field(default_factory=dict)
    plain: int = 0
    unknown: int = 0

    @property
    def sealed(self) -> int:
        return sum(self.by_key.values())


def inventory(engine: sa.Engine) -> Inventory:
    """Count the stored filters of both tables by key id (a full scan of each)."""
    heads: Counter = Counter()
    with engine.connect() as conn:
        for column in (batch_records.c.bloom, Registry.sealed_column().column):
            heads.update(count_heads(conn, column))
    by_key: dict[str, int] = {}
    plain = unknown = 0
    for head, n in heads.items():
        if head == b"plain":
            plain += n
        elif head is not None and len(head) == 5 and head[0] == VERSION:
            by_key[head[1:].hex()] = by_key.get(head[1:].hex(), 0) + n
        else:
            unknown += n
    return Inventory(by_key, plain, unknown)


def key_problems(held: Inventory, ring: DataKeyRing, *, plain_ok: bool = False) -> list[str]:
    """Why ``ring`` cannot serve the stored filters ``held`` (empty: it can)."""
    problems = []
    missing = {k: n for k, n in held.by_key.items() if ring.get(k) is None}
    if missing:
        problems.append(
            f"the database holds {sum(missing.values()):,} filters encrypted under data key(s) "
            f"{', '.join(sorted(missing))}, which the key ring ({', '.join(ring.ids)}) does "
            "not hold: restore the data-key file that has them (CASELINK_DATA_KEY_FILE)"
        )
    if held.plain and not plain_ok:
        problems.append(
            f"the database holds {held.plain:,} filters in the clear (stored before encryption "
            "at rest); encrypt them with `caselink admin rotate-data-key` while the service is "
            "stopped, then start it again"
        )
    if held.unknown:
        problems.append(
            f"{held.unknown:,} stored filters have no known format; the database "
            "was altered — restore it from a backup"
        )
    return problems


def load_cipher(settings: Settings, held: Inventory) -> FilterCipher:
    """The cipher of the configured keys; makes the key file only while nothing is sealed."""
    if settings.data_keys is not None:
        if "data_key_file" in settings.model_fields_set:
            raise DataKeyError("set CASELINK_DATA_KEYS or CASELINK_DATA_KEY_FILE, not both")
        return FilterCipher(DataKeyRing.from_env(settings.data_keys.get_secret_value()))
    path = settings.data_key_file
    if not path.exists():
        if held.sealed:
            raise DataKeyError(
                f"the database holds {held.sealed:,} encrypted filters (data key(s) "
                f"{', '.join(sorted(held.by_key))}) and there is no data-key file at {path}: "
                "restore it from its backup, or point CASELINK_DATA_KEY_FILE at it"
            )
        _make_key_file(path)
    _warn_if_exposed(path, settings.database_url)
    return FilterCipher.from_file(path)


def _make_key_file(path: Path) -> None:
    try:
        DataKeyRing.generate().write(path, exclusive=True)
    except DataKeyError:
        return  # another process made it meanwhile: that one is used
    except OSError as e:
        raise DataKeyError(
            f"cannot make the data-key file {path} ({e.strerror}); set CASELINK_DATA_KEY_FILE "
            "to a file in a folder of its own, apart from the database"
        ) from e
    logger.warning(
        "made a new data key in %s: back this file up now, apart from the database and its "
        "backups — without it no stored filter can be read",
        path,
    )


def _warn_if_exposed(path: Path, database_url: str) -> None:
    url = sa.make_url(database_url)
    local = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if local and Path(str(url.database)).resolve().parent == path.resolve().parent:
        logger.warning(
            "the data-key file %s is in the database's folder: whoever copies the folder "
            "has both; keep the key elsewhere (CASELINK_DATA_KEY_FILE)",
            path,
        )
    if path.stat().st_mode & 0o077:
        logger.warning("the data-key file %s can be read by other users; chmod 600 it", path)


def open_cipher(settings: Settings, engine: sa.Engine) -> FilterCipher:
    """The service's cipher, once the database's filters are known to be readable with it;
    raises :class:`linkage.DataKeyError` (the service must not start) otherwise."""
    held = inventory(engine)
    cipher = load_cipher(settings, held)
    problems = key_problems(held, cipher.ring)
    if problems:
        raise DataKeyError("the service cannot start: " + "; ".join(problems))
    logger.info(
        "data keys: %s (newest %s); %s stored filters, all encrypted",
        ", ".join(cipher.ring.ids),
        cipher.ring.newest.key_id,
        f"{held.sealed:,}",
    )
    return cipher
