"""geo/escape.py, the one escaping path, and the renderers that use it without a server: the joint-prevention
map's popups and tooltips, and the printed map's text."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, Point

from geo.escape import ESC_JS, ascii_filename, escape_cell, html_text, plain_text, script_json
from maps.joint_prevention import joint_prevention_map
from maps.print import four_colour_print

PAYLOAD = '<img src=x onerror="window.__xss=1">\'&'


def test_html_text_escapes_markup_and_quotes() -> None:
    assert html_text(PAYLOAD) == "&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;&#x27;&amp;"
    assert html_text(None) == ""
    assert html_text(float("nan")) == ""
    assert html_text(np.float64("nan")) == ""
    assert html_text(3) == "3"


def test_script_json_cannot_end_its_script() -> None:
    text = script_json({"n": "</script><!--\u2028&"})
    assert "<" not in text
    assert ">" not in text
    assert "&" not in text
    assert "\u2028" not in text
    assert json.loads(text) == {"n": "</script><!--\u2028&"}


def test_the_browser_escapes_the_same_characters() -> None:
    assert all(f'"{c}"' in ESC_JS or f"'{c}'" in ESC_JS for c in "&<>\"'")


@pytest.mark.parametrize("value", ["=1+2", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"])
def test_escape_cell_defuses_formulas(value: str) -> None:
    assert escape_cell(value) == "'" + value


def test_escape_cell_keeps_other_values() -> None:
    assert escape_cell("普通文本") == "普通文本"
    assert escape_cell(-5) == -5
    assert escape_cell(None) is None


def test_plain_text_escapes_every_dollar() -> None:
    assert plain_text(r"$\frac{$") == r"\$\frac{\$"
    assert plain_text(None) == ""


def test_ascii_filename_keeps_the_header_parameter_whole() -> None:
    assert ascii_filename('a"; x=\\y\r\n泉.xlsx') == "a_; x=_y___.xlsx"


def test_joint_prevention_popups_and_tooltips_get_escaped_text() -> None:
    clusters = gpd.GeoDataFrame(
        {"id": [1], "level": [1], "member_count": [2], "cross_region": [False], "name_zh": [PAYLOAD]},
        geometry=[Point(118.88, 25.11).buffer(0.01)],
        crs=4490,
    )
    members = gpd.GeoDataFrame(
        {
            "id": [1, 2],
            "name": [PAYLOAD, "乙厂"],
            "level": [1, 2],
            "cluster_id": [1, 1],
            "business_type": [PAYLOAD, ""],
        },
        geometry=[Point(118.88, 25.11), Point(118.885, 25.11)],
        crs=4490,
    )
    checks = gpd.GeoDataFrame(
        {"cluster_id": [1], "inspector": [PAYLOAD], "inspected": ["乙厂"]},
        geometry=[LineString([(118.88, 25.11), (118.885, 25.11)])],
        crs=4490,
    )
    page = joint_prevention_map(clusters, members=members, checks=checks).get_root().render()
    decoded = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)
    assert "<img src=x" not in decoded
    # The cluster's name, the member's name and business type, and the check line and its arrowhead.
    assert decoded.count(html_text(PAYLOAD)) >= 4


def test_printed_map_text_is_never_mathtext() -> None:
    zones = gpd.GeoDataFrame(
        {"name": [r"园区$\frac{$", "网格$x^{2}$"], "level": [1, 3]},
        geometry=[Point(118.88, 25.11).buffer(0.02), Point(118.95, 25.11).buffer(0.02)],
        crs=4490,
    )
    pdf = four_colour_print(
        zones, title=r"泉港区$\frac{$", subtitle="$x^{2}$", data_source="$y$ 台账", fmt="pdf", dpi=72
    )
    assert pdf.startswith(b"%PDF")
    fonts = set(re.findall(rb"/BaseFont\s*/[A-Z]{6}\+([A-Za-z0-9-]+)", pdf))
    assert fonts
    assert not [f for f in fonts if b"DejaVu" in f or b"cm" in f.lower()], fonts
