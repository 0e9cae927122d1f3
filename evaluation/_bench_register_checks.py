"""What the one-pass register checks cost inside ``encode_csv``, on a million-row register.

``encode_csv`` finds every problem of a register in the same pass that encodes it: a compiled
scanner reads the bytes as Arrow does (field counts, quotes, UTF-8, line numbers) and
duplicate refs are found from 128-bit keys. This section measures, on one synthetic register
(names drawn by frequency from the generator's name tables, sex, 80% ISO dates, 15% day-first,
5% year only, a place of birth):

* ``encode_csv`` in one process: CPU seconds and wall seconds (median of ``repeats`` runs
  after a warm-up), and microseconds of CPU per row;
* the checks alone on the same input: the scanner over the file's bytes (fed in the chunks
  ``encode_csv`` reads) and the ref keys of every record, CPU seconds (median);
* their share of ``encode_csv``'s CPU, ``checks / encode`` — the figure the README quotes.

Both are measured in this process one after another, so machine load affects both alike.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

import bloom
from bloom._arrowparse import string_keys
from bloom._csvscan import CsvScan
from bloom._encode import DEFAULT_CHUNK_BYTES
from evaluation._spelling import name_table

__all__ = ["bench_register_checks", "synthetic_register"]


def synthetic_register(rows: int, seed: int = 0) -> pd.DataFrame:
    """A register of ``rows`` people, names drawn by their listed frequencies (all traditions
    pooled), vectorised: a million rows in about a second."""
    rng = np.random.default_rng(seed)
    names = name_table()

    def draw(kind: str) -> np.ndarray:
        part = names[names["kind"] == kind]
        p = part["frequency"].to_numpy(dtype=np.float64)
        return part["name"].to_numpy()[rng.choice(len(part), size=rows, p=p / p.sum())]

    sex = rng.choice(np.array(["F", "M"]), size=rows)
    given = np.where(sex == "F", draw("given_female"), draw("given_male"))
    year = rng.integers(1940, 2024, size=rows)
    month = rng.integers(1, 13, size=rows)
    day = rng.integers(1, 29, size=rows)
    iso = pd.Series(year).astype(str) + "-" + _two(month) + "-" + _two(day)
    day_first = _two(day) + "/" + _two(month) + "/" + pd.Series(year).astype(str)
    kind = rng.random(rows)
    dates = np.where(kind < 0.80, iso, np.where(kind < 0.95, day_first, year.astype(str)))
    return pd.DataFrame(
        {
            "record_ref": [f"R{k:08d}" for k in range(rows)],
            "given_name": given,
            "family_name": draw("family"),
            "father_name": draw("given_male"),
            "sex": sex,
            "date_of_birth": dates,
            "place_of_birth": draw("place"),
        }
    )


def _two(values: np.ndarray) -> pd.Series:
    return pd.Series(values).astype(str).str.zfill(2)


def _encode_cpu(csv: Path, out: Path, schema: bloom.Schema) -> tuple[float, float]:
    secret = bloom.Secret(bytes(range(32)))
    cpu, wall = time.process_time(), time.perf_counter()
    bloom.encode_csv(csv, schema, secret, agency="bench", out=out, id_column="record_ref")
    return time.process_time() - cpu, time.perf_counter() - wall


def _checks_cpu(csv: Path, refs: pa.Array) -> float:
    cpu = time.process_time()
    scan = CsvScan(delimiter=ord(","))
    with csv.open("rb") as f:
        while chunk := f.read(DEFAULT_CHUNK_BYTES):
            scan.feed(chunk)
    scan.finish()
    string_keys(refs)
    return time.process_time() - cpu


def bench_register_checks(
    rows: int = 1_000_000, repeats: int = 5, schemas: tuple[str, ...] = ("person", "person-v1")
) -> dict[str, Any]:
    """CPU of ``encode_csv`` and of the register checks inside it (module docstring)."""
    frame = synthetic_register(rows)
    refs = pa.array(frame["record_ref"], type=pa.string())
    out: dict[str, Any] = {"rows": rows, "repeats": repeats, "chunk_bytes": DEFAULT_CHUNK_BYTES}
    with tempfile.TemporaryDirectory() as tmp:
        csv, dest = Path(tmp) / "register.csv", Path(tmp) / "out.parquet"
        frame.to_csv(csv, index=False)
        out["input_mb"] = round(csv.stat().st_size / 1e6, 1)
        _checks_cpu(csv, refs)  # warm-up: compiles the scanner
        for name in schemas:
            schema = bloom.Schema.load(name)
            _encode_cpu(csv, dest, schema)  # warm-up
            encode = [_encode_cpu(csv, dest, schema) for _ in range(repeats)]
            checks = [_checks_cpu(csv, refs) for _ in range(repeats)]
            cpu = statistics.median(c for c, _ in encode)
            check = statistics.median(checks)
            out[name] = {
                "encode_cpu_s": round(cpu, 2),
                "encode_wall_s": round(statistics.median(w for _, w in encode), 2),
                "encode_cpu_us_per_row": round(cpu / rows * 1e6, 2),
                "checks_cpu_s": round(check, 3),
                "checks_share_of_encode_cpu": round(check / cpu, 4),
            }
    return out
