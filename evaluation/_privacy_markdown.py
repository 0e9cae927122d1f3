"""The privacy table in a compact Markdown form, for the evaluation report and the README.

One row per setting: names re-identified (given / family) at each size, the strongest
attribute exposure of sex, birth year and place, the strongest graph attack, F1 on the three
datasets, and whether the setting is on the Pareto front. The full table, every column at
every size, is in ``bench/results.json`` (section ``privacy``).
"""

from __future__ import annotations

import math

import pandas as pd

from evaluation._privacy_bench import size_column

__all__ = ["privacy_markdown"]

_ATTRS = ("attr_sex", "attr_birth_year", "attr_place_of_birth")
_GRAPH = ("graph_records", "graph_overlap_reidentified", "graph_known_reidentified")


def _num(value: object, digits: int = 3) -> str:
    if _missing(value):
        return "–"
    return f"{float(value):.{digits}f}"


def _strongest(row: pd.Series, column: str, sizes: list[int]) -> float:
    values = [row.get(size_column(column, s)) for s in sizes]
    found = [float(v) for v in values if not _missing(v)]
    return max(found) if found else math.nan


def _sizes(table: pd.DataFrame) -> list[int]:
    sizes = table.attrs.get("sizes")
    if not sizes:
        raise ValueError("table.attrs must name the sizes the attacks ran at")
    return [int(s) for s in sizes]


def privacy_markdown(table: pd.DataFrame) -> str:
    """The compact table (see the module's docstring), as Markdown."""
    sizes = _sizes(table)
    head = [
        "setting",
        *(f"names at {s:,} (given / family)" for s in sizes),
        "exposure: sex / birth year / place",
        "graph: own records / overlap / overlap + 250 known",
        "F1: FEBRL4 / FEBRL3 ×3 / synthetic",
        "front",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for _, row in table.iterrows():
        names = [
            f"{_num(row.get(size_column('freq_given', s)))} / "
            f"{_num(row.get(size_column('freq_family', s)))}"
            if not _missing(row.get(size_column("freq_given", s)))
            else "–"
            for s in sizes
        ]
        cells = [
            str(row["setting"]),
            *names,
            " / ".join(_num(_strongest(row, c, sizes)) for c in _ATTRS),
            " / ".join(_num(_strongest(row, c, sizes)) for c in _GRAPH),
            " / ".join(_num(row[c], 4) for c in ("f1_febrl4", "f1_febrl3", "f1_synthetic")),
            "yes" if bool(row.get("pareto")) else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
