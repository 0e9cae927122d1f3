"""The SVG charts, parsed as XML: accessible names, bars proportional to their values, values
not shown drawn as such, every text escaped, the layout mirrored for right-to-left, and
nothing a strict Content-Security-Policy would block."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import pytest

from service.console.charts import bar_chart, bin_labels, chart_table, histogram

NS = {"svg": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def bars(root: ET.Element) -> list[ET.Element]:
    return root.findall("svg:rect[@class='bar']", NS)


def centre(rect: ET.Element) -> float:
    return float(rect.get("x")) + float(rect.get("width")) / 2


def test_a_chart_is_an_image_named_by_its_title_and_description():
    svg = bar_chart("Accesses per month", ["Jan", "Feb"], [12, 30], unit="calls")
    root = parse(svg)
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby").split()
    title = root.find(f"svg:title[@id='{title_id}']", NS)
    desc = root.find(f"svg:desc[@id='{desc_id}']", NS)
    assert title is not None and title.text == "Accesses per month"
    assert desc is not None and desc.text == "Jan: 12 calls; Feb: 30 calls"
    assert root[0] is title  # the accessible name comes first
    # each bar says what it is, for a pointer
    assert [b.find("svg:title", NS).text for b in bars(root)] == ["Jan: 12", "Feb: 30"]


def test_given_description_and_ids_are_used_and_ids_differ_between_charts():
    a = parse(bar_chart("A", ["x"], [1], unit="", desc="One bar.", chart_id="quality-1"))
    assert a.get("id") == "quality-1" and a.find("svg:desc", NS).text == "One bar."
    b = parse(bar_chart("B", ["x"], [1], unit=""))
    c = parse(bar_chart("C", ["x"], [1], unit=""))
    assert b.get("id") != c.get("id")
    with pytest.raises(ValueError, match="chart_id"):
        bar_chart("A", ["x"], [1], unit="", chart_id='x" onload="alert(1)')


def test_bar_heights_are_proportional_to_the_values_and_share_a_baseline():
    values = [5, 10, 20, 40, 0]
    root = parse(bar_chart("t", ["a", "b", "c", "d", "e"], values, unit=""))
    rects = bars(root)
    heights = [float(r.get("height")) for r in rects]
    assert heights[-1] == 0
    for h, v in zip(heights, values, strict=True):
        assert h == pytest.approx(heights[3] * v / 40, abs=0.11)
    bottoms = {round(float(r.get("y")) + float(r.get("height")), 1) for r in rects}
    assert len(bottoms) == 1
    assert [r.get("data-value") for r in rects] == ["5", "10", "20", "40", "0"]


def test_the_value_axis_reaches_a_round_number_above_the_largest_value():
    root = parse(bar_chart("t", ["a"], [37], unit=""))
    ticks = [t.text for t in root.findall("svg:text[@text-anchor='end']", NS)]
    assert ticks == ["0", "10", "20", "30", "40"]
    empty = parse(bar_chart("t", ["a", "b"], [0, 0], unit=""))
    assert all(float(r.get("height")) == 0 for r in bars(empty))


def test_a_value_not_shown_has_no_bar_but_a_marked_place():
    root = parse(
        bar_chart(
            "t",
            ["Jan", "Feb", "Mar"],
            [12, None, 30],
            unit="calls",
            missing="moins de 10",
            missing_mark="<10",
        )
    )
    assert len(bars(root)) == 2
    (marker,) = root.findall("svg:rect[@class='missing']", NS)
    assert marker.find("svg:title", NS).text == "Feb: moins de 10"
    assert marker.get("fill") == "none" and marker.get("stroke-dasharray")
    assert "<10" in [t.text for t in root.findall("svg:text", NS)]
    assert root.find("svg:desc", NS).text == "Jan: 12 calls; Feb: moins de 10 calls; Mar: 30 calls"


def test_rtl_mirrors_the_bars_and_the_axis():
    labels, values = ["Jan", "Feb", "Mar"], [10, 20, 30]
    ltr = parse(bar_chart("t", labels, values, unit=""))
    rtl = parse(bar_chart("t", labels, values, unit="", rtl=True))
    width = float(ltr.get("width"))
    assert float(rtl.get("width")) == width and rtl.get("data-direction") == "rtl"
    left = [centre(r) for r in bars(ltr)]
    right = [centre(r) for r in bars(rtl)]
    assert left == sorted(left) and right == sorted(right, reverse=True)  # first bar: right
    for a, b in zip(left, right, strict=True):
        assert a + b == pytest.approx(width, abs=0.2)  # mirror images
    axis_ltr = ltr.find("svg:line[@class='axis']", NS)
    axis_rtl = rtl.find("svg:line[@class='axis']", NS)
    assert float(axis_ltr.get("x1")) < width / 2 < float(axis_rtl.get("x1"))
    labels_rtl = [t for t in rtl.findall("svg:text", NS) if t.get("direction") == "rtl"]
    assert [t.text for t in labels_rtl] == labels


def test_every_text_is_escaped():
    nasty = '<script>alert("x")</script> & "quotes"'
    svg = bar_chart(nasty, [nasty], [10], unit=nasty, desc=None)
    root = parse(svg)  # still well-formed XML
    assert root.find("svg:title", NS).text == nasty
    assert "<script" not in svg and root.find(".//svg:script", NS) is None


def test_nothing_a_strict_csp_blocks():
    for svg in (
        bar_chart("t", ["a", "b"], [3, None], unit="x", rtl=True),
        histogram("h", [0, 0.5, 1], [4, 5]),
    ):
        assert "style" not in svg and "<script" not in svg
        assert not re.search(r"\son\w+=", svg), "an event handler"
        assert not re.search(r"(href|src)=", svg), "an external reference"


def test_a_histogram_has_adjacent_bins_labelled_by_their_edges():
    edges = [k / 10 for k in range(11)]
    counts = [0, 0, 1, 2, 3, 5, 8, 13, 21, 34]
    root = parse(histogram("Confidence", edges, counts, unit="records"))
    rects = bars(root)
    assert len(rects) == 10
    for a, b in itertools.pairwise(rects):  # no gap between bins
        assert float(a.get("x")) + float(a.get("width")) == pytest.approx(float(b.get("x")))
    heights = [float(r.get("height")) for r in rects]
    for h, c in zip(heights, counts, strict=True):
        assert h == pytest.approx(heights[-1] * c / 34, abs=0.11)
    texts = [t.text for t in root.findall("svg:text", NS)]
    assert "0.10" in texts and "1" in texts
    assert root.find("svg:desc", NS).text.startswith("0–0.10: 0 records; 0.10–0.20: 0 records")
    mirrored = parse(histogram("Confidence", edges, counts, rtl=True))
    xs = [float(r.get("x")) for r in bars(mirrored)]
    assert xs == sorted(xs, reverse=True)  # the lowest bin on the right


def test_bad_shapes_are_refused_with_the_parameter_named():
    with pytest.raises(ValueError, match="labels"):
        bar_chart("t", ["a"], [1, 2], unit="")
    with pytest.raises(ValueError, match="values"):
        bar_chart("t", ["a"], [-1], unit="")
    with pytest.raises(ValueError, match="edges"):
        histogram("t", [0, 1], [1, 2])
    with pytest.raises(ValueError, match="edges"):
        histogram("t", [1, 0, 2], [1, 2])


def test_the_table_beside_a_chart_holds_the_same_figures():
    table = chart_table(
        ["Jan", "Feb"], [1234, None], missing="أقل من 10", number=lambda v: f"<{v}>"
    )
    assert [(r.label, r.value, r.shown) for r in table.rows] == [
        ("Jan", 1234, "<1234>"),
        ("Feb", None, "أقل من 10"),
    ]
    assert bin_labels([0, 0.5, 1]) == ["0–0.50", "0.50–1"]
    assert bin_labels([0, 5], number=lambda v: f"{v:.1f}") == ["0.0–5.0"]


def test_long_labels_get_room_enough_not_to_overlap():
    """Month names under the bars of the public page ("September 2026") once ran into each
    other: each bar's slot is as wide as its label's text."""
    labels = ["September 2026", "October 2026", "November 2026", "December 2026"]
    root = parse(bar_chart("Uploads", labels, [1.0, 20.0, 0.0, 12.0], unit="uploads"))
    texts = [t for t in root.iter("{http://www.w3.org/2000/svg}text") if t.text in labels]
    xs = sorted(float(t.get("x")) for t in texts)
    assert len(xs) == len(labels)
    longest = 7.0 * max(map(len, labels))  # about 7 pixels a character at font-size 12
    assert all(b - a >= longest for a, b in itertools.pairwise(xs)), xs
