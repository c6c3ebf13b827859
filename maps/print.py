"""The printed four-colour map (上墙): a static PNG or PDF drawn with matplotlib in a Gauss–Krüger projection,
with title, Chinese legend and counts, scale bar in km, north arrow, date and data source."""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Final, Literal

import geopandas as gpd
import matplotlib as mpl
from matplotlib import font_manager, patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Polygon, Rectangle
from pyproj import Transformer

from geo.coords import gauss_kruger_epsg
from geo.errors import InvalidInput, SetupError
from geo.escape import plain_text
from maps.four_colour import (
    LEVELS,
    NO_RISK_COLOUR,
    NO_RISK_LABEL,
    in_storage_crs,
    level_counts,
    level_label,
    level_of,
    resolve_palette,
)

__all__ = ["CJK_FONT_FAMILIES", "PAPER_SIZES_MM", "cjk_font_family", "format_date_zh", "four_colour_print"]

CJK_FONT_FAMILIES: Final = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Noto Sans CJK JP",  # the same pan-CJK font under its first name, where the font list sees only that one
)
FONT_PACKAGE: Final = "fonts-noto-cjk"
PAPER_SIZES_MM: Final = {"A4": (297.0, 210.0), "A3": (420.0, 297.0)}  # landscape
ZONE_FILL_ALPHA: Final = 0.85  # paper has no base map below: stronger than the web map's fill
SYNTHETIC_NOTE: Final = "注：本图使用合成（模拟）数据，仅用于演示，不反映真实的安全风险状况。"
_MM_PER_INCH: Final = 25.4
_MAX_LABELLED_ZONES: Final = 80  # beyond this, zone names would cover the map


@cache
def cjk_font_family(families: Sequence[str] = CJK_FONT_FAMILIES, *, use_fc_match: bool = True) -> str:
    """The name of an installed font that has Chinese glyphs, as matplotlib knows it.

    Looks for the families in order in matplotlib's font list, then asks fontconfig (`fc-match :lang=zh-cn`).
    Raises SetupError naming the Debian package when there is none: without it every Chinese character
    would print as an empty box.
    """
    known = {entry.name for entry in font_manager.fontManager.ttflist}
    for family in families:
        if family in known:
            return family
    if use_fc_match and shutil.which("fc-match"):
        found = subprocess.run(
            ["fc-match", "--format=%{file}", ":lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        if found:
            font_manager.fontManager.addfont(found)
            name = font_manager.FontProperties(fname=found).get_name()
            if _has_chinese(found):
                return name
    raise SetupError(
        "no font with Chinese characters is installed, so the printed map cannot be drawn. "
        f"Install the Debian package {FONT_PACKAGE} (`apt-get install {FONT_PACKAGE}`, "
        "or run `bash scripts/setup.sh`)."
    )


def _has_chinese(path: str) -> bool:
    """Whether the font file maps 风 险 (fontconfig returns its default font when nothing matches the language)."""
    from matplotlib.ft2font import FT2Font

    try:
        charmap = FT2Font(path).get_charmap()
    except (OSError, RuntimeError):
        return False
    return ord("风") in charmap and ord("险") in charmap


def format_date_zh(day: dt.date) -> str:
    """2025年03月07日."""
    return f"{day.year:04d}年{day.month:02d}月{day.day:02d}日"


def _wrap(text: str, width: float) -> str:
    """Chinese text in lines about `width` characters wide (a Latin letter or digit counts half), never
    breaking a run of Latin letters and digits such as 60/30/20 (textwrap would only break at spaces)."""
    lines, line, used = [], "", 0.0
    for piece in re.findall(r"[A-Za-z0-9./%=,+:\-]+|.", text):
        size = sum(0.55 if ord(c) < 0x2E80 else 1.0 for c in piece)
        if line and used + size > width:
            lines.append(line.rstrip())
            line, used = "", 0.0
            if piece == " ":
                continue
        line += piece
        used += size
    lines.append(line)
    return "\n".join(lines)


def _nice_length(target_m: float) -> float:
    """The largest 1, 2, 2.5 or 5 × 10^k metres not above target_m."""
    exponent = math.floor(math.log10(target_m))
    best = 10.0**exponent
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * 10.0**exponent <= target_m:
            best = step * 10.0**exponent
    return best


def _km(metres: float) -> str:
    value = metres / 1000.0
    return f"{value:g}"


def _scale_bar(ax: Axes) -> None:
    """A four-segment bar in kilometres at the lower left, measured in the projected (metre) coordinates."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    width, height = x1 - x0, y1 - y0
    length = _nice_length(width / 4.0)
    left, bottom = x0 + 0.04 * width, y0 + 0.05 * height
    bar_h = 0.012 * height
    segment = length / 4.0
    for i in range(4):
        ax.add_patch(
            Rectangle(
                (left + i * segment, bottom),
                segment,
                bar_h,
                facecolor="black" if i % 2 == 0 else "white",
                edgecolor="black",
                linewidth=0.8,
                zorder=20,
            )
        )
    halo = [patheffects.withStroke(linewidth=3, foreground="white")]
    for position in (0.0, length / 2.0, length):
        ax.text(
            left + position,
            bottom + bar_h * 1.6,
            _km(position),
            ha="center",
            va="bottom",
            fontsize=8,
            zorder=20,
            path_effects=halo,
        )
    ax.text(
        left + length + segment * 0.4,
        bottom + bar_h / 2,
        "千米",
        ha="left",
        va="center",
        fontsize=8,
        zorder=20,
        path_effects=halo,
    )


def _north_arrow(ax: Axes, angle_deg: float) -> None:
    """A north arrow at the upper right, turned by the meridian convergence so it points to true north."""
    cx, cy, size = 0.95, 0.895, 0.045
    theta = math.radians(angle_deg)

    def rotate(dx: float, dy: float) -> tuple[float, float]:
        return cx + dx * math.cos(theta) - dy * math.sin(theta), cy + dx * math.sin(theta) + dy * math.cos(
            theta
        )

    tip, left, right, notch = (
        rotate(0, size),
        rotate(-size * 0.4, -size * 0.6),
        rotate(size * 0.4, -size * 0.6),
        rotate(0, -size * 0.3),
    )
    ax.add_patch(
        Polygon(
            [tip, left, notch],
            closed=True,
            transform=ax.transAxes,
            facecolor="black",
            edgecolor="black",
            linewidth=0.8,
            zorder=20,
        )
    )
    ax.add_patch(
        Polygon(
            [tip, notch, right],
            closed=True,
            transform=ax.transAxes,
            facecolor="white",
            edgecolor="black",
            linewidth=0.8,
            zorder=20,
        )
    )
    label = rotate(0, size * 1.35)
    ax.text(
        *label,
        "北",
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=11,
        fontweight="bold",
        zorder=20,
    )


def _legend(
    ax: Axes,
    palette: Mapping[int, str],
    zone_counts: Mapping[int | None, int],
    unit_counts: Mapping[int, int],
    has_boundaries: bool,
    notes: Sequence[str] = (),
) -> None:
    """The legend panel: one row per level with its swatch, name and colour word, and the counts."""
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.add_patch(Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="#333333", linewidth=0.8))
    ax.text(0.06, 0.95, "图　例", fontsize=13, fontweight="bold", va="top")
    ax.text(0.06, 0.885, "风险等级", fontsize=9, color="#444444", va="top")
    ax.text(0.74, 0.885, "区域数", fontsize=9, color="#444444", va="top", ha="right")
    ax.text(0.94, 0.885, "单元数", fontsize=9, color="#444444", va="top", ha="right")
    rows: list[tuple[str, str, str, str]] = [
        (palette[lvl], level_label(lvl), str(zone_counts.get(lvl, 0)), str(unit_counts.get(lvl, 0)))
        for lvl in LEVELS
    ]
    rows.append((NO_RISK_COLOUR, NO_RISK_LABEL, str(zone_counts.get(None, 0)), "—"))
    y = 0.82
    for colour, label, zones_n, units_n in rows:
        ax.add_patch(
            Rectangle(
                (0.06, y - 0.035),
                0.12,
                0.045,
                facecolor=colour,
                alpha=ZONE_FILL_ALPHA,
                edgecolor="#333333",
                linewidth=0.6,
            )
        )
        ax.text(0.21, y - 0.013, label, fontsize=9.5, va="center")
        ax.text(0.74, y - 0.013, zones_n, fontsize=9.5, va="center", ha="right")
        ax.text(0.94, y - 0.013, units_n, fontsize=9.5, va="center", ha="right")
        y -= 0.087
    if has_boundaries:
        y -= 0.02
        ax.plot([0.06, 0.18], [y - 0.013, y - 0.013], color="#222222", linewidth=1.2, linestyle="--")
        ax.text(0.21, y - 0.013, "行政区划界线", fontsize=9.5, va="center")
        y -= 0.087
    if not notes:  # the caller's notes go below the legend (four_colour_print)
        ax.text(
            0.06,
            y - 0.02,
            "区域颜色取区内风险单元的\n最高等级（就高）；单元数为\n各等级风险单元的个数。",
            fontsize=7.5,
            color="#444444",
            va="top",
            linespacing=1.5,
        )


def four_colour_print(
    zones: gpd.GeoDataFrame,
    *,
    title: str,
    data_source: str,
    boundaries: gpd.GeoDataFrame | None = None,
    risk_units: gpd.GeoDataFrame | None = None,
    subtitle: str | None = None,
    date: dt.date | None = None,
    palette: Mapping[int, str] | None = None,
    synthetic: bool = False,
    paper: Literal["A4", "A3"] = "A4",
    fmt: Literal["png", "pdf"] = "png",
    dpi: int = 200,
    unit_counts: Mapping[int, int] | None = None,
    notes: Sequence[str] = (),
    label_boundaries: bool = False,
) -> bytes:
    """The four-colour map for printing, as PNG or PDF bytes (landscape A4 or A3).

    Zones are filled by level and drawn in the CGCS2000 3° Gauss–Krüger zone of their centre, so shapes and the
    scale bar are true. unit_counts (the register's units by level, each once: what the web map's legend, the
    API and the summary count) are the legend's unit counts; without them risk_units, when given, is counted
    once each, else the zones' counts are summed. notes go under the legend (which zones and why, the rule,
    what is counted). Zones are named at a point inside each; `label_boundaries` names the administrative
    boundaries instead (a grid's cells have no names worth printing). synthetic=True prints a note that the
    data are made up. Needs a CJK font (Debian fonts-noto-cjk).
    """
    if fmt not in ("png", "pdf"):
        raise InvalidInput.one(
            "fmt", f"unknown format {fmt!r}; expected png or pdf", f"未知格式 {fmt!r}；应为 png 或 pdf"
        )
    if paper not in PAPER_SIZES_MM:
        raise InvalidInput.one(
            "paper", f"unknown paper {paper!r}; expected A4 or A3", f"未知纸张 {paper!r}；应为 A4 或 A3"
        )
    zones = in_storage_crs(zones)
    shapes = zones[~(zones.geometry.isna() | zones.geometry.is_empty)]
    if shapes.empty:
        raise InvalidInput.one("zones", "there are no zones with a geometry to print", "没有可打印的区域图形")
    family = cjk_font_family()
    palette_ = resolve_palette(palette, zones)
    zone_counts, counted = level_counts(zones, risk_units)
    units_by_level = (
        {lv: int(unit_counts.get(lv, 0)) for lv in LEVELS} if unit_counts is not None else counted
    )

    minx, miny, maxx, maxy = (float(v) for v in shapes.total_bounds)
    lon, lat = (minx + maxx) / 2.0, (miny + maxy) / 2.0
    epsg = gauss_kruger_epsg(lon)
    projected = shapes.to_crs(epsg)
    # Meridian convergence at the centre: the angle between grid north and true north in this projection.
    to_grid = Transformer.from_crs(4490, epsg, always_xy=True)
    (x_a, x_b), (y_a, y_b) = to_grid.transform([lon, lon], [lat, lat + 0.01])
    convergence = math.degrees(math.atan2(-(x_b - x_a), y_b - y_a))

    width_mm, height_mm = PAPER_SIZES_MM[paper]
    scale = width_mm / PAPER_SIZES_MM["A4"][0]  # type grows with the paper
    with mpl.rc_context(
        {
            "font.family": [family],
            "font.size": 10 * scale,
            "axes.unicode_minus": False,
            "pdf.fonttype": 3,  # CJK subsets embedded as Type 3: Type 42 cannot carry this font's CFF outlines
        }
    ):
        fig = Figure(figsize=(width_mm / _MM_PER_INCH, height_mm / _MM_PER_INCH), dpi=dpi, facecolor="white")
        fig.text(
            0.5, 0.955, plain_text(title), ha="center", va="center", fontsize=20 * scale, fontweight="bold"
        )
        if subtitle:
            fig.text(
                0.5,
                0.912,
                plain_text(subtitle),
                ha="center",
                va="center",
                fontsize=12 * scale,
                color="#333333",
            )

        ax = fig.add_axes((0.03, 0.10, 0.72, 0.78))
        colours = (
            [
                palette_[lvl] if (lvl := level_of(v)) is not None else NO_RISK_COLOUR
                for v in projected["level"]
            ]
            if "level" in projected.columns
            else [NO_RISK_COLOUR] * len(projected)
        )
        projected.plot(ax=ax, color=colours, alpha=ZONE_FILL_ALPHA, edgecolor="none", zorder=1)
        projected.boundary.plot(ax=ax, color="#555555", linewidth=0.5, zorder=2)
        if boundaries is not None and len(boundaries):
            in_storage_crs(boundaries).to_crs(epsg).boundary.plot(
                ax=ax, color="#222222", linewidth=1.2, linestyle="--", zorder=3
            )
        named = projected
        if label_boundaries:
            named = (
                in_storage_crs(boundaries).to_crs(epsg)
                if boundaries is not None and len(boundaries) and "name" in boundaries.columns
                else projected.iloc[0:0]
            )
        if "name" in named.columns and len(named) <= _MAX_LABELLED_ZONES:
            halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
            for name, geom in zip(named["name"], named.geometry, strict=True):
                if isinstance(name, str) and name:
                    point = geom.representative_point()
                    ax.text(
                        point.x,
                        point.y,
                        plain_text(name),
                        ha="center",
                        va="center",
                        fontsize=8 * scale,
                        zorder=10,
                        path_effects=halo,
                    )

        x0, y0, x1, y1 = (float(v) for v in projected.total_bounds)
        pad = 0.06 * max(x1 - x0, y1 - y0, 1.0)
        # Room below for the scale bar and above for the north arrow, so neither covers a zone.
        height = y1 - y0 + 2 * pad
        ax.set_xlim(x0 - pad, x1 + pad)
        ax.set_ylim(y0 - pad - 0.10 * height, y1 + pad + 0.16 * height)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("")  # geopandas labels projected axes "Easting [metre]"; the projection note says it
        ax.set_ylabel("")
        for spine in ax.spines.values():
            spine.set_linewidth(1.0)
        _scale_bar(ax)
        _north_arrow(ax, convergence)

        legend_ax = fig.add_axes((0.775, 0.38, 0.20, 0.50))
        _legend(
            legend_ax,
            palette_,
            zone_counts,
            units_by_level,
            boundaries is not None and len(boundaries) > 0,
            notes,
        )
        fig.text(
            0.775,
            0.36,
            f"投影：CGCS2000 / 3° 高斯-克吕格（EPSG:{epsg}）",
            fontsize=7.5 * scale,
            color="#444444",
            va="top",
        )
        if notes:
            fig.text(
                0.775,
                0.33,
                "\n".join(_wrap(plain_text(n), 21) for n in notes),
                fontsize=7.5 * scale,
                color="#333333",
                va="top",
                linespacing=1.35,
            )

        fig.text(0.03, 0.055, plain_text(f"数据来源：{data_source}"), fontsize=9.5 * scale, va="center")
        fig.text(
            0.975,
            0.055,
            f"制图日期：{format_date_zh(date or dt.date.today())}",
            fontsize=9.5 * scale,
            va="center",
            ha="right",
        )
        if synthetic:
            fig.text(0.03, 0.025, SYNTHETIC_NOTE, fontsize=9.5 * scale, va="center", color="#B00000")

        out = io.BytesIO()
        metadata = (
            {"Title": title, "Creator": "riskmap"}
            if fmt == "pdf"
            else {"Title": title, "Software": "riskmap"}
        )
        fig.savefig(out, format=fmt, dpi=dpi, facecolor="white", metadata=metadata)
    return out.getvalue()
