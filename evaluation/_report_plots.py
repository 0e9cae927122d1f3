"""The evaluation report's figures. Each function returns a matplotlib ``Figure`` (so that
tests can measure what is drawn, text boxes included); :func:`save` writes one as a PNG."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

__all__ = ["reliability_figure", "save", "scores_figure", "speed_figure", "threshold_figure"]

TICKS = np.linspace(0.0, 1.0, 6)


def save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=110)
    plt.close(fig)


def threshold_figure(curve: pd.DataFrame, threshold: float) -> Figure:
    """Precision, recall and F1 of candidate pairs against the probability threshold, with the
    automatic threshold the run chose marked."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for col in ("precision", "recall", "f1"):
        ax.plot(curve["threshold"], curve[col], marker="o", ms=3, label=col)
    ax.axvline(
        threshold, color="black", lw=1.2, ls="--", label=f"automatic threshold {threshold:.3f}"
    )
    ax.set_xlim(0, 1)
    ax.set_xticks(TICKS)
    ax.set_xlabel("match probability threshold")
    ax.set_ylabel("pairwise score (candidate pairs)")
    ax.set_title("Precision and recall against the threshold")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig


def scores_figure(weight: np.ndarray, is_match: np.ndarray) -> Figure:
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
    return fig


def reliability_figure(table: pd.DataFrame) -> Figure:
    """Above: observed share of true matches against the mean reported probability per bin,
    the diagonal of perfect calibration drawn over the curve. Below: pairs per bin (log
    scale), each bar labelled with its count, so that no count sits on the curve."""
    t = table.dropna()
    fig, (ax, bars) = plt.subplots(
        2, 1, figsize=(5.5, 6.2), sharex=True, gridspec_kw={"height_ratios": (3, 1.2)}
    )
    ax.plot(
        t["mean_probability"], t["observed"], marker="o", color="C0", zorder=2, label="caselink"
    )
    ax.plot([0, 1], [0, 1], color="black", lw=1.2, ls="--", zorder=3, label="perfect calibration")
    ax.set_ylabel("observed share of true matches")
    ax.set_title("Reliability (candidate pairs)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_yticks(TICKS)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    lo = np.array([float(b.split("-")[0]) for b in t["bin"]])
    width = 1.0 / len(table)
    bars.bar(lo + width / 2, t["count"], width=width * 0.9, color="C0", alpha=0.6)
    for x, n in zip(lo + width / 2, t["count"], strict=True):
        bars.annotate(
            _short(int(n)),
            (x, n),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            fontsize=7,
        )
    bars.set_yscale("log")
    bars.set_ylim(0.8, max(float(t["count"].max()), 1.0) * 30)
    bars.yaxis.set_minor_formatter(NullFormatter())
    bars.set_yticks([v for v in (1, 100, 10_000, 1_000_000) if v <= t["count"].max() * 30])
    bars.set_ylabel("pairs")
    bars.set_xlabel("reported match probability")
    bars.set_xticks(TICKS)
    fig.tight_layout()
    return fig


def _short(n: int) -> str:
    """A count in at most five characters: 987, 12.3k, 4.5M."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k" if n < 100_000 else f"{n // 1000}k"
    return f"{n / 1_000_000:.1f}M"


def speed_figure(stages: Mapping[str, float]) -> Figure:
    """Wall seconds of every stage of the run, in the order they ran (top to bottom)."""
    names, seconds = list(stages), list(stages.values())
    fig, ax = plt.subplots(figsize=(6.5, 1.2 + 0.32 * len(names)))
    y = np.arange(len(names))
    ax.barh(y, seconds, color="C0")
    ax.set_yticks(y, names)
    ax.invert_yaxis()  # the first stage on top
    top = max(seconds, default=0.0) or 1.0
    for yi, s in zip(y, seconds, strict=True):
        ax.annotate(
            f"{s:.2f} s",
            (s, yi),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    ax.set_xlim(0, top * 1.25)
    ax.set_xlabel("seconds (wall)")
    ax.set_title(f"Where the time went: {sum(seconds):.1f} s in all")
    fig.tight_layout()
    return fig
