"""The printed four-colour map (上墙): PNG and PDF, page size, embedded CJK font, scale and date helpers."""

from __future__ import annotations

import datetime as dt
import io

import geopandas as gpd
import pytest
from PIL import Image

from geo.errors import InvalidInput, SetupError
from maps.print import PAPER_SIZES_MM, _nice_length, cjk_font_family, format_date_zh, four_colour_print
from tests.maps.frames import ARTIFACTS

TITLE = "泉港区区域安全风险空间分布图"
SOURCE = "泉港区应急管理局 企业风险登记台账（合成数据）"


def _pixels(paper: str, dpi: int) -> tuple[int, int]:
    width_mm, height_mm = PAPER_SIZES_MM[paper]
    return int(width_mm / 25.4 * dpi), int(height_mm / 25.4 * dpi)


def test_png_is_an_a4_landscape_page(
    zones: gpd.GeoDataFrame, county_boundaries: gpd.GeoDataFrame, risk_units: gpd.GeoDataFrame
) -> None:
    png = four_colour_print(
        zones,
        boundaries=county_boundaries,
        risk_units=risk_units,
        title=TITLE,
        subtitle="红橙黄蓝四色图",
        data_source=SOURCE,
        date=dt.date(2025, 3, 7),
        synthetic=True,
        dpi=200,
    )
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 50_000
    image = Image.open(io.BytesIO(png))
    width, height = image.size
    expected = _pixels("A4", 200)
    assert abs(width - expected[0]) <= 1
    assert abs(height - expected[1]) <= 1
    # The page is not blank: the red of a level-1 zone is on it.
    colours = {rgb for _, rgb in image.convert("RGB").getcolors(maxcolors=1 << 20) or []}
    assert any(r > 200 and g < 80 and b < 80 for r, g, b in colours)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "four_colour_print.png").write_bytes(png)


def test_pdf_embeds_the_cjk_font(zones: gpd.GeoDataFrame, county_boundaries: gpd.GeoDataFrame) -> None:
    pdf = four_colour_print(zones, boundaries=county_boundaries, title=TITLE, data_source=SOURCE, fmt="pdf")
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) > 20_000
    assert b"NotoSansCJK" in pdf  # e.g. /BaseFont /ABCDEF+NotoSansCJKsc-Regular, a subset of the font
    assert b"/Type3" in pdf or b"/FontFile" in pdf
    (ARTIFACTS / "four_colour_print.pdf").parent.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "four_colour_print.pdf").write_bytes(pdf)


def test_a3_paper(zones: gpd.GeoDataFrame) -> None:
    png = four_colour_print(zones, title=TITLE, data_source=SOURCE, paper="A3", dpi=72)
    width, height = Image.open(io.BytesIO(png)).size
    expected = _pixels("A3", 72)
    assert abs(width - expected[0]) <= 1
    assert abs(height - expected[1]) <= 1


def test_bad_requests_are_refused(zones: gpd.GeoDataFrame) -> None:
    with pytest.raises(InvalidInput, match="fmt"):
        four_colour_print(zones, title=TITLE, data_source=SOURCE, fmt="svg")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="no zones"):
        four_colour_print(zones.iloc[0:0], title=TITLE, data_source=SOURCE)


def test_missing_cjk_font_names_the_debian_package() -> None:
    with pytest.raises(SetupError, match="fonts-noto-cjk"):
        cjk_font_family(("No Such Font SC",), use_fc_match=False)
    assert "CJK" in cjk_font_family()


def test_scale_bar_lengths_and_date() -> None:
    assert _nice_length(7_300) == 5_000
    assert _nice_length(2_600) == 2_500
    assert _nice_length(1_999) == 1_000
    assert _nice_length(23_000) == 20_000
    assert format_date_zh(dt.date(2025, 3, 7)) == "2025年03月07日"
