"""The monthly report's bar chart: heights in proportion, text escaped, an empty chart says so."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from server.monthly.svg import BOTTOM, HEIGHT, TOP, bar_chart

NS = "{http://www.w3.org/2000/svg}"


def _bars(svg: str) -> list[float]:
    root = ET.fromstring(svg)
    return [float(r.get("height", "0")) for r in root.iter(f"{NS}rect")
            if r.find(f"{NS}title") is not None]


def test_bars_are_in_proportion_to_the_largest_value() -> None:
    svg = bar_chart("报警", ["a", "b"], [("11", [4, 2]), ("10", [1, 0])])
    plot = HEIGHT - TOP - BOTTOM
    assert _bars(svg) == [plot, plot / 4, plot / 2, 0.0]


def test_a_fixed_maximum_caps_the_axis() -> None:
    svg = bar_chart("rate", ["x"], [("11", [50.0])], maximum=100.0)
    assert _bars(svg) == [(HEIGHT - TOP - BOTTOM) / 2]


def test_text_is_escaped_and_an_empty_chart_says_so() -> None:
    svg = bar_chart("<b>&", [], [("11", [])])
    ET.fromstring(svg)  # well-formed
    assert "&lt;b&gt;&amp;" in svg
    assert re.search(">无数据<", svg)
