"""The privacy table's frontier: which settings no other setting beats, and its plot.

A setting is on the Pareto front when no other setting re-identifies no more names *and* links
no worse, one of the two strictly. Re-identification is the strongest measured (the larger of
given and family names, over every size the row was attacked at); F1 is the worst of the
three datasets. The plot puts F1 against re-identification, marks the front, and shades the
goal of issue 12 (under 1% of names, at most 1 F1 point below the unhardened row).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["GOAL_F1_LOSS", "GOAL_REID", "pareto_front", "plot_pareto"]

GOAL_REID = 0.01  # fewer than 1% of given and of family names re-identified
GOAL_F1_LOSS = 0.01  # at most 1 F1 point below the unhardened row


def _axis(values: object, name: str) -> np.ndarray:
    try:
        out = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold numbers") from None
    if out.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    return out


def pareto_front(reid: object, f1: object) -> np.ndarray:
    """Per point, whether it is on the front: lower ``reid`` is better, higher ``f1`` is
    better; points with a missing value are never on it (nor beat anything). Ties keep both."""
    x, y = _axis(reid, "reid"), _axis(f1, "f1")
    if x.shape != y.shape:
        raise ValueError("reid and f1 must hold one value per setting")
    ok = ~(np.isnan(x) | np.isnan(y))
    xs, ys = x[ok], y[ok]
    # i is dominated when some j is no worse on both and strictly better on one
    no_worse = (xs[None, :] <= xs[:, None]) & (ys[None, :] >= ys[:, None])
    better = (xs[None, :] < xs[:, None]) | (ys[None, :] > ys[:, None])
    dominated = (no_worse & better).any(axis=1)
    out = np.zeros(len(x), dtype=bool)
    out[np.flatnonzero(ok)] = ~dominated
    return out


def _spread(x: np.ndarray, y: np.ndarray, gap: float) -> np.ndarray:
    """Label heights: each point's own, pushed apart to ``gap`` from the labels of points near
    it on the x axis (closer than 0.15), so that a cluster's names do not overprint."""
    out = y.copy()
    order = np.argsort(y)
    for k, i in enumerate(order):
        below = [out[j] for j in order[:k] if abs(x[j] - x[i]) < 0.15]
        if below and out[i] < max(below) + gap:
            out[i] = max(below) + gap
    return out


def plot_pareto(
    table: pd.DataFrame, path: Path, *, reference: str | None = "none", title: str = ""
) -> Path:
    """F1 (``f1_worst``) against name re-identification (``reid_names``), one labelled point
    per ``setting``, the front joined and marked; the goal is shaded when ``reference`` (the
    unhardened row) is in the table, and the guessing baseline drawn when ``baseline_*``
    columns are. Written as PNG (or whatever ``path``'s suffix names);
    the title names the sizes in ``table.attrs`` unless ``title`` is given."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    missing = {"setting", "reid_names", "f1_worst"} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks the columns {sorted(missing)}")
    t = table.dropna(subset=["reid_names", "f1_worst"])
    if t.empty:
        raise ValueError("table has no setting with both re-identification and F1 measured")
    front = pareto_front(t["reid_names"], t["f1_worst"])
    fig, ax = plt.subplots(figsize=(7.5, 5))
    ref = t[t["setting"] == reference] if reference is not None else t.iloc[:0]
    if not ref.empty:
        floor = float(ref["f1_worst"].iloc[0]) - GOAL_F1_LOSS
        ax.fill_between(
            [0, GOAL_REID],
            floor,
            1.0,
            color="tab:green",
            alpha=0.3,
            lw=0,
            label=f"goal: < {GOAL_REID:.0%} of names, F1 ≥ {reference}'s − 0.01",
        )
        ax.axhline(floor, color="tab:green", lw=1, ls=":")
    guesses = [c for c in t.columns if c.startswith("baseline_")]
    if guesses:  # the most frequent name guessed for everyone: what "no better" means
        ax.axvline(
            float(t[guesses].max().max()),
            color="grey",
            lw=1,
            ls="--",
            label="guessing the most frequent name",
        )
    ax.scatter(t["reid_names"][~front], t["f1_worst"][~front], color="grey", label="dominated")
    edge = t[front].sort_values("reid_names")
    ax.plot(
        edge["reid_names"],
        edge["f1_worst"],
        color="tab:red",
        marker="o",
        ms=7,
        drawstyle="steps-post",
        label="Pareto front",
    )
    x, y = t["reid_names"].to_numpy(float), t["f1_worst"].to_numpy(float)
    for i, label_y in enumerate(_spread(x, y, gap=0.045 * (np.ptp(y) or 0.01))):
        ax.annotate(
            str(t["setting"].iloc[i]),
            (x[i], y[i]),
            xytext=(x[i] + 0.03, label_y),
            fontsize=7,
            va="center",
            arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "grey"},
        )
    ax.set_xlabel("names re-identified (strongest attack; larger of given and family, any size)")
    ax.set_ylabel("linkage F1, worst of FEBRL4 / FEBRL3 ×3 / synthetic")
    ax.set_xlim(-0.02, max(1.0, float(t["reid_names"].max()) + 0.02))
    sizes = ", ".join(f"{int(s):,}" for s in table.attrs.get("sizes", ()))
    default = "Privacy against accuracy" + (f" ({sizes} records attacked)" if sizes else "")
    ax.set_title(title or default)
    ax.grid(alpha=0.3)
    ax.legend(loc="center", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
