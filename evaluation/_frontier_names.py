"""The names' frontier (issue 12): what keying the names by hidden values buys and costs.

An experiment module beside :mod:`evaluation._frontier` (whose F1 and exposure routines it
reuses). For a setting (a ``person`` and a ``febrl`` schema document) it measures, on agency-a's
batch of ``people`` synthetic people (seed 0):

* **adaptive**: the red team's frequency attack as shipped (:func:`frequency_attack`, which
  finds hidden key groups from the name bits, :mod:`evaluation._attack_adaptive_hidden`);
* **oracle (key)**: the attacker handed every record's true key (the names' salt value -- the
  exact year for year windows -- and the rekey's key fields), mining each group of 20 records
  or more on its own: the most any key-partitioning attack can get with mining;
* **oracle (window)**: for year-window salts, the records of one window ``y//2`` (two years)
  share half of every q-gram's positions; mining those with half the positions per q-gram
  pools twice the records;
* **guess**: the most frequent names guessed for everyone -- "under 1%" cannot go below it;
* **group sizes** of the true key, and the **key agreement** of true pairs (the share of pairs
  of one person's registrations at two agencies whose keys agree: a pair that disagrees loses
  the keyed segments);
* **attribute exposure** by grouping (sex, birth year, place) over all agencies' batches.

:func:`group_size_curve` is the law underneath: mining a random ``s`` records of an unhardened
batch is what an attacker who knows a salt group of ``s`` records can do.

``python -m evaluation._frontier_names names SETTING PEOPLE`` (and ``f1``, ``exposure``,
``curve``, ``agreement``) prints JSON lines with the load and the wall time.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import os
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import bloom
from bloom._tokens import parse_value, salt_value
from evaluation._attack import most_frequent_names
from evaluation._attack_adaptive_hidden import key_fields
from evaluation._attack_freq import frequency_attack
from evaluation._attack_names import PublicNames, public_names
from evaluation._frontier import (
    SECRET,
    _exposed_share,
    _share,
    _year,
    dataset_f1,
    encoded_attributes,
    grouping_exposure,
    scored_truth,
)
from evaluation._privacy_settings import V2, V2_NAMES_SALTED, _hardened, privacy_settings
from evaluation._synthetic import generate

__all__ = [
    "SETTINGS",
    "group_size_curve",
    "key_agreement",
    "name_reidentification",
    "settings",
    "true_keys",
]

MIN_ORACLE = 20  # true key groups smaller than this get the guess
_BUNDLED = Path(__file__).resolve().parents[1] / "bloom" / "schemas"


def _v3(name: str) -> dict[str, Any]:
    return json.loads((_BUNDLED / f"{name}.json").read_text("utf-8"))


def _rekeyed_by_sex_only(person: dict[str, Any]) -> dict[str, Any]:
    """v2 (``person``) with the names left unsalted but rekeyed by sex (the key with no F1 cost
    beyond sex disagreements, and only two groups)."""
    out = copy.deepcopy(person)
    out["filter"]["segments"].append({"name": "key", "bits": 64})
    out["fields"].append(
        {"name": "sex_key", "column": "sex", "type": "category", "segment": "key", "weight": 4}
    )
    return _hardened(out, {"rekey": {"key": "key", "segments": ["name"]}})


def _day_month_keyed(doc: dict[str, Any], date_column: str) -> dict[str, Any]:
    """A v3 document whose rekey key also holds the unordered day and month of birth (groups
    of one year window, one day-month: a few records each at 50,000 people); the names are
    rekeyed by it (a document without a key segment gains one and the rekey step; febrl-v3
    is this over the year-window-keyed febrl names)."""
    out = copy.deepcopy(doc)
    if not any(s["name"] == "key" for s in out["filter"]["segments"]):
        out["filter"]["segments"].append({"name": "key", "bits": 64})
        out["hardening"] = {"rekey": {"key": "key", "segments": ["name"]}}
    date = next(
        f
        for f in out["fields"]
        if f.get("column", f["name"]) == date_column and f["type"] == "date"
    )
    out["fields"].append(
        {
            "name": "day_month_key",
            "column": date_column,
            "type": "date",
            "segment": "key",
            "weight": 4,
            "date": copy.deepcopy(date["date"]),
            "tokenisers": [{"kind": "date", "parts": ["day_month"]}],
        }
    )
    return out


def settings() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    base = privacy_settings()
    p2, f2 = base[V2]
    return {
        "none": base["none"],
        "v2": (p2, f2),
        "v2 + names salted by year windows": base[V2_NAMES_SALTED],
        "v2 + names rekeyed by sex": (_rekeyed_by_sex_only(p2), f2),
        "v3 (person-v3, febrl-v3)": (_v3("person-v3"), _v3("febrl-v3")),
        "v3 + day-month key": (
            _day_month_keyed(_v3("person-v3"), "date_of_birth"),
            _v3("febrl-v3"),
        ),
    }


SETTINGS: tuple[str, ...] = tuple(settings())


@cache
def _data(people: int) -> Any:
    return generate(people, 3, seed=0)


def true_keys(register: pd.DataFrame, schema: bloom.Schema, *, window: bool = False) -> np.ndarray:
    """Per record, the values that key its given-name tokens: the field salt (the exact year
    for a year-window salt; with ``window``, the first window ``y//2``) and the rekey's key
    fields, joined; all empty when nothing keys the names."""
    parts: list[list[str]] = []
    by_name = {f.name: f for f in schema.fields}
    spec = schema.field("given_name").salt
    for k in key_fields(schema, schema.field("given_name").segment):
        f = by_name[k]
        values = []
        for raw in register[f.column]:
            parsed, status = parse_value("" if pd.isna(raw) else str(raw), f)
            values.append(_key_value(parsed if status == "ok" else None, f, spec, window))
        parts.append(values)
    if not parts:
        return np.full(len(register), "", dtype=object)
    return np.asarray(["|".join(p) for p in zip(*parts, strict=True)], dtype=object)


def _key_value(parsed: Any, f: Any, spec: Any, window: bool) -> str:
    """One key field's value as it keys the names: a date salting them by year windows gives
    its year (``window``: ``y//2``), a date in a rekey key gives the parts it hashes."""
    if f.type != "date":
        return salt_value(parsed, f, "full")
    if parsed is None:
        return ""
    y, m, d = parsed
    if spec is not None and f.name == spec.field:
        if spec.part in ("year", "year_window"):
            return "" if y is None else str(y // 2 if window else y)
        return salt_value(parsed, f, spec.part)
    hashed = {p for t in f.tokenisers for p in t.parts}
    out = []
    if "year" in hashed:
        out.append(str(y))
    if "day_month" in hashed and m is not None and d is not None:
        lo, hi = sorted((m, d))
        out.append(f"{lo}-{hi}")
    return "/".join(out)


def _oracle(
    filters: np.ndarray,
    schema: bloom.Schema,
    names: PublicNames,
    keys: np.ndarray,
    truth: dict[str, np.ndarray],
    min_group: int = MIN_ORACLE,
) -> tuple[float, float]:
    given, family = most_frequent_names(names)
    g = np.full(len(keys), given, dtype=object)
    f = np.full(len(keys), family, dtype=object)
    for key in pd.unique(keys):
        rows = np.flatnonzero(keys == key)
        if len(rows) >= min_group:
            part = frequency_attack(filters[rows], schema, names, adaptive=False)
            g[rows], f[rows] = part.given, part.family
    return _share(g, truth["given_name"]), _share(f, truth["family_name"])


def _sizes(keys: np.ndarray) -> dict[str, float]:
    counts = pd.Series(keys).value_counts().to_numpy()
    return {
        "key_groups": float(len(counts)),
        "group_median": float(np.median(counts)),
        "group_max": float(counts.max()),
        "share_in_groups_300_plus": float(counts[counts >= 300].sum() / counts.sum()),
    }


_SIZE_BINS = (0, 150, 200, 300, 400, 600, 800, 1200, 10**9)


def key_groups(person_doc: dict[str, Any], people: int) -> dict[str, float]:
    """The true key groups of agency-a's batch: sizes, and the share of records in groups of
    each size band (to read against :func:`group_size_curve`)."""
    register = _data(people).agencies["agency-a"]
    keys = true_keys(register, bloom.Schema.from_dict(person_doc))
    counts = pd.Series(keys).value_counts().to_numpy()
    out = _sizes(keys)
    for lo, hi in itertools.pairwise(_SIZE_BINS):
        inside = counts[(counts >= lo) & (counts < hi)]
        out[f"share_in_{lo}_to_{hi if hi < 10**9 else 'more'}"] = float(inside.sum() / len(keys))
    return out


def name_reidentification(
    person_doc: dict[str, Any],
    people: int,
    *,
    oracle: bool = True,
    min_oracle: int = MIN_ORACLE,
    window: bool = True,
    adaptive: bool = True,
) -> dict[str, float]:
    """Adaptive attack, oracles (unless ``oracle`` is false; groups of ``min_oracle`` records
    or more mined, the window oracle unless ``window`` is false) and guess on agency-a's batch
    of ``people`` synthetic people."""
    register = _data(people).agencies["agency-a"]
    schema = bloom.Schema.from_dict(person_doc)
    names = public_names(schema)
    truth = scored_truth(register, schema)
    filters = bloom.encode(register, schema, SECRET, agency="agency-a").filters
    out: dict[str, float] = {"records": float(len(register))}
    if adaptive:
        start = time.perf_counter()
        attack = frequency_attack(filters, schema, names)
        out |= {
            "adaptive_given": _share(attack.given, truth["given_name"]),
            "adaptive_family": _share(attack.family, truth["family_name"]),
            "adaptive_groups": float(attack.notes.get("salt_groups", 1.0)),
            "adaptive_seconds": round(time.perf_counter() - start, 1),
        }
    given, family = most_frequent_names(names)
    out["guess_given"] = _share(np.full(len(register), given), truth["given_name"])
    out["guess_family"] = _share(np.full(len(register), family), truth["family_name"])
    keys = true_keys(register, schema)
    if (keys == "").all() or not oracle:
        return out
    out |= _sizes(keys)
    start = time.perf_counter()
    out["oracle_min_group"] = float(min_oracle)
    found = _oracle(filters, schema, names, keys, truth, min_oracle)
    out["oracle_given"], out["oracle_family"] = found
    spec = schema.field("given_name").salt
    if window and spec is not None and spec.part == "year_window":
        wkeys = true_keys(register, schema, window=True)
        half = dataclasses.replace(names, weights=np.maximum(names.weights // 2, 1))
        out["oracle_window_given"], out["oracle_window_family"] = _oracle(
            filters, schema, half, wkeys, truth, min_oracle
        )
    out["oracle_seconds"] = round(time.perf_counter() - start, 1)
    return out


def group_size_curve(people: int, sizes: tuple[int, ...], reps: int = 1) -> list[dict[str, float]]:
    """Mining ``s`` random records of the unhardened ``person-v1`` batch (an attacker who knows a
    salt group of ``s`` records), mean re-identification over ``reps`` draws (one by default:
    the machine is shared)."""
    register = _data(people).agencies["agency-a"]
    schema = bloom.Schema.load("person-v1")
    names = public_names(schema)
    truth = scored_truth(register, schema)
    filters = bloom.encode(register, schema, SECRET, agency="agency-a").filters
    rng = np.random.default_rng(7)
    rows = []
    for s in sizes:
        g, f = [], []
        for _ in range(reps):
            idx = np.sort(rng.choice(len(register), size=min(s, len(register)), replace=False))
            a = frequency_attack(filters[idx], schema, names, adaptive=False)
            g.append(_share(a.given, truth["given_name"][idx]))
            f.append(_share(a.family, truth["family_name"][idx]))
        rows.append({"records": float(s), "given": float(np.mean(g)), "family": float(np.mean(f))})
    return rows


def key_agreement(person_doc: dict[str, Any], people: int) -> dict[str, float]:
    """Among pairs of one person's registrations at two agencies: the share whose names' key
    agrees exactly, and (year windows) the share sharing at least one window."""
    data = _data(people)
    schema = bloom.Schema.from_dict(person_doc)
    frames = []
    for agency, df in data.agencies.items():
        t = data.truth[data.truth["agency"] == agency].set_index("record_ref")["entity_id"]
        frames.append(
            pd.DataFrame(
                {
                    "entity": df["record_ref"].map(t).to_numpy(),
                    "agency": agency,
                    "key": true_keys(df, schema),
                    "window": true_keys(df, schema, window=True),
                    "window1": _second_window(df, schema),
                }
            )
        )
    all_ = pd.concat(frames, ignore_index=True)
    pairs = all_.merge(all_, on="entity")
    pairs = pairs[pairs["agency_x"] < pairs["agency_y"]]
    exact = (pairs["key_x"] == pairs["key_y"]).mean()
    one = (pairs["window_x"] == pairs["window_y"]) | (pairs["window1_x"] == pairs["window1_y"])
    return {
        "pairs": float(len(pairs)),
        "key_agrees": float(exact),
        "a_window_agrees": float(one.mean()),
    }


def _second_window(df: pd.DataFrame, schema: bloom.Schema) -> np.ndarray:
    """The key with the second window ``(y+1)//2`` in place of the year."""
    shifted = df.copy()
    spec = schema.field("given_name").salt
    if spec is None or spec.part != "year_window":
        return true_keys(df, schema)
    col = schema.field(spec.field).column
    years = _year(df[col], schema.field(spec.field).date_formats)
    shifted[col] = [str(y + 1) if y is not None else None for y in years]
    return true_keys(shifted, schema, window=True)


def exposure(person_doc: dict[str, Any], people: int) -> dict[str, float]:
    """Grouping exposure of sex, birth year and place (max over segments), all agencies."""
    records = _data(people).all_records()
    schema = bloom.Schema.from_dict(person_doc)
    filters, attrs = encoded_attributes(records, schema)
    found = grouping_exposure(filters, schema, attrs)
    return {a: max(v.values()) for a, v in found.items()} | {
        f"{a}@{seg}": v[seg] for a, v in found.items() for seg in v
    }


def exact_exposure(person_doc: dict[str, Any], people: int) -> dict[str, float]:
    """Exposure by exact-equal segment patterns only, per attribute and segment: a lower bound
    of :func:`exposure` that stays cheap at 50,000 people (no near-identical chaining)."""
    records = _data(people).all_records()
    schema = bloom.Schema.from_dict(person_doc)
    filters, attrs = encoded_attributes(records, schema)
    out: dict[str, float] = {"records": float(len(records))}
    for seg in schema.segments:
        lo, hi = seg.out_offset // 64, (seg.out_offset + seg.out_bits) // 64
        words = np.ascontiguousarray(filters[:, lo:hi])
        _, labels = np.unique(words, axis=0, return_inverse=True)
        for a, values in attrs.items():
            share = _exposed_share(labels.ravel(), values, words.any(axis=1))
            out[f"{a}@{seg.name}"] = round(share, 4)
    return out


def _emit(kind: str, setting: str, people: int, start: float, row: dict[str, Any]) -> None:
    out = {"what": kind, "setting": setting, "people": people, **row}
    out["wall_seconds"] = round(time.perf_counter() - start, 1)
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> None:
    """``names|adaptive|groups|exposure|exposure_exact|agreement SETTING PEOPLE``, ``f1 SETTING``,
    ``curve PEOPLE SIZE...``."""
    kind, *rest = argv
    start = time.perf_counter()
    docs = settings()
    if kind == "curve":
        for row in group_size_curve(int(rest[0]), tuple(int(s) for s in rest[1:])):
            _emit(kind, "person (unhardened)", int(rest[0]), start, row)
        return
    person, febrl = docs[rest[0]]
    if kind == "f1":
        f4, f3, fs = dataset_f1(bloom.Schema.from_dict(person), bloom.Schema.from_dict(febrl))
        _emit(kind, rest[0], 5000, start, {"febrl4": f4, "febrl3": f3, "synthetic": fs})
    elif kind in ("names_large", "oracle_large"):  # the oracle on groups of 150 or more only
        found = name_reidentification(
            person, int(rest[1]), min_oracle=150, window=False, adaptive=kind == "names_large"
        )
        _emit(kind, rest[0], int(rest[1]), start, found)
    elif kind in ("names", "adaptive"):
        found = name_reidentification(person, int(rest[1]), oracle=kind == "names")
        _emit(kind, rest[0], int(rest[1]), start, found)
    elif kind == "groups":
        _emit(kind, rest[0], int(rest[1]), start, key_groups(person, int(rest[1])))
    elif kind == "exposure_exact":
        _emit(kind, rest[0], int(rest[1]), start, exact_exposure(person, int(rest[1])))
    elif kind == "exposure":
        _emit(kind, rest[0], int(rest[1]), start, exposure(person, int(rest[1])))
    elif kind == "agreement":
        _emit(kind, rest[0], int(rest[1]), start, key_agreement(person, int(rest[1])))
    else:
        raise SystemExit(f"unknown measurement {kind!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
