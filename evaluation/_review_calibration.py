"""Calibration against reviewed pairs: the labels clerical review gives, read back.

Agencies that reviewed an uncertain link both decided ``same`` (one person) or
``different`` (two people); the service exports those pairs without any ref or id
(``GET .../reviews/labels``, ``caselink review labels --out labels.json``). Each pair carries
the match probability when it was queued and the one the registry holds now. Here they are
labels: :func:`review_calibration` sets the reported probability against the share of pairs
people found to be one person, per bin of 0.1 (the reliability table, ECE, Brier score), at
queue time and now. ``unsure`` and ``disagreed`` pairs are counted, never used as labels.

The pairs were chosen by their probability (the agreement's review band), so the figures
hold for links inside that band: they say whether a 0.4 there means 40%, not how the whole
range is calibrated. ``caselink evaluate --labels FILE`` adds them to its report.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bloom import CaselinkError
from evaluation._metrics import expected_calibration_error, reliability_table

__all__ = ["LABELS_FORMAT", "load_labels", "review_calibration", "review_lines"]

LABELS_FORMAT = "caselink.review-labels/1"
DECISIONS = ("same", "different", "unsure", "disagreed")


def load_labels(path: Path) -> pd.DataFrame:
    """The reviewed pairs of a labels document: ``probability_queued``,
    ``probability_latest`` (NaN where the link is gone) and ``decision``. Every problem of
    the file is named at once (by pair number, never a value)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CaselinkError(f"--labels: cannot read {path} as JSON ({e})") from e
    if not isinstance(doc, dict) or doc.get("format") != LABELS_FORMAT:
        raise CaselinkError(
            f"--labels: {path} is not a labels document ({LABELS_FORMAT}); write one with "
            "`caselink review labels --out FILE`"
        )
    problems = []
    rows = []
    for k, pair in enumerate(doc.get("pairs") or [], start=1):
        q = pair.get("probability_queued") if isinstance(pair, dict) else None
        latest = pair.get("probability_latest") if isinstance(pair, dict) else None
        decision = pair.get("decision") if isinstance(pair, dict) else None
        if not isinstance(q, int | float) or not 0 <= q <= 1:
            problems.append(f"pair {k}: probability_queued must be a probability")
        if latest is not None and (not isinstance(latest, int | float) or not 0 <= latest <= 1):
            problems.append(f"pair {k}: probability_latest must be a probability or null")
        if decision not in DECISIONS:
            problems.append(f"pair {k}: decision must be one of {', '.join(DECISIONS)}")
        rows.append((q, latest, decision))
    if problems:
        raise CaselinkError(problems)
    return pd.DataFrame(
        {
            "probability_queued": np.array([r[0] for r in rows], dtype=float),
            "probability_latest": np.array(
                [np.nan if r[1] is None else r[1] for r in rows], dtype=float
            ),
            "decision": pd.Series([r[2] for r in rows], dtype=object),
        }
    )


def _figures(p: np.ndarray, same: np.ndarray) -> dict[str, Any]:
    return {
        "pairs": len(p),
        "ece": expected_calibration_error(p, same) if len(p) else None,
        "brier": float(np.mean((p - same) ** 2)) if len(p) else None,
        "mean_probability": float(p.mean()) if len(p) else None,
        "observed_same": float(same.mean()) if len(p) else None,
        "reliability": reliability_table(p, same),
    }


def review_calibration(labels: pd.DataFrame) -> dict[str, Any]:
    """Calibration of the reported probability against the pairs both agencies agreed on:
    at queue time (``queued``) and now (``latest``, pairs whose link is still held)."""
    counts = labels["decision"].value_counts()
    agreed = labels[labels["decision"].isin(["same", "different"])]
    same = (agreed["decision"] == "same").to_numpy(dtype=float)
    queued = agreed["probability_queued"].to_numpy(dtype=float)
    latest = agreed["probability_latest"].to_numpy(dtype=float)
    held = ~np.isnan(latest)
    return {
        "decisions": {d: int(counts.get(d, 0)) for d in DECISIONS},
        "queued": _figures(queued, same),
        "latest": _figures(latest[held], same[held]),
    }


def _number(x: float | None, digits: int = 4) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def review_lines(cal: dict[str, Any] | None) -> list[str]:
    """The report's section on reviewed pairs (none without labels)."""
    if cal is None:
        return []
    d, q, now = cal["decisions"], cal["queued"], cal["latest"]
    table = q["reliability"]
    lines = [
        "## Calibration against reviewed pairs",
        "",
        f"Labels from clerical review: {d['same']:,} pairs both agencies found to be one "
        f"person, {d['different']:,} found to be two; {d['unsure']:,} unsure and "
        f"{d['disagreed']:,} disagreed (not labels). The pairs were queued because their "
        "probability was inside the agreement's review band: the figures hold for that band.",
        "",
        "| probability | pairs | mean reported | observed one person | ECE | Brier |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, f in (("when queued", q), ("now", now)):
        lines.append(
            f"| {name} | {f['pairs']:,} | {_number(f['mean_probability'])} "
            f"| {_number(f['observed_same'])} | {_number(f['ece'])} | {_number(f['brier'])} |"
        )
    filled = table[table["count"] > 0]
    if len(filled):
        lines += ["", "Reviewed pairs by bin, as queued:", ""]
        lines += [
            "| bin | pairs | mean reported | observed one person |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r['bin']} | {int(r['count']):,} | {r['mean_probability']:.4f} "
            f"| {r['observed']:.4f} |"
            for r in filled.to_dict("records")
        ]
    return [*lines, ""]
