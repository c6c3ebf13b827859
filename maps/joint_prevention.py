"""The joint-prevention map (联防联控组团与交叉互查图): cluster hulls coloured by their highest level, member
markers, arrows from inspector to inspected (交叉互查), a legend and popups. Data in, folium.Map out."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import folium
import geopandas as gpd
import numpy as np
import shapely
from folium import plugins
from shapely.geometry import LineString, Polygon

from geo.escape import html_text
from maps.assets import DEFAULT_PREFIX, localise
from maps.four_colour import (
    LEVELS,
    NO_RISK_COLOUR,
    NO_RISK_LABEL,
    MapDecorations,
    TileSetting,
    in_storage_crs,
    level_label,
    level_of,
    resolve_palette,
)

__all__ = ["DEFAULT_TITLE", "arrowheads", "check_lines", "joint_prevention_map", "separate_reverse"]

DEFAULT_TITLE: Final = "联防联控组团与交叉互查图"
BACKGROUND: Final = "#F7F7F4"
HULL_FILL_OPACITY: Final = 0.35
CHECK_COLOUR: Final = "#1F4E79"
CROSS_REGION_DASH: Final = "8 5"
SMALL_MARKERS_ABOVE: Final = 150  # more member markers than this are drawn smaller
_FONT: Final = '"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif'

_CSS: Final = f"""
.rm-jp-title{{position:absolute;top:10px;left:50%;transform:translateX(-50%);z-index:800;pointer-events:none;
  background:rgba(255,255,255,.9);padding:6px 16px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);
  font:bold 20px/1.3 {_FONT};white-space:nowrap}}
.rm-jp-legend{{background:#fff;padding:8px 10px;border-radius:4px;
  box-shadow:0 1px 4px rgba(0,0,0,.3);font:13px/1.5 {_FONT}}}
.rm-jp-legend-title{{font-weight:bold;margin-bottom:4px}}
.rm-jp-legend table{{border-collapse:collapse}}
.rm-jp-legend td{{padding:1px 6px;text-align:left;vertical-align:middle}}
.rm-jp-legend td.rm-n{{text-align:right}}
.rm-jp-sw{{display:inline-block;width:18px;height:12px;border:1px solid #555}}
.rm-jp-dot{{display:inline-block;width:11px;height:11px;border-radius:50%;border:1px solid #222}}
.rm-jp-line{{display:inline-block;width:26px;height:0;border-top:2px solid {CHECK_COLOUR};vertical-align:middle}}
.rm-jp-dash{{display:inline-block;width:18px;height:12px;border:2px dashed #333}}
"""


def _colour(level: int | None, palette: Mapping[int, str]) -> str:
    return palette[level] if level is not None else NO_RISK_COLOUR


def _legend_html(
    palette: Mapping[int, str],
    cluster_counts: Mapping[int | None, int],
    member_counts: Mapping[int | None, int],
    checks: int,
    cross_region: int,
) -> str:
    rows = "".join(
        f'<tr class="rm-jp-legend-row" data-level="{lvl}">'
        f'<td><span class="rm-jp-sw" style="background:{html_text(palette[lvl])}"></span></td>'
        f"<td>{html_text(level_label(lvl))}</td>"
        f'<td class="rm-n">{cluster_counts.get(lvl, 0)}</td><td class="rm-n">{member_counts.get(lvl, 0)}</td></tr>'
        for lvl in LEVELS
    )
    rows += (
        f'<tr class="rm-jp-legend-row" data-level="none"><td><span class="rm-jp-sw" '
        f'style="background:{NO_RISK_COLOUR}"></span></td><td>{NO_RISK_LABEL}</td>'
        f'<td class="rm-n">{cluster_counts.get(None, 0)}</td><td class="rm-n">{member_counts.get(None, 0)}</td></tr>'
    )
    return (
        '<div class="rm-jp-legend-title">图例　联防联控组团（按最高风险等级）</div>'
        "<table><tr><td></td><td>等级</td><td>组团</td><td>企业</td></tr>"
        f"{rows}</table>"
        "<table>"
        '<tr><td><span class="rm-jp-dot" style="background:#fff"></span></td>'
        "<td>成员企业（按企业风险等级着色）</td></tr>"
        f'<tr><td><span class="rm-jp-line"></span></td><td>交叉互查：检查方 → 被检查方（{checks} 条）</td></tr>'
        f'<tr><td><span class="rm-jp-dash"></span></td><td>跨区域联防组团（{cross_region} 个）</td></tr>'
        "</table>"
    )


def _check_line_style(_: Any) -> dict[str, Any]:
    return {"color": CHECK_COLOUR, "weight": 2, "opacity": 0.85, "className": "rm-jp-check"}


def _arrow_style(_: Any) -> dict[str, Any]:
    return {
        "color": CHECK_COLOUR,
        "weight": 1,
        "fillColor": CHECK_COLOUR,
        "fillOpacity": 0.9,
        "className": "rm-jp-arrow",
    }


def arrowheads(
    lines: np.ndarray, *, at: float = 0.75, size_fraction: float = 0.18, max_size: float = 0.0004
) -> np.ndarray:
    """Small triangles on each line (lon/lat), `at` of the way from its start, pointing to its end; their
    length is size_fraction of the line's, at most max_size degrees of latitude (about 45 m).

    Display only: the triangle is shaped in a local frame scaled by cos(latitude) so that it looks the same
    in every direction; no distance is measured with it."""
    out: list[Polygon | None] = []
    for line in lines:
        if line is None or line.is_empty:
            out.append(None)
            continue
        (x0, y0), (x1, y1) = line.coords[0], line.coords[-1]
        k = math.cos(math.radians((y0 + y1) / 2))
        dx, dy = (x1 - x0) * k, y1 - y0
        length = math.hypot(dx, dy)
        if length == 0:
            out.append(None)
            continue
        ux, uy = dx / length, dy / length
        size = min(length * size_fraction, max_size)
        tip = (x0 * k + dx * at + ux * size / 2, y0 + dy * at + uy * size / 2)
        base = (tip[0] - ux * size, tip[1] - uy * size)
        left = (base[0] - uy * size * 0.45, base[1] + ux * size * 0.45)
        right = (base[0] + uy * size * 0.45, base[1] - ux * size * 0.45)
        out.append(Polygon([(x / k, y) for x, y in (tip, left, right, tip)]))
    return np.array(out, dtype=object)


def separate_reverse(lines: np.ndarray, *, gap: float = 0.00008) -> np.ndarray:
    """Lines whose reverse is also drawn (the two members of a pair inspect each other) moved to their
    right by `gap` degrees of latitude (about 9 m), so both arrows show. Display only, like arrowheads."""
    ends = {(line.coords[0], line.coords[-1]) for line in lines if line is not None and not line.is_empty}
    out = []
    for line in lines:
        if line is None or line.is_empty or (line.coords[-1], line.coords[0]) not in ends:
            out.append(line)
            continue
        (x0, y0), (x1, y1) = line.coords[0], line.coords[-1]
        k = math.cos(math.radians((y0 + y1) / 2))
        dx, dy = (x1 - x0) * k, y1 - y0
        length = math.hypot(dx, dy) or 1.0
        shift = min(gap, length * 0.08)
        ox, oy = dy / length * shift / k, -dx / length * shift
        out.append(LineString([(x0 + ox, y0 + oy), (x1 + ox, y1 + oy)]))
    return np.array(out, dtype=object)


def _features(frame: gpd.GeoDataFrame, columns: list[str]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of frame with the given properties (JSON-friendly values).

    Text is HTML-escaped here, for every layer: folium's GeoJsonTooltip and GeoJsonPopup put property values
    into the page as HTML, so a name like '<img src=x onerror=…>' must arrive as entities to show as text."""
    features = []
    for i, (geom, record) in enumerate(zip(frame.geometry, frame[columns].to_dict("records"), strict=True)):
        if geom is None or geom.is_empty:
            continue
        props = {k: _plain(v) for k, v in record.items()}
        features.append({"type": "Feature", "id": i, "properties": props, "geometry": geom.__geo_interface__})
    return {"type": "FeatureCollection", "features": features}


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return html_text(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _level_column(frame: gpd.GeoDataFrame) -> list[int | None]:
    return [level_of(v) for v in frame["level"]] if "level" in frame.columns else [None] * len(frame)


def joint_prevention_map(
    clusters: gpd.GeoDataFrame,
    *,
    members: gpd.GeoDataFrame | None = None,
    checks: gpd.GeoDataFrame | None = None,
    boundaries: gpd.GeoDataFrame | None = None,
    palette: Mapping[int, str] | None = None,
    title: str = DEFAULT_TITLE,
    tiles: TileSetting | None = None,
    asset_prefix: str = DEFAULT_PREFIX,
    m: folium.Map | None = None,
) -> folium.Map:
    """The joint-prevention map.

    clusters: one row per cluster, hull polygon geometry, columns id, level (1–4 or None), member_count,
    cross_region (bool) and optional text columns shown in the popup (name_zh, sectors_zh, jurisdictions_zh,
    counts_zh, team_zh). members: points with id, name, level, cluster_id and optional sector_zh,
    business_type, credit_code. checks: lines from inspector to inspected with cluster_id, inspector,
    inspected. Scripts and styles come from asset_prefix (maps.assets.mount); m, when given, is drawn on.
    """
    palette_ = resolve_palette(palette)
    tiles = tiles or TileSetting()
    clusters = in_storage_crs(clusters)
    created = m is None
    if m is None:
        m = folium.Map(tiles=None, control_scale=False, zoom_start=12)
        tiles.add_to(m)
        plugins.Fullscreen(position="topleft", title="全屏", title_cancel="退出全屏").add_to(m)

    if boundaries is not None and len(boundaries):
        folium.GeoJson(
            _features(in_storage_crs(boundaries), []),
            name="行政区划边界",
            style_function=lambda _: {
                "fill": False,
                "color": "#333333",
                "weight": 1.5,
                "dashArray": "6 4",
                "className": "rm-jp-boundary",
            },
            interactive=False,
        ).add_to(m)

    cluster_levels = _level_column(clusters)
    frame = clusters.copy()
    frame["level"] = cluster_levels
    frame["level_zh"] = [level_label(lv) for lv in cluster_levels]
    frame["cross_region_zh"] = [
        "是（跨区域联防）" if bool(v) else "否"
        for v in (frame["cross_region"] if "cross_region" in frame.columns else [False] * len(frame))
    ]
    popup_fields = [
        ("name_zh", "组团"),
        ("level_zh", "最高风险等级"),
        ("member_count", "成员企业数"),
        ("counts_zh", "各等级企业数"),
        ("sectors_zh", "行业"),
        ("jurisdictions_zh", "涉及辖区"),
        ("cross_region_zh", "跨区域"),
        ("team_zh", "异地交叉检查组"),
    ]
    fields = [(c, a) for c, a in popup_fields if c in frame.columns]
    columns = sorted({"id", "level", "cross_region", *(c for c, _ in fields)} & set(frame.columns))
    if len(frame):
        folium.GeoJson(
            _features(frame, columns),
            name="联防联控组团",
            style_function=lambda f: {
                "fillColor": _colour(f["properties"].get("level"), palette_),
                "fillOpacity": HULL_FILL_OPACITY,
                "color": "#333333",
                "weight": 2.5 if f["properties"].get("cross_region") else 1.2,
                "dashArray": CROSS_REGION_DASH if f["properties"].get("cross_region") else None,
                "className": f"rm-jp-hull rm-level-{f['properties'].get('level') or 'none'}",
            },
            highlight_function=lambda _: {"weight": 3, "fillOpacity": 0.5},
            popup=folium.GeoJsonPopup(fields=[c for c, _ in fields], aliases=[a for _, a in fields]),
            tooltip=folium.GeoJsonTooltip(
                fields=["name_zh"] if "name_zh" in columns else ["id"], labels=False
            ),
        ).add_to(m)

    n_checks = 0
    if checks is not None and len(checks):
        checks = in_storage_crs(checks)
        n_checks = len(checks)
        line_frame = checks.copy()
        line_frame = line_frame.set_geometry(separate_reverse(line_frame.geometry.to_numpy()), crs=4490)
        line_frame["label_zh"] = [
            f"{a} → {b}" for a, b in zip(line_frame["inspector"], line_frame["inspected"], strict=True)
        ]
        heads = gpd.GeoDataFrame(
            {"label_zh": line_frame["label_zh"]},
            geometry=arrowheads(line_frame.geometry.to_numpy()),
            crs=4490,
        )
        group = folium.FeatureGroup(name="交叉互查（检查方 → 被检查方）")
        # Members at one point give zero-length lines without arrowheads: draw only what has a shape
        # (folium refuses a tooltip over an empty collection).
        line_features = _features(line_frame, ["label_zh"])
        head_features = _features(heads, ["label_zh"])
        for collection, style in ((line_features, _check_line_style), (head_features, _arrow_style)):
            if collection["features"]:
                folium.GeoJson(
                    collection,
                    style_function=style,
                    tooltip=folium.GeoJsonTooltip(fields=["label_zh"], labels=False),
                ).add_to(group)
        group.add_to(m)

    member_counts: dict[int | None, int] = {**dict.fromkeys(LEVELS, 0), None: 0}
    if members is not None and len(members):
        members = in_storage_crs(members)
        mf = members.copy()
        member_levels = _level_column(mf)
        for lv in member_levels:
            member_counts[lv] += 1
        mf["level"] = member_levels
        mf["level_zh"] = [level_label(lv) for lv in member_levels]
        geoms = mf.geometry.to_numpy()
        mf = mf.set_geometry(
            np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms)), crs=4490
        )
        member_fields = [
            ("name", "企业"),
            ("level_zh", "风险等级"),
            ("sector_zh", "行业"),
            ("business_type", "业态"),
            ("credit_code", "统一社会信用代码"),
            ("cluster_id", "组团编号"),
            ("inspects", "检查对象（交叉互查）"),
            ("inspected_by", "被检查于"),
        ]
        fields = [(c, a) for c, a in member_fields if c in mf.columns]
        radius = 6 if len(mf) <= SMALL_MARKERS_ABOVE else 4  # many markers would hide the hulls
        folium.GeoJson(
            _features(mf, sorted({"level", *(c for c, _ in fields)})),
            name="成员企业",
            marker=folium.CircleMarker(radius=radius, fill=True),
            style_function=lambda f: {
                "fillColor": _colour(f["properties"].get("level"), palette_),
                "fillOpacity": 0.95,
                "color": "#222222",
                "weight": 1,
                "radius": radius,
                "className": f"rm-jp-member rm-level-{f['properties'].get('level') or 'none'}",
            },
            popup=folium.GeoJsonPopup(fields=[c for c, _ in fields], aliases=[a for _, a in fields]),
            tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
        ).add_to(m)

    cluster_counts: dict[int | None, int] = {**dict.fromkeys(LEVELS, 0), None: 0}
    for lv in cluster_levels:
        cluster_counts[lv] += 1
    cross = int(sum(bool(v) for v in clusters.get("cross_region", [])))
    MapDecorations(
        title=title,
        legend_html=_legend_html(palette_, cluster_counts, member_counts, n_checks, cross),
        background=BACKGROUND if created and tiles.kind == "none" else None,
        scale=created,
        prefix="rm-jp",
        css=_CSS,
    ).add_to(m)
    if not any(isinstance(child, folium.LayerControl) for child in m._children.values()):
        folium.LayerControl(collapsed=False, position="topright").add_to(m)
    if created:
        bounds = _bounds(clusters, members, boundaries)
        if bounds is not None:
            m.fit_bounds(bounds)
    return localise(m, asset_prefix)


def _bounds(*frames: gpd.GeoDataFrame | None) -> list[list[float]] | None:
    for frame in frames:
        if frame is None or not len(frame):
            continue
        geoms = frame.geometry[~(frame.geometry.isna() | frame.geometry.is_empty)]
        if geoms.empty:
            continue
        minx, miny, maxx, maxy = (float(v) for v in geoms.total_bounds)
        return [[miny, minx], [maxy, maxx]]
    return None


def check_lines(inspector_xy: np.ndarray, inspected_xy: np.ndarray) -> np.ndarray:
    """LineStrings from inspector points to inspected points (arrays of (lon, lat))."""
    return np.array(
        [LineString([tuple(a), tuple(b)]) for a, b in zip(inspector_xy, inspected_xy, strict=True)],
        dtype=object,
    )
