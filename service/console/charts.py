"""Server-rendered SVG charts: data in, an accessible SVG string out.

:func:`bar_chart` draws one bar per label (months, kinds, agency pairs); :func:`histogram`
draws adjacent bars over bins (the confidence histogram). Each chart is an ``<svg>`` with
``role="img"``, a ``<title>`` and a ``<desc>`` that ``aria-labelledby`` names, and a
``<title>`` on each bar (a tooltip); the same figures go in the table beside it
(:func:`chart_table`), which is what a screen reader or a printout reads.

Every text is passed in already translated (and numbers formatted, through ``number``): the
charts know no language. ``rtl=True`` mirrors the layout for Arabic: the first bar (the oldest
month, the lowest bin) on the right and the value axis on the right. A value of None is a
count not shown ("fewer than 10"): no bar, a dashed marker and the short text ``missing``.

What the charts never hold, so that the console's Content-Security-Policy (``style-src
'self'``, ``script-src 'self'``) has nothing to block: no ``style`` attribute or element, no
script, no event handler, no external reference. Colours are presentation attributes
(``fill``, ``stroke``) and classes (``bar``, ``axis``, ``missing``) that the console's
stylesheet may override. Every text and attribute value is XML-escaped.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import blake3

__all__ = [
    "ChartTable",
    "TableRow",
    "bar_chart",
    "bin_labels",
    "chart_table",
    "histogram",
]

Number = Callable[[float], str]
HEIGHT, TOP, BOTTOM, AXIS, END = 260, 24, 56, 56, 16  # px: plot height and margins
FILL, MISSING_STROKE, INK = "#2b6cb0", "#718096", "#1a202c"


def _plain(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


@dataclass(frozen=True)
class TableRow:
    label: str
    value: float | None  # None: not shown (fewer than 10)
    shown: str  # the value as the table shows it


@dataclass(frozen=True)
class ChartTable:
    """The figures of a chart, for the table beside it."""

    rows: tuple[TableRow, ...]


def chart_table(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    missing: str = "fewer than 10",
    number: Number = _plain,
) -> ChartTable:
    """One row per bar: its label and its value as shown (``missing`` where None)."""
    _same_length(labels, values)
    return ChartTable(
        tuple(
            TableRow(label, v, missing if v is None else number(v))
            for label, v in zip(labels, values, strict=True)
        )
    )


def bin_labels(edges: Sequence[float], number: Number = _plain) -> list[str]:
    """``"low–high"`` of each bin between consecutive ``edges``."""
    return [f"{number(lo)}–{number(hi)}" for lo, hi in itertools.pairwise(edges)]


def _same_length(labels: Sequence[object], values: Sequence[object]) -> None:
    if len(labels) != len(values):
        raise ValueError(f"labels: {len(labels)} given for {len(values)} values")
    if any(v is not None and (not math.isfinite(v) or v < 0) for v in values):  # type: ignore[operator]
        raise ValueError("values: each is a finite number, 0 or more, or None")


TICKS = 4  # intervals of the value axis


def _nice(top: float) -> float:
    """The top of the value axis: :data:`TICKS` steps of 1, 2 or 5 times a power of ten, the
    smallest reaching ``top`` (1 a step for nothing)."""
    need = top / TICKS
    if need <= 0:
        return float(TICKS)
    power = 10 ** math.floor(math.log10(need))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= need)
    return step * TICKS


def _chart_id(kind: str, title: str, labels: Sequence[str]) -> str:
    digest = blake3.blake3("\x1f".join([kind, title, *labels]).encode("utf-8")).hexdigest()
    return f"chart-{digest[:10]}"


def _text(x: float, y: float, text: str, anchor: str, **attrs: str) -> str:
    extra = "".join(f" {k.replace('_', '-')}={quoteattr(v)}" for k, v in attrs.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="12" '
        f'fill="{INK}"{extra}>{escape(text)}</text>'
    )


@dataclass(frozen=True)
class _Frame:
    """The plot's geometry: bars fill [left, right]; values grow up from ``base``."""

    width: float
    left: float
    right: float
    top_value: float
    rtl: bool

    base = TOP + HEIGHT

    def y(self, value: float) -> float:
        return self.base - HEIGHT * value / self.top_value

    def slot(self, i: int, n: int) -> tuple[float, float]:
        """The x range of slot ``i`` of ``n``, mirrored in RTL."""
        step = (self.right - self.left) / n
        k = n - 1 - i if self.rtl else i
        return self.left + k * step, self.left + (k + 1) * step


def _frame(n: int, values: Sequence[float | None], rtl: bool, slot: float) -> _Frame:
    width = max(320.0, AXIS + END + n * slot)
    top = _nice(max((v for v in values if v is not None), default=0.0))
    if rtl:
        return _Frame(width, END, width - AXIS, top, rtl)
    return _Frame(width, AXIS, width - END, top, rtl)


def _axis(f: _Frame, number: Number) -> list[str]:
    """The value axis with five ticks, on the start side, and the baseline."""
    x = f.right if f.rtl else f.left
    parts = [
        f'<line class="axis" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{f.base}" '
        f'stroke="{INK}" stroke-width="1"/>',
        f'<line class="axis" x1="{f.left:.1f}" y1="{f.base}" x2="{f.right:.1f}" y2="{f.base}" '
        f'stroke="{INK}" stroke-width="1"/>',
    ]
    for k in range(TICKS + 1):
        value = f.top_value * k / TICKS
        y = f.y(value)
        label_x, anchor = (x + 6, "start") if f.rtl else (x - 6, "end")
        parts.append(_text(label_x, y + 4, number(value), anchor))
    return parts


def _bar(
    f: _Frame, x0: float, x1: float, label: str, value: float | None, shown: str, drawn: str
) -> list[str]:
    """One bar (or the marker of a value not shown) with ``drawn`` above it and ``label:
    shown`` as its tooltip."""
    tip = f"<title>{escape(label)}: {escape(shown)}</title>"
    if value is None:
        return [
            f'<rect class="missing" x="{x0:.1f}" y="{f.base - 6:.1f}" width="{x1 - x0:.1f}" '
            f'height="6" fill="none" stroke="{MISSING_STROKE}" stroke-dasharray="3 2">'
            f"{tip}</rect>",
            _text((x0 + x1) / 2, f.base - 10, drawn, "middle"),
        ]
    top = f.y(value)
    return [
        f'<rect class="bar" x="{x0:.1f}" y="{top:.1f}" width="{x1 - x0:.1f}" '
        f'height="{f.base - top:.1f}" fill="{FILL}" data-value="{value:g}">{tip}</rect>',
        _text((x0 + x1) / 2, top - 4, drawn, "middle"),
    ]


def _shown(values: Sequence[float | None], missing: str, number: Number) -> list[str]:
    return [missing if v is None else number(v) for v in values]


def _svg(
    kind: str,
    f: _Frame,
    title: str,
    desc: str,
    labels: Sequence[str],
    body: list[str],
    chart_id: str | None,
) -> str:
    cid = chart_id or _chart_id(kind, title, labels)
    if not cid.replace("-", "").replace("_", "").isalnum():
        raise ValueError("chart_id: letters, digits, '-' and '_' only")
    height = TOP + HEIGHT + BOTTOM
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" id="{cid}" '
        f'viewBox="0 0 {f.width:.0f} {height}" width="{f.width:.0f}" height="{height}" '
        f'data-direction="{"rtl" if f.rtl else "ltr"}">'
        f'<title id="{cid}-title">{escape(title)}</title>'
        f'<desc id="{cid}-desc">{escape(desc)}</desc>' + "".join(body) + "</svg>"
    )


def _describe(labels: Sequence[str], shown: Sequence[str], unit: str) -> str:
    tail = f" {unit}" if unit else ""
    return "; ".join(f"{label}: {s}{tail}" for label, s in zip(labels, shown, strict=True))


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    unit: str,
    desc: str | None = None,
    rtl: bool = False,
    missing: str = "fewer than 10",
    missing_mark: str = "<10",
    number: Number = _plain,
    chart_id: str | None = None,
) -> str:
    """One bar per label, its height proportional to its value (None: not shown — a dashed
    marker and ``missing_mark`` on the chart, ``missing`` in its description and tooltip).
    ``desc`` (default: every label with its value and ``unit``) is what a screen reader says
    after ``title``; ``chart_id`` (default: made from the title and labels) must be unique on
    the page."""
    _same_length(labels, values)
    # each bar's slot wide enough for its label (12-pixel text: about 7 pixels a character)
    slot = max(64.0, 7.0 * max((len(x) for x in labels), default=0) + 12.0)
    f = _frame(len(labels), values, rtl, slot=slot)
    shown = _shown(values, missing, number)
    body = _axis(f, number)
    for i, (label, v, s) in enumerate(zip(labels, values, shown, strict=True)):
        x0, x1 = f.slot(i, len(labels))
        pad = (x1 - x0) * 0.15
        drawn = missing_mark if v is None else s
        body += _bar(f, x0 + pad, x1 - pad, label, v, s, drawn)
        direction = {"direction": "rtl"} if rtl else {}
        body.append(_text((x0 + x1) / 2, f.base + 18, label, "middle", **direction))
    description = desc or _describe(labels, shown, unit)
    return _svg("bar", f, title, description, labels, body, chart_id)


def histogram(
    title: str,
    edges: Sequence[float],
    counts: Sequence[float | None],
    *,
    unit: str = "",
    desc: str | None = None,
    rtl: bool = False,
    missing: str = "fewer than 10",
    missing_mark: str = "<10",
    number: Number = _plain,
    chart_id: str | None = None,
) -> str:
    """Adjacent bars, one per bin between consecutive ``edges`` (ascending), each as high as
    its count; the edges label the axis. Mirrored with ``rtl``: the lowest bin on the right."""
    if len(edges) != len(counts) + 1 or list(edges) != sorted(edges):
        raise ValueError("edges: ascending, one more than the counts")
    labels = bin_labels(edges, number)
    _same_length(labels, counts)
    f = _frame(len(counts), counts, rtl, slot=40.0)
    shown = _shown(counts, missing, number)
    body = _axis(f, number)
    for i, (label, c, s) in enumerate(zip(labels, counts, shown, strict=True)):
        x0, x1 = f.slot(i, len(counts))
        body += _bar(f, x0, x1, label, c, s, missing_mark if c is None else s)
    n = len(counts)
    for k, edge in enumerate(edges):  # each edge under the boundary it marks
        x = f.slot(k, n)[0] if k < n else f.slot(n - 1, n)[1]
        if rtl:
            x = f.slot(k, n)[1] if k < n else f.slot(n - 1, n)[0]
        body.append(_text(x, f.base + 18, number(edge), "middle"))
    description = desc or _describe(labels, shown, unit)
    return _svg("histogram", f, title, description, labels, body, chart_id)
