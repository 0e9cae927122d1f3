"""Writing an evaluation: ``report.md``, a plain ``report.html``, PNG plots and ``results.json``."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["write_report"]

BENCH_RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results.json"


def _plot_threshold(curve: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for col in ("precision", "recall", "f1"):
        ax.plot(curve["threshold"], curve[col], marker="o", ms=3, label=col)
    ax.set_xlabel("match probability threshold")
    ax.set_ylabel("pairwise score (candidate pairs)")
    ax.set_title("Precision and recall against the threshold")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_scores(weight: np.ndarray, is_match: np.ndarray, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(np.percentile(weight, 0.5), np.percentile(weight, 99.5), 60)
    ax.hist(weight[~is_match], bins=bins, alpha=0.6, label=f"non-matches ({(~is_match).sum():,})")
    ax.hist(weight[is_match], bins=bins, alpha=0.6, label=f"true matches ({is_match.sum():,})")
    ax.set_yscale("log")
    ax.set_xlabel("match weight (log2 Bayes factor)")
    ax.set_ylabel("candidate pairs")
    ax.set_title("Scores of true matches and non-matches")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_reliability(table: pd.DataFrame, path: Path) -> None:
    t = table.dropna()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect calibration")
    ax.plot(t["mean_probability"], t["observed"], marker="o", label="caselink")
    for _, row in t.iterrows():
        ax.annotate(
            f"{int(row['count']):,}",
            (row["mean_probability"], row["observed"]),
            fontsize=7,
            xytext=(3, -9),
            textcoords="offset points",
        )
    ax.set_xlabel("reported match probability")
    ax.set_ylabel("observed share of true matches")
    ax.set_title("Reliability (candidate pairs)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_speed(speed: dict[str, float], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3))
    parts = {"encode": speed["encode_seconds"], "link": speed["link_seconds"]}
    ax.barh(list(parts), list(parts.values()))
    ax.set_xlabel("seconds (wall)")
    ax.set_title("Where the time went")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
        "![precision and recall against the threshold](figures/threshold.png)",
        "![score histograms](figures/scores.png)",
        "",
        "## Calibration",
        "",
        "Expected calibration error over candidate pairs: "
        f"**{r['calibration']['ece_candidate_pairs']:.4f}**; over the records of linked cases "
        f"(their confidence against belonging with the case's majority entity): "
        f"**{r['calibration']['ece_linked_records']:.4f}**. Candidate pairs by bin:",
        "",
        _table(r["calibration"]["reliability"].dropna()),
        "",
        "![reliability diagram](figures/reliability.png)",
        "",
        "## Speed",
        "",
        f"Encoding {sp['encode_seconds']:.2f} s ({sp['encode_records_per_s']:,.0f} records/s); "
        f"linking {sp['link_seconds']:.2f} s over {sp['candidate_pairs']:,} candidate pairs; "
        f"peak memory {sp['peak_rss_gib']:.2f} GiB.",
        "",
        "![speed](figures/speed.png)",
    ]
    for title, table in extras.items():
        lines += ["", f"## {title}", "", _table(table)]
    lines += ["", *privacy_lines, threat_model().rstrip()]
    return "\n".join(lines) + "\n"


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


def _table(df: pd.DataFrame) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _html(markdown: str) -> str:
    """A plain HTML rendering: headings, tables, images and paragraphs, nothing more."""
    out, in_table = [], False
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if all(set(c) <= {"-"} for c in cells):
                continue
            out.append(
                ("<table>" if not in_table else "")
                + "<tr>"
                + "".join(f"<td>{c}</td>" for c in cells)
                + "</tr>"
            )
            in_table = True
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](")
            out.append(
                f'<p><img alt="{html.escape(alt)}" src="{html.escape(src.rstrip(")"))}"></p>'
            )
        elif line.strip():
            out.append(f"<p>{html.escape(line).replace('**', '')}</p>")
    if in_table:
        out.append("</table>")
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:auto}"
        "td{padding:2px 8px;border:1px solid #ccc}"
    )
    return f"<!doctype html><meta charset=utf-8><style>{style}</style>\n" + "\n".join(out) + "\n"


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
    _plot_threshold(results["threshold_curve"], figures / "threshold.png")
    _plot_scores(results["scores"]["weight"], results["scores"]["is_match"], figures / "scores.png")
    _plot_reliability(results["calibration"]["reliability"], figures / "reliability.png")
    _plot_speed(results["speed"], figures / "speed.png")
    privacy = _bench_privacy() if privacy is None else privacy
    md = _markdown(results, extras or {}, _privacy_lines(privacy, figures))
    (out / "report.md").write_text(md, encoding="utf-8")
    (out / "report.html").write_text(_html(md), encoding="utf-8")
    payload = {k: v for k, v in results.items() if k != "scores"}
    payload["extras"] = {k: v for k, v in (extras or {}).items()}
    (out / "results.json").write_text(json.dumps(_jsonable(payload), indent=2, default=str) + "\n")
    return out / "report.md"
