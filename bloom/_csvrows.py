"""True row numbers in a CSV register when some rows had to be skipped.

The streaming reader skips a row whose number of columns differs from the header's and, as
quoted values may hold line breaks, cannot say where that row was. Every row after it would
then be numbered one too low. When that happens the file is read once more, here, with the
standard csv module, only to count columns: the skipped rows get their true numbers and the
numbers of every other problem are moved past them.

A row number counts the records after the header from 1; a quoted line break does not start
a new row, and blank lines are not rows (the streaming reader skips them as well).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import cast

import numpy as np

__all__ = ["renumber", "uneven_rows"]


def uneven_rows(src: Path, encoding: str) -> list[int]:
    """Numbers of the rows whose column count differs from the header's."""
    with open(src, newline="", encoding=encoding, errors="replace") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        rows = (row for row in reader if row)  # blank lines are not rows
        return [k for k, row in enumerate(rows, start=1) if len(row) != len(header)]


def renumber(rows: Iterable[int], skipped: list[int]) -> list[int]:
    """Numbers counted among the rows read (from 1) as numbers among all rows.

    ``skipped`` are the true numbers of the rows the reader left out. Before the ``j``-th of
    them (from 0) come ``skipped[j] - j - 1`` rows read; a row read as ``k`` moves past every
    skipped row with fewer rows read before it than ``k``.
    """
    read = np.asarray(list(rows), dtype=np.int64)
    ahead = np.asarray(sorted(skipped), dtype=np.int64) - np.arange(len(skipped)) - 1
    return cast(list[int], (read + np.searchsorted(ahead, read, side="left")).tolist())
