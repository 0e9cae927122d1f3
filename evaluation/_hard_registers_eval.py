"""Linkage accuracy on the hard registers, and where the missed true pairs come from.

``python -m evaluation._hard_registers_eval [SCHEMA ...]`` prints, per preset of
:data:`evaluation._hard_registers.PRESETS` and per schema (a shipped name or a path; with
``+recall`` after it, that schema with :func:`recall_options` applied), the
pairwise precision, recall and F1 at the automatic threshold, and a breakdown of the missed
true pairs: the share of missed pairs with each property (given and family exchanged, a
family name replaced by the father's name, a default or estimated date on either side,
different transliteration schemes) beside that property's share among all true pairs, and the
mean Dice of each segment on missed and on found pairs.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import bloom
from bloom._schema import DEFAULT_DATE_FORMATS
from evaluation._hard_registers import PRESETS, HardRegisters, generate_hard
from evaluation._metrics import pairwise_scores

__all__ = ["hard_register_figures", "link_hard", "load_schema", "recall_options", "true_pairs"]

SECRET = bloom.Secret(bytes(range(32)))  # the accuracy bench's fixed secret
MONTH_YEAR_FORMATS = ("%Y-%m", "%m/%Y")
FATHER_IN_NAME_WEIGHT = 6


def recall_options(document: dict[str, Any]) -> dict[str, Any]:
    """A person-like schema document with the three recall options of ``person-recall``.

    Name and string fields fold romanisation variants (and ``abd`` is no longer a particle:
    the fold makes ``abd al-``, ``abdel`` and ``abdul`` one); date fields also read month-year
    dates; the father's name is also hashed into the domain that given and family names share
    (q-grams, weight 6), in their segment. Applied to ``person`` it gives ``person-recall``.
    """
    doc = copy.deepcopy(document)
    doc["name"] = f"{doc.get('name', 'schema')}+recall"
    for f in doc["fields"]:
        if f["type"] in ("name", "string"):
            norm = f.setdefault("normalise", {})
            norm["fold"] = "romanisation"
            if "particles" in norm:
                norm["particles"] = [p for p in norm["particles"] if p != "abd"]
        if f["type"] == "date":
            formats = f.setdefault("date", {}).setdefault("formats", list(DEFAULT_DATE_FORMATS))
            formats += [x for x in MONTH_YEAR_FORMATS if x not in formats]
    given = next((f for f in doc["fields"] if f["name"] == "given_name"), None)
    father = next((f for f in doc["fields"] if f["name"] == "father_name"), None)
    if given is not None and father is not None:
        at = doc["fields"].index(father)
        doc["fields"].insert(
            at + 1,
            {
                "name": "father_in_name",
                "column": father.get("column", "father_name"),
                "type": "name",
                "segment": given["segment"],
                "hash_domain": given.get("hash_domain", "given_name"),
                "weight": FATHER_IN_NAME_WEIGHT,
                "normalise": copy.deepcopy(father["normalise"]),
                "tokenisers": [{"kind": "qgram", "q": 2}],
            },
        )
    return doc


def load_schema(source: str) -> bloom.Schema:
    """A shipped schema by name, a file, or either with ``+recall`` (see :func:`recall_options`);
    a name shipped as a file of ``bloom/schemas`` (``person-v3``) is found there too."""
    base, plus = source.removesuffix("+recall"), source.endswith("+recall")
    shipped = Path(bloom.__file__).parent / "schemas" / f"{base}.json"
    schema = bloom.Schema.load(shipped if not Path(base).exists() and shipped.exists() else base)
    return bloom.Schema.from_dict(recall_options(schema.document)) if plus else schema


def link_hard(data: HardRegisters, schema: bloom.Schema, **link_args: Any):
    """Encode every agency's register with ``schema`` and link them: (batches, report)."""
    from linkage import link

    batches = [
        bloom.encode(df, schema, SECRET, agency=name, id_column="record_ref")
        for name, df in data.agencies.items()
    ]
    return batches, link(batches, **link_args)


def true_pairs(truth: pd.DataFrame) -> pd.DataFrame:
    """Every pair of records of one person at two agencies: agency/record_ref ``_a`` and ``_b``."""
    t = truth.reset_index(drop=True)
    m = t.merge(t, on="entity_id", suffixes=("_a", "_b"))
    return m[m["agency_a"] < m["agency_b"]].reset_index(drop=True)


def _segment_dice(batches, pairs: pd.DataFrame) -> pd.DataFrame:
    from linkage import segment_dice, segment_words

    filters = np.concatenate([b.filters for b in batches])
    keys = pd.MultiIndex.from_arrays(
        [
            np.concatenate([[b.metadata.agency] * len(b.record_refs) for b in batches]),
            np.concatenate([np.asarray(b.record_refs, dtype=object) for b in batches]),
        ]
    )
    pos = pd.Series(np.arange(len(keys)), index=keys)
    i = pos.reindex(pd.MultiIndex.from_arrays([pairs["agency_a"], pairs["record_ref_a"]]))
    j = pos.reindex(pd.MultiIndex.from_arrays([pairs["agency_b"], pairs["record_ref_b"]]))
    meta = batches[0].metadata
    dice = segment_dice(filters, filters, i.to_numpy(), j.to_numpy(), segment_words(meta))
    return pd.DataFrame(dice, columns=[name for name, _ in meta.segments])


def _with_facts(pairs: pd.DataFrame, facts: pd.DataFrame) -> pd.DataFrame:
    out = pairs
    for side in ("a", "b"):
        f = facts.rename(columns={c: f"{c}_{side}" for c in facts.columns})
        out = out.merge(f, on=[f"agency_{side}", f"record_ref_{side}"], how="left")
    return out.assign(
        swapped=out["swapped_a"] ^ out["swapped_b"],
        family_is_father=out["family_is_father_a"] | out["family_is_father_b"],
        default_date=(out["date_kind_a"] != "full") | (out["date_kind_b"] != "full"),
        schemes_differ=out["scheme_a"] != out["scheme_b"],
    )


_PROPERTIES = ("swapped", "family_is_father", "default_date", "schemes_differ")


def hard_register_figures(data: HardRegisters, schema: bloom.Schema) -> dict[str, Any]:
    """Precision, recall and F1 at the automatic threshold, and the missed pairs' breakdown."""
    start = time.perf_counter()
    batches, report = link_hard(data, schema)
    seconds = time.perf_counter() - start
    m = report.assignments.merge(data.truth, on=["agency", "record_ref"], how="left")
    scores = pairwise_scores(m["case_id"].to_numpy(), m["entity_id"].to_numpy())
    case = m.set_index(["agency", "record_ref"])["case_id"]
    pairs = true_pairs(data.truth)
    ca = case.reindex(pd.MultiIndex.from_arrays([pairs["agency_a"], pairs["record_ref_a"]]))
    cb = case.reindex(pd.MultiIndex.from_arrays([pairs["agency_b"], pairs["record_ref_b"]]))
    pairs = _with_facts(pairs, data.facts).assign(missed=ca.to_numpy() != cb.to_numpy())
    dice = _segment_dice(batches, pairs)
    missed = pairs["missed"].to_numpy()
    return {
        "schema": schema.name,
        "records": len(m),
        "precision": round(scores.precision, 5),
        "recall": round(scores.recall, 5),
        "f1": round(scores.f1, 5),
        "true_pairs": scores.true_pairs,
        "threshold": round(report.threshold, 4),
        "link_seconds": round(seconds, 1),
        "missed_cross_agency_pairs": int(missed.sum()),
        "missed_share_with": {p: round(float(pairs.loc[missed, p].mean()), 3) for p in _PROPERTIES}
        if missed.any()
        else {},
        "all_share_with": {p: round(float(pairs[p].mean()), 3) for p in _PROPERTIES},
        "recall_when": {
            p: round(1 - float(pairs.loc[pairs[p], "missed"].mean()), 4) for p in _PROPERTIES
        },
        "mean_dice_missed": dice[missed].mean().round(3).to_dict(),
        "mean_dice_found": dice[~missed].mean().round(3).to_dict(),
    }


def main(argv: list[str]) -> None:
    """JSON lines: one per (preset, schema), after a line with the load average."""
    schemas = argv or ["person"]
    sys.stdout.write(json.dumps({"load_average": os.getloadavg()}) + "\n")
    for preset in PRESETS:
        data = generate_hard(preset)
        for name in schemas:
            row = hard_register_figures(data, load_schema(name))
            sys.stdout.write(json.dumps({"preset": preset, "schema_source": name, **row}) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
