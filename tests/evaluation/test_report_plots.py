"""The report's figures as drawn: the automatic threshold marked, the diagonal over the
reliability curve, no two texts on top of each other, every stage in the speed plot; and its
HTML with code spans."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from evaluation._metrics import reliability_table
from evaluation._report_html import markdown_html as _html
from evaluation._report_plots import reliability_figure, speed_figure, threshold_figure


def _texts(fig) -> list[tuple[str, object]]:
    """Every visible, non-empty text of a drawn figure with its box in pixels."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [
        (t.get_text(), t.get_window_extent(renderer))
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip()
    ]


def _overlaps(fig) -> list[tuple[str, str]]:
    return [
        (a, b)
        for (a, box_a), (b, box_b) in itertools.combinations(_texts(fig), 2)
        if box_a.overlaps(box_b)
    ]


def _crowded_table() -> pd.DataFrame:
    """Every bin filled, counts of every size side by side (the worst case for labels)."""
    rng = np.random.default_rng(0)
    counts = [1_234_567, 98_765, 4_321, 999, 15, 7, 88_888, 123_456, 2_000_000, 5_432_100]
    p = np.concatenate([rng.uniform(b / 10, (b + 1) / 10, n) for b, n in enumerate(counts)])
    return reliability_table(p, rng.random(p.size) < np.sqrt(p))


def _synthetic_table() -> pd.DataFrame:
    """A real run's shape: nearly all pairs at the ends, a few dozen in each middle bin."""
    rng = np.random.default_rng(1)
    p = np.concatenate([rng.uniform(0, 0.01, 60_000), rng.uniform(0.1, 0.9, 200), np.ones(5_000)])
    return reliability_table(p, rng.random(p.size) < p)


@pytest.mark.parametrize("table", [_crowded_table(), _synthetic_table()])
def test_reliability_labels_do_not_overlap_and_the_diagonal_is_on_top(table):
    fig = reliability_figure(table)
    try:
        texts = [t for t, _ in _texts(fig)]
        assert "perfect calibration" in texts and "reported match probability" in texts
        assert sum(t[0].isdigit() for t in texts) >= int((table["count"] > 0).sum())  # counts
        assert _overlaps(fig) == []
        lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
        assert lines["perfect calibration"].get_zorder() > lines["caselink"].get_zorder()
    finally:
        plt.close(fig)


def test_the_threshold_plot_marks_the_automatic_threshold():
    curve = pd.DataFrame(
        {
            "threshold": np.round(np.linspace(0.05, 0.95, 19), 2),
            "precision": np.linspace(0.9, 1.0, 19),
            "recall": np.linspace(1.0, 0.9, 19),
            "f1": np.full(19, 0.95),
        }
    )
    fig = threshold_figure(curve, 0.4973)
    try:
        marks = [ln for ln in fig.axes[0].get_lines() if "automatic threshold" in ln.get_label()]
        assert len(marks) == 1 and set(marks[0].get_xdata()) == {0.4973}
        assert marks[0].get_label() == "automatic threshold 0.497"
        legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert "automatic threshold 0.497" in legend
        assert _overlaps(fig) == []
    finally:
        plt.close(fig)


def test_the_speed_plot_has_every_stage_in_order():
    stages = {
        "loading data": 0.7,
        "encoding": 1.2,
        **{f"linking: {s}": 0.1 for s in ("pool", "search", "model", "calibration")},
        "scoring": 0.5,
        "plaintext baseline": 9.0,
    }
    fig = speed_figure(stages)
    try:
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        assert labels == list(stages)
        assert len(fig.axes[0].patches) == len(stages)
        assert _overlaps(fig) == []
    finally:
        plt.close(fig)


def test_html_renders_code_spans_and_bold():
    page = _html(
        "# Report on `febrl4`\n\nRun `caselink bench --only privacy` for <the> table, "
        "**now**.\n\n| schema | note |\n| --- | --- |\n| `person` | **a & b** |\n"
    )
    assert "<h1>Report on <code>febrl4</code></h1>" in page
    assert "<code>caselink bench --only privacy</code>" in page
    assert "&lt;the&gt;" in page and "<strong>now</strong>" in page
    assert "<td><code>person</code></td><td><strong>a &amp; b</strong></td>" in page
    assert "`" not in page and "**" not in page


def test_html_keeps_what_is_inside_a_code_span_as_written():
    page = _html("Use `a**b**c` and `<x>`.\n")
    assert "<code>a**b**c</code>" in page and "<code>&lt;x&gt;</code>" in page


def test_html_joins_the_lines_of_a_paragraph_and_of_a_list_item():
    """The threat model wraps its lines: a code span may start on one and end on the next."""
    page = _html(
        "One paragraph with `a code\nspan` over two lines.\n\n"
        "* **First** item, `caselink\n  bench` wrapped\n* second item\n\nAfter the list.\n"
    )
    assert "<p>One paragraph with <code>a code span</code> over two lines.</p>" in page
    assert (
        "<ul>\n<li><strong>First</strong> item, <code>caselink bench</code> wrapped</li>\n"
        "<li>second item</li>\n</ul>\n<p>After the list.</p>" in page
    )
