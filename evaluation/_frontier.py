"""The privacy/accuracy frontier of candidate default encodings (issue 12), one row per setting.

Each setting is a pair of schemas (a ``person`` variant, a ``febrl`` variant). A row gives:

* **linkage F1** at the automatic threshold on FEBRL4 (``febrl`` variant), FEBRL3 split across
  three agencies, one record per person per agency (``febrl``), and 5,000 synthetic people in
  three agencies (``person``) -- the pipeline of ``caselink bench --only accuracy``;
* **name re-identification** by the frequency attack (:mod:`evaluation._attack_freq`) on
  agency-a's synthetic batch, as shipped (it does not undo salt), and with an **oracle
  partition**: the attacker is handed the true salt of every record and mines each salt group
  on its own (the most a salt-partitioning attack can get, Kerckhoffs's strongest case);
* **attribute exposure** by grouping (:func:`grouping_exposure`): the share of records in a
  group of at least 5 records with near-identical bits in one segment, where at least 90%
  share the attribute's value -- for sex, birth year and place, over everything the service
  holds (all agencies' synthetic batches; FEBRL4's two batches for the ``febrl`` variant).

It is an experiment module for choosing defaults: the red team's adaptive attacks and the
exposure measure of ``caselink privacy check`` live elsewhere.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

import bloom
from bloom._tokens import normalise_text, parse_date, parse_value, salt_value
from evaluation._attack import most_frequent_names, scored_truth
from evaluation._attack_freq import frequency_attack
from evaluation._attack_names import public_names
from evaluation._privacy_f1 import SECRET, dataset_f1, febrl4_agencies, synthetic
from evaluation._privacy_settings import privacy_settings, setting_schemas

__all__ = [
    "SETTINGS",
    "FrontierRow",
    "frontier_row",
    "frontier_table",
    "grouping_exposure",
    "segment_exposure",
]

logger = logging.getLogger(__name__)

MIN_GROUP = 5
HOMOGENEOUS = 0.9
NEAR_DICE = 0.9
MIN_PARTITION = 20  # salt groups smaller than this are left to the guessing baseline


@dataclass(frozen=True)
class FrontierRow:
    setting: str
    f1_febrl4: float
    f1_febrl3: float
    f1_synthetic: float
    freq_given: float  # frequency attack as shipped, agency-a's synthetic batch
    freq_family: float
    oracle_given: float  # the same attack per true salt group (equals freq_* when unsalted)
    oracle_family: float
    guess_given: float  # the most frequent name guessed for everyone
    guess_family: float
    exposure_sex: float  # max over segments, all synthetic batches
    exposure_birth_year: float
    exposure_place: float
    febrl_exposure_birth_year: float  # FEBRL4, both batches
    febrl_exposure_place: float  # max over suburb, postcode and state
    seconds: float


# -- attribute exposure by grouping -------------------------------------------------------
def _near_groups(words: np.ndarray, near: float) -> np.ndarray:
    """Group label per row: connected components of rows whose Dice is at least ``near``."""
    uniq, inverse = np.unique(words, axis=0, return_inverse=True)
    bits = np.unpackbits(uniq.view(np.uint8), axis=1).astype(np.float32)
    pop = bits.sum(axis=1)
    rows, cols = [], []
    for lo in range(0, len(bits), 2048):
        inter = bits[lo : lo + 2048] @ bits.T
        dice = 2 * inter / np.maximum(pop[lo : lo + 2048, None] + pop[None, :], 1)
        r, c = np.nonzero(dice >= near)
        rows.append(r + lo)
        cols.append(c)
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = sparse.coo_matrix((np.ones(r.size), (r, c)), shape=(len(uniq), len(uniq)))
    _, labels = connected_components(graph, directed=False)
    return labels[inverse.ravel()]


def _exposed_share(labels: np.ndarray, values: np.ndarray, live: np.ndarray) -> float:
    """Share of records in a group (>= MIN_GROUP live records) where >= 90% share a value."""
    df = pd.DataFrame({"g": labels[live], "v": values[live]})
    df = df[df["v"].notna()]
    if df.empty:
        return 0.0
    size = df.groupby("g")["v"].transform("size")
    top = df.groupby(["g", "v"])["v"].transform("size")
    top = top.groupby(df["g"]).transform("max")
    exposed = (size >= MIN_GROUP) & (top >= HOMOGENEOUS * size)
    return float(exposed.sum() / len(values))


def segment_exposure(filters: np.ndarray, lo_word: int, hi_word: int, values: np.ndarray) -> float:
    """Exposure of one attribute through the bits of words [lo_word, hi_word): the larger of
    exact-equal grouping and near-identical (Dice >= 0.9, chained) grouping; empty segments
    (the fields behind them missing) form no group."""
    words = np.ascontiguousarray(filters[:, lo_word:hi_word])
    live = words.any(axis=1)
    if not live.any():
        return 0.0
    _, exact = np.unique(words, axis=0, return_inverse=True)
    near = np.full(len(words), -1)
    near[live] = _near_groups(words[live], NEAR_DICE)
    return max(_exposed_share(exact.ravel(), values, live), _exposed_share(near, values, live))


def grouping_exposure(
    filters: np.ndarray, schema: bloom.Schema, attributes: Mapping[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Per attribute, exposure through each segment of the encoded filter and the whole."""
    spans = {
        s.name: (s.out_offset // 64, (s.out_offset + s.out_bits) // 64) for s in schema.segments
    }
    spans["(whole filter)"] = (0, schema.filter_words)
    return {
        attr: {seg: segment_exposure(filters, lo, hi, values) for seg, (lo, hi) in spans.items()}
        for attr, values in attributes.items()
    }


def _year(values: pd.Series, formats: tuple[str, ...]) -> np.ndarray:
    out = []
    for v in values:
        d = parse_date(str(v), formats) if isinstance(v, str) else None
        out.append(d[0] if d else None)
    return np.asarray(out, dtype=object)


def _text(values: pd.Series) -> np.ndarray:
    opts = {
        "unicode": "NFKC",
        "strip_accents": True,
        "casefold": True,
        "punctuation": "remove",
        "whitespace": "remove",
    }
    return np.asarray(
        [normalise_text(v, opts) or None if isinstance(v, str) else None for v in values],
        dtype=object,
    )


def encoded_attributes(
    records: pd.DataFrame, schema: bloom.Schema
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Synthetic ``records`` encoded with ``schema``, and their sex, birth year and place."""
    filters = bloom.encode(records, schema, SECRET, agency="all").filters
    attrs = {
        "sex": _text(records["sex"]),
        "birth_year": _year(records["date_of_birth"], ("%Y-%m-%d", "%Y")),
        "place": _text(records["place_of_birth"]),
    }
    return filters, attrs


def _synthetic_exposure(schema: bloom.Schema) -> dict[str, float]:
    filters, attrs = encoded_attributes(synthetic().all_records(), schema)
    found = grouping_exposure(filters, schema, attrs)
    logger.info("synthetic exposure by segment: %s", found)
    return {a: max(v.values()) for a, v in found.items()}


def _febrl_exposure(schema: bloom.Schema) -> dict[str, float]:
    records = pd.concat(list(febrl4_agencies().values()), ignore_index=True)
    filters = bloom.encode(records, schema, SECRET, agency="all").filters
    attrs = {
        "birth_year": _year(records["date_of_birth"], ("%Y%m%d",)),
        **{c: _text(records[c]) for c in ("suburb", "postcode", "state")},
    }
    found = grouping_exposure(filters, schema, attrs)
    logger.info("febrl exposure by segment: %s", found)
    worst = {a: max(v.values()) for a, v in found.items()}
    return {
        "birth_year": worst["birth_year"],
        "place": max(worst["suburb"], worst["postcode"], worst["state"]),
    }


# -- name re-identification ----------------------------------------------------------------
def _share(guess: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([g is not None and g == t for g, t in zip(guess, truth, strict=True)]))


def salt_keys(register: pd.DataFrame, schema: bloom.Schema) -> np.ndarray | None:
    """Per record, the value that fixes every salt of its name tokens (None when unsalted):
    the year for a ``year_window`` salt, else the salt itself."""
    spec = schema.field("given_name").salt
    if spec is None:
        return None
    f = schema.field(spec.field)
    part = "year" if spec.part == "year_window" else spec.part
    keys = []
    for raw in register[f.column]:
        parsed, status = parse_value("" if pd.isna(raw) else str(raw), f)
        keys.append(salt_value(parsed if status == "ok" else None, f, part))
    return np.asarray(keys, dtype=object)


def name_reidentification(schema: bloom.Schema) -> dict[str, float]:
    """Frequency attack on agency-a's batch: whole batch, and per true salt group."""
    register = synthetic().agencies["agency-a"]
    names = public_names(schema)
    truth = scored_truth(register, schema)
    filters = bloom.encode(register, schema, SECRET, agency="agency-a").filters
    whole = frequency_attack(filters, schema, names)
    given, family = most_frequent_names(names)
    out = {
        "freq_given": _share(whole.given, truth["given_name"]),
        "freq_family": _share(whole.family, truth["family_name"]),
        "guess_given": _share(np.full(len(register), given), truth["given_name"]),
        "guess_family": _share(np.full(len(register), family), truth["family_name"]),
    }
    keys = salt_keys(register, schema)
    if keys is None:
        return out | {"oracle_given": out["freq_given"], "oracle_family": out["freq_family"]}
    g = np.full(len(register), given, dtype=object)
    f = np.full(len(register), family, dtype=object)
    for key in pd.unique(keys):
        rows = np.flatnonzero(keys == key)
        if len(rows) >= MIN_PARTITION:
            part = frequency_attack(filters[rows], schema, names)
            g[rows], f[rows] = part.given, part.family
    return out | {
        "oracle_given": _share(g, truth["given_name"]),
        "oracle_family": _share(f, truth["family_name"]),
    }


# -- one row -------------------------------------------------------------------------------
def frontier_row(
    name: str,
    person: bloom.Schema,
    febrl: bloom.Schema,
    *,
    on_step: Callable[[str], None] | None = None,
) -> FrontierRow:
    step = on_step or (lambda _s: None)
    start = time.perf_counter()
    step(f"{name}: linkage")
    f4, f3, fs = dataset_f1(person, febrl)
    step(f"{name}: names")
    names = name_reidentification(person)
    step(f"{name}: exposure")
    syn = _synthetic_exposure(person)
    feb = _febrl_exposure(febrl)
    return FrontierRow(
        setting=name,
        f1_febrl4=f4,
        f1_febrl3=f3,
        f1_synthetic=fs,
        **names,
        exposure_sex=syn["sex"],
        exposure_birth_year=syn["birth_year"],
        exposure_place=syn["place"],
        febrl_exposure_birth_year=feb["birth_year"],
        febrl_exposure_place=feb["place"],
        seconds=round(time.perf_counter() - start, 1),
    )


def as_table(rows: list[FrontierRow]) -> pd.DataFrame:
    return pd.DataFrame([asdict(r) for r in rows])


SETTINGS: tuple[str, ...] = tuple(privacy_settings())


def frontier_table(names: tuple[str, ...] = SETTINGS) -> pd.DataFrame:
    """One :class:`FrontierRow` per named setting (default: all of :data:`SETTINGS`)."""
    docs = privacy_settings()
    unknown = [n for n in names if n not in docs]
    if unknown:
        raise ValueError(f"unknown settings {unknown}; known: {', '.join(docs)}")
    schemas = setting_schemas({n: docs[n] for n in names})
    return as_table([frontier_row(n, p, f, on_step=logger.info) for n, (p, f) in schemas.items()])


def main(argv: list[str]) -> None:
    """``python -m evaluation._frontier [SETTING ...]``: the table as JSON lines, with the load."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    table = frontier_table(tuple(argv) or SETTINGS)
    sys.stdout.write(json.dumps({"load_average": os.getloadavg()}) + "\n")
    for row in table.round(4).to_dict(orient="records"):
        sys.stdout.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
