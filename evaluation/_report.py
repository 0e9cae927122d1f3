"""Writing an evaluation: ``report.md``, a plain ``report.html``, PNG plots and ``results.json``."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation._report_html import markdown_html
from evaluation._report_plots import (
    reliability_figure,
    save,
    scores_figure,
    speed_figure,
    threshold_figure,
)
from evaluation._review_calibration import review_lines

__all__ = ["write_report"]

BENCH_RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results.json"


def _privacy_lines(privacy: Mapping[str, Any] | None, figures: Path) -> list[str]:
    """The privacy table of ``caselink bench --only privacy`` and its Pareto plot (drawn again
    into ``figures``), or how to produce them when the bench has not run."""
    from evaluation._privacy_bench import privacy_frame
    from evaluation._privacy_markdown import privacy_markdown
    from evaluation._privacy_pareto import plot_pareto

    lines = ["## Privacy", ""]
    if not privacy or "sizes" not in privacy:  # none yet, or one from before the sizes
        return [*lines, "No privacy table yet: run `caselink bench --only privacy`.", ""]
    table = privacy_frame(privacy)
    plot_pareto(table, figures / "privacy_pareto.png")
    machine = privacy.get("machine") or {}
    return [
        *lines,
        "From `caselink bench --only privacy`"
        + (f", measured {privacy['measured_at']}" if "measured_at" in privacy else "")
        + (f" (load average {machine['load_average_at_start']} at the start" if machine else "")
        + (
            f", {machine['load_average_during_run']} during the run"
            if machine.get("load_average_during_run")
            else ""
        )
        + (")" if machine else "")
        + ". Names re-identified by the adaptive frequency attack on agency A's synthetic "
        "register at each size in records (– not measured); exposure and graph attack: the "
        "largest over the sizes; F1 at the automatic threshold. Settings are (person, febrl) "
        "schema pairs (`evaluation/_privacy_settings.py`).",
        "",
        privacy_markdown(table),
        "",
        "![privacy against accuracy, the Pareto front](figures/privacy_pareto.png)",
        "",
    ]


def _bench_privacy(path: Path = BENCH_RESULTS) -> dict[str, Any] | None:
    """The ``privacy`` section of the bench's results, if there is one."""
    try:
        return json.loads(path.read_text()).get("privacy")
    except (OSError, ValueError):
        return None


def _markdown(
    r: dict[str, Any], extras: dict[str, pd.DataFrame], privacy_lines: Sequence[str] = ()
) -> str:
    acc, sp = r["accuracy"], r["speed"]
    lines = [
        f"# caselink evaluation: {r['dataset']}",
        "",
        f"Schema `{r['schema']}` ({r['schema_fingerprint'][:19]}…), "
        f"{r['records']:,} records from {len(r['agencies'])} agencies "
        f"({', '.join(f'{k}: {v:,}' for k, v in r['agencies'].items())}); automatic threshold "
        f"{r['threshold']:.3f}. Labels were used only to score.",
        "",
        "## Accuracy",
        "",
        "| measure | precision | recall | F1 |",
        "| --- | --- | --- | --- |",
        f"| pairwise (cases) | {acc['precision']:.4f} | {acc['recall']:.4f} | {acc['f1']:.4f} |",
        f"| B-cubed | {acc['bcubed_precision']:.4f} | {acc['bcubed_recall']:.4f} "
        f"| {acc['bcubed_f1']:.4f} |",
        "",
        *_baseline_lines(r),
        *_household_lines(r.get("households")),
        f"The dashed line marks the automatic threshold, {r['threshold']:.3f}: the one that "
        "maximises the expected F1 under the calibrated probabilities, chosen without labels.",
        "",
        "![precision and recall against the threshold](figures/threshold.png)",
        "![score histograms](figures/scores.png)",
        "",
        *_calibration_lines(r),
        *review_lines(r.get("review_calibration")),  # caselink evaluate --labels
        *_speed_lines(sp),
        "![speed](figures/speed.png)",
    ]
    for title, table in extras.items():
        lines += ["", f"## {title}", "", _table(table)]
    lines += ["", *privacy_lines, threat_model().rstrip()]
    return "\n".join(lines) + "\n"


def _calibration_lines(r: dict[str, Any]) -> list[str]:
    cal = r["calibration"]
    table = cal["reliability"]
    linked = cal["reliability_linked_records"]
    return [
        "## Calibration",
        "",
        "Expected calibration error (ECE: the count-weighted gap between reported probability "
        "and observed share of true matches, over bins of 0.1):",
        "",
        "| over | pairs or records | ECE |",
        "| --- | --- | --- |",
        f"| every candidate pair | {int(table['count'].sum()):,} "
        f"| {cal['ece_candidate_pairs']:.4f} |",
        f"| candidate pairs reported at 0.1 or above | {cal['candidate_pairs_from_0_1']:,} "
        f"| {cal['ece_candidate_pairs_from_0_1']:.4f} |",
        f"| records of linked cases (confidence against belonging with the case's majority "
        f"person) | {int(linked['count'].sum()):,} | {cal['ece_linked_records']:.4f} |",
        "",
        "Nearly all candidate pairs are clear non-matches reported near 0, which are easy to get "
        "right: they make the first figure small whatever happens in the middle. The pairs "
        "reported at 0.1 or above are the ones that can become links.",
        "",
        _mid_range_sentence(cal["largest_mid_range_gap"]),
        "",
        "Candidate pairs by bin:",
        "",
        _table(table.dropna()),
        "",
        "![reliability diagram](figures/reliability.png)",
        "",
    ]


def _mid_range_sentence(gap: Mapping[str, Any] | None) -> str:
    """The mid-range bin (0.1-0.9) whose reported and observed shares differ most, said
    plainly: a caseworker reading a 0.4 is misled by miscalibration there, whatever the ECE.
    A gap counts when it is 0.1 or more and more than twice what chance gives that bin."""
    if gap is None:
        return "No bin between 0.1 and 0.9 holds 10 pairs or more: too few to judge the middle."
    p, o, n = gap["mean_probability"], gap["observed"], int(gap["count"])
    where = f"the {n:,} pairs of bin {gap['bin']} were reported at {p:.2f} on average"
    chance = 2 * math.sqrt(max(p * (1 - p), 1e-9) / n)
    if abs(o - p) < 0.1:
        return f"The middle of the range holds: at worst, {where} and {o:.2f} of them were right."
    if abs(o - p) <= chance:
        return (
            f"The middle of the range holds within chance: at worst, {where} and {o:.2f} of them "
            f"were right, a gap {n:,} pairs can show by chance (twice its standard error: "
            f"{chance:.2f})."
        )
    kind = "underconfident" if o > p else "overconfident"
    return f"**Miscalibrated in the middle ({kind}):** {where}, and {o:.2f} of them were right."


def _speed_lines(sp: dict[str, Any]) -> list[str]:
    stages = sp.get("stages") or {}
    rows = [f"| {name} | {seconds:.2f} |" for name, seconds in stages.items()]
    return [
        "## Speed",
        "",
        f"Encoding {sp['encode_seconds']:.2f} s ({sp['encode_records_per_s']:,.0f} records/s); "
        f"linking {sp['link_seconds']:.2f} s over {sp['candidate_pairs']:,} candidate pairs; "
        f"peak memory {sp['peak_rss_gib']:.2f} GiB. Every stage of the run up to this report, "
        "in order:",
        "",
        "| stage | seconds |",
        "| --- | --- |",
        *rows,
        f"| all | {sum(stages.values()):.2f} |",
        "",
    ]


def threat_model() -> str:
    """The threat model page (``evaluation/threat_model.md``, also summarised in the README):
    every report carries it, so that its privacy figures are read against it."""
    return (Path(__file__).with_name("threat_model.md")).read_text(encoding="utf-8")


def _baseline_lines(r: dict[str, Any]) -> list[str]:
    plain = r.get("plaintext_baseline")
    if not plain:
        return []
    acc = r["accuracy"]
    gap = 100 * (plain["f1"] - acc["f1"])
    return [
        "Side by side with the same registers linked in plain text (recordlinkage: blocking, "
        "Jaro–Winkler, Fellegi–Sunter by EM):",
        "",
        "| linkage | precision | recall | F1 |",
        "| --- | --- | --- | --- |",
        f"| caselink, encoded | {acc['precision']:.4f} | {acc['recall']:.4f} | {acc['f1']:.4f} |",
        f"| plaintext baseline | {plain['precision']:.4f} | {plain['recall']:.4f} "
        f"| {plain['f1']:.4f} |",
        "",
        f"Encoded F1 is {abs(gap):.2f} points {'below' if gap > 0 else 'above'} the plaintext F1.",
        "",
    ]


def _household_lines(h: Mapping[str, Any] | None) -> list[str]:
    """The run with household evidence beside the same batches linked record by record."""
    if not h:
        return []

    def cell(run: Mapping[str, Any], key: str) -> str:
        v = run.get(key)
        if v is None:
            return "–"
        if key in ("sibling_precision", "twin_precision"):
            return f"{v:.4f} ({run[key.replace('precision', 'wrong_links')]:,} wrong)"
        return f"{v:.4f}"

    keys = ["precision", "recall", "f1", "ece_from_0_1"]
    heads = ["precision", "recall", "F1", "ECE from 0.1"]
    if "sibling_precision" in h["collective"]:
        keys += ["sibling_precision", "twin_precision"]
        heads += ["sibling pairs' precision", "twin pairs' precision"]
    rows = [
        f"| {name} | " + " | ".join(cell(run, k) for k in keys) + " |"
        for name, run in (
            ("with households (as linked above)", h["collective"]),
            ("each record on its own", h["individual"]),
        )
    ]
    return [
        "## Households",
        "",
        f"{h['records_in_households']:,} records were registered in households. The same "
        "batches linked again without their households and relationships:",
        "",
        "| linkage | " + " | ".join(heads) + " |",
        "| --- | " + " | ".join("---" for _ in heads) + " |",
        *rows,
        "",
        f"Household evidence changed F1 by {h['f1_gain_points']:+.2f} points."
        + (
            " Precision on siblings and twins counts the links between two children of one "
            "household, or the two of a twin pair, that join the same person (a link between "
            "two different children is wrong)."
            if "sibling_precision" in h["collective"]
            else ""
        ),
        "",
    ]


def _table(df: pd.DataFrame) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, pd.DataFrame):
        return obj.to_dict(orient="records")
    if isinstance(obj, np.ndarray):
        return None  # raw per-pair arrays stay out of the JSON
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if not isinstance(v, np.ndarray)}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def write_report(
    results: dict[str, Any],
    out: Path,
    extras: dict[str, pd.DataFrame] | None = None,
    privacy: Mapping[str, Any] | None = None,
) -> Path:
    """Write report.md, report.html, figures/*.png and results.json into ``out``. ``privacy``:
    the privacy section of the bench's results (default: read from ``bench/results.json``)."""
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    save(
        threshold_figure(results["threshold_curve"], results["threshold"]),
        figures / "threshold.png",
    )
    scores = results["scores"]
    save(scores_figure(scores["weight"], scores["is_match"]), figures / "scores.png")
    save(reliability_figure(results["calibration"]["reliability"]), figures / "reliability.png")
    save(speed_figure(results["speed"]["stages"]), figures / "speed.png")
    privacy = _bench_privacy() if privacy is None else privacy
    md = _markdown(results, extras or {}, _privacy_lines(privacy, figures))
    (out / "report.md").write_text(md, encoding="utf-8")
    (out / "report.html").write_text(markdown_html(md), encoding="utf-8")
    payload = {k: v for k, v in results.items() if k != "scores"}
    payload["extras"] = {k: v for k, v in (extras or {}).items()}
    (out / "results.json").write_text(json.dumps(_jsonable(payload), indent=2, default=str) + "\n")
    return out / "report.md"
