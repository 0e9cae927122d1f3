"""The privacy table of ``caselink bench --only privacy``: one row per setting, every attack at
several sizes, linkage F1 on three datasets, and the Pareto front.

Per setting (a ``person`` and a ``febrl`` schema, :mod:`evaluation._privacy_settings`):

* **F1** (``f1_febrl4``, ``f1_febrl3``, ``f1_synthetic``), computed once, since it does not
  depend on the attack's size (:func:`evaluation._privacy_f1.dataset_f1`);
* **the attacks** of :func:`evaluation._attack.privacy_table` on agency A's synthetic register
  cut to each size in records (``freq_given@5000``, ``attr_sex@50000``,
  ``graph_overlap_reidentified@200000``, ...): the adaptive frequency attack, attribute
  exposure per field, the graph attack with the records' own plaintext and with partial
  overlap. A setting may be left out at some sizes (``only_at``); its cells there are empty;
* ``reid_names``: the strongest name re-identification measured (the larger of given and
  family, over the sizes), ``f1_worst``: the lowest of the three F1, and ``pareto``: whether
  the setting is on the front (:mod:`evaluation._privacy_pareto`).

Public API::

    table = privacy_bench(sizes=(5000,), plot=Path("bench/privacy_pareto.png"))
    table.attrs   # sizes, settings measured at each, per-size attack facts, seed
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import numbers
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation._attack import privacy_table
from evaluation._privacy_f1 import F1_COLUMNS, dataset_f1
from evaluation._privacy_pareto import pareto_front, plot_pareto
from evaluation._privacy_settings import MAIN_SETTINGS, SchemaLike, setting_schemas

__all__ = [
    "DEFAULT_ONLY_AT",
    "DEFAULT_SIZES",
    "privacy_bench",
    "privacy_figures",
    "privacy_frame",
    "size_column",
]

logger = logging.getLogger(__name__)

DEFAULT_SIZES = (5_000, 50_000, 200_000)
# 200,000 records took 28-92 minutes a setting on two shared cores (load 3-13): the main rows
DEFAULT_ONLY_AT: Mapping[int, tuple[str, ...]] = {200_000: MAIN_SETTINGS}
_ATTACK_OPTIONS = frozenset({"graph_records", "rounds", "known"})
_RECORDS_PER_PERSON = 0.6  # agency A holds about 0.64 of the people of three agencies


def size_column(column: str, size: int) -> str:
    """The table's column of an attack column measured at ``size`` records."""
    return f"{column}@{size}"


def _is_int(value: object, low: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low


def _check(
    sizes: object, seed: object, only_at: object, attack: object, cells: object, plot: object
) -> None:
    problems = []
    if (
        not isinstance(sizes, Sequence)
        or isinstance(sizes, str)
        or not sizes
        or not all(_is_int(s, 100) for s in sizes)
    ):
        problems.append("sizes must be a non-empty sequence of integers of 100 or more")
    elif len(set(sizes)) != len(sizes):
        problems.append("sizes must not repeat a size")
    if not _is_int(seed, 0):
        problems.append("seed must be an integer of 0 or more")
    if not isinstance(only_at, Mapping):
        problems.append("only_at must map sizes to the settings measured at them")
    elif isinstance(sizes, Sequence) and any(k not in sizes for k in only_at):
        problems.append("only_at names a size that is not in sizes")
    if not isinstance(attack, Mapping) or not set(attack) <= _ATTACK_OPTIONS:
        problems.append(f"attack may only set {', '.join(sorted(_ATTACK_OPTIONS))}")
    for name, value in (("cells", cells), ("plot", plot)):
        if value is not None and not isinstance(value, str | os.PathLike):
            problems.append(f"{name} must be a path or None")
    if problems:
        raise ValueError("bad parameters for privacy_bench: " + "; ".join(problems))


class _Cells:
    """Finished pieces of the table, one JSON file each, so a long run can be resumed; a
    piece's key is a digest of everything it depends on (schemas' fingerprints included)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: Mapping[str, Any]) -> Path | None:
        if self.folder is None:
            return None
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        return self.folder / f"{key['kind']}-{digest}.json"

    def get(self, key: Mapping[str, Any]) -> Any:
        path = self._path(key)
        if path is None or not path.exists():
            return None
        return json.loads(path.read_text())["value"]

    def put(self, key: Mapping[str, Any], value: Any) -> None:
        path = self._path(key)
        if path is None:
            return
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key, "value": value}, default=float) + "\n")
        tmp.replace(path)


def _f1_rows(schemas: Mapping[str, tuple[Any, Any]], cells: _Cells) -> dict[str, dict]:
    out = {}
    for name, (person, febrl) in schemas.items():
        key = {"kind": "f1", "person": person.fingerprint, "febrl": febrl.fingerprint}
        row = cells.get(key)
        if row is None:
            start = time.perf_counter()
            row = dict(zip(F1_COLUMNS, dataset_f1(person, febrl), strict=True))
            row["f1_seconds"] = round(time.perf_counter() - start, 1)
            cells.put(key, row)
            logger.info("privacy bench: F1 of %s: %s", name, row)
        out[name] = row
    return out


def _attack_rows(
    schemas: Mapping[str, Any], size: int, seed: int, attack: Mapping[str, Any], cells: _Cells
) -> tuple[dict[str, dict], dict[str, Any]]:
    """Every named setting attacked at ``size`` records: rows by name, and the size's facts."""

    def key(name: str | None) -> dict[str, Any]:
        fp = schemas[name].fingerprint if name is not None else None
        return {
            "kind": "attack" if name else "facts",
            "person": fp,
            "size": size,
            "seed": seed,
            **attack,
        }

    rows = {name: cells.get(key(name)) for name in schemas}
    facts = cells.get(key(None))
    todo = {name: schemas[name] for name, row in rows.items() if row is None}
    if todo:
        logger.info("privacy bench: %s records, attacking %s", size, ", ".join(todo))

        def done(row: dict[str, Any], attrs: dict[str, Any]) -> None:
            cells.put(key(row["setting"]), row)
            cells.put(key(None), attrs)

        table = privacy_table(
            math.ceil(size / _RECORDS_PER_PERSON) + 100,
            seed,
            settings=todo,
            records=size,
            overlap_records=size,
            on_row=done,
            **attack,
        )
        rows |= {r["setting"]: r for r in table.to_dict(orient="records")}
        facts = dict(table.attrs)
    return rows, facts or {}


def privacy_bench(
    sizes: Sequence[int] = DEFAULT_SIZES,
    settings: Mapping[str, tuple[SchemaLike, SchemaLike]] | None = None,
    *,
    seed: int = 0,
    only_at: Mapping[int, Sequence[str]] | None = None,
    attack: Mapping[str, Any] | None = None,
    cells: Path | None = None,
    plot: Path | None = None,
) -> pd.DataFrame:
    """The privacy table: one row per setting (default: every entry of
    :func:`~evaluation._privacy_settings.privacy_settings`), attacked at each of ``sizes``
    records (``only_at``: size -> the settings measured at that size, the others left empty;
    default :data:`DEFAULT_ONLY_AT` with the default sizes, else every setting everywhere).
    ``attack``: ``graph_records``, ``rounds`` or ``known`` for
    :func:`~evaluation._attack.privacy_table`. ``cells``: a folder keeping each finished piece,
    so that a run cut short resumes where it stopped. ``plot``: where to write the Pareto plot
    (none if ``None``). ``table.attrs`` gives the sizes, the settings measured at each, each
    size's facts (records attacked, random rates, names in the public lists) and the seed."""
    if only_at is None:
        only_at = DEFAULT_ONLY_AT if tuple(sizes) == DEFAULT_SIZES else {}
    attack = {} if attack is None else attack
    _check(sizes, seed, only_at, attack, cells, plot)
    schemas = setting_schemas(settings)
    unknown = sorted({n for names in only_at.values() for n in names} - set(schemas))
    if unknown:
        raise ValueError(f"only_at names settings that are not in settings: {unknown}")
    store = _Cells(Path(cells) if cells is not None else None)
    f1 = _f1_rows(schemas, store)
    table = pd.DataFrame({"setting": list(schemas)})
    for c in (*F1_COLUMNS, "f1_seconds"):
        table[c] = [f1[n][c] for n in schemas]
    measured, facts = {}, {}
    for size in sizes:
        names = [n for n in schemas if n in only_at.get(size, schemas)]
        rows, facts[size] = _attack_rows(
            {n: schemas[n][0] for n in names}, int(size), int(seed), attack, store
        )
        measured[size] = names
        columns = [c for c in next(iter(rows.values())) if c != "setting"] if rows else []
        for c in columns:
            table[size_column(c, size)] = [rows[n][c] if n in rows else np.nan for n in schemas]
    freq = [size_column(f"freq_{w}", s) for s in sizes for w in ("given", "family")]
    table["reid_names"] = table[[c for c in freq if c in table]].max(axis=1, skipna=True)
    table["f1_worst"] = table[list(F1_COLUMNS)].min(axis=1)
    table["pareto"] = pareto_front(table["reid_names"], table["f1_worst"])
    table.attrs = {
        "sizes": [int(s) for s in sizes],
        "settings_at": {int(s): names for s, names in measured.items()},
        "attack_facts": {int(s): f for s, f in facts.items()},
        "seed": int(seed),
        **({"plot": str(plot)} if plot is not None else {}),
    }
    if plot is not None:
        plot_pareto(table, Path(plot))
    return table


def privacy_figures(table: pd.DataFrame) -> dict[str, Any]:
    """The table as JSON-ready figures: ``rows`` (rounded; an unmeasured cell is ``None``) and
    the attrs, sizes as strings."""
    rows = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in table.round(4).to_dict(orient="records")
    ]
    attrs = json.loads(json.dumps(table.attrs, default=str))
    return {"rows": rows, **attrs}


def privacy_frame(figures: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`privacy_figures` read back into a table (for the report and the plot)."""
    if not isinstance(figures, Mapping) or not isinstance(figures.get("rows"), list):
        raise ValueError("figures must be the privacy section of bench/results.json")
    table = pd.DataFrame(figures["rows"])
    table.attrs = {k: v for k, v in figures.items() if k != "rows"}
    return table
