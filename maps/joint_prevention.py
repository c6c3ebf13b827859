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
from branca.element import MacroElement
from folium import plugins
from folium.template import Template
from shapely.geometry import LineString, Polygon

from geo.escape import html_text, script_json
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

__all__ = [
    "BIG_CLUSTER_MEMBERS",
    "DEFAULT_TITLE",
    "OPEN_ZOOM",
    "arrowheads",
    "check_lines",
    "joint_prevention_map",
    "separate_reverse",
]

DEFAULT_TITLE: Final = "联防联控组团与交叉互查图"
BACKGROUND: Final = "#F7F7F4"
HULL_FILL_OPACITY: Final = 0.35
CHECK_COLOUR: Final = "#1F4E79"
CROSS_REGION_DASH: Final = "8 5"
SMALL_MARKERS_ABOVE: Final = 150  # more member markers than this are drawn smaller
# A cluster of more members than this (a whole park: the demo's 泉港 has one of 276) is drawn closed: its hull
# and a count label at a point inside it. Its members and its 交叉互查 arrows (a cycle through all of them, a
# tangle at county scale) appear when the view is zoomed to OPEN_ZOOM or closer with the cluster in sight,
# or when its hull or label is clicked (the map then zooms to it; zooming out below that closes it again).
BIG_CLUSTER_MEMBERS: Final = 25
OPEN_ZOOM: Final = 15  # web-map zoom: about 4 m a pixel at 25° N, a 2.7 km park some 600 px across
BIG_MEMBER_RADIUS: Final = 5
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
.rm-jp-count{{background:none;border:none}}
.rm-jp-count-text,.rm-jp-count-sw{{display:inline-block;background:rgba(255,255,255,.92);border:1.5px solid #333;
  border-radius:11px;padding:1px 8px;font:bold 13px/1.4 {_FONT};white-space:nowrap;color:#111;
  box-shadow:0 1px 3px rgba(0,0,0,.35)}}
.rm-jp-count-text{{transform:translate(-50%,-50%);cursor:pointer}}
.rm-jp-count-sw{{font-size:11px;padding:0 5px}}
"""


def _colour(level: int | None, palette: Mapping[int, str]) -> str:
    return palette[level] if level is not None else NO_RISK_COLOUR


def _legend_html(
    palette: Mapping[int, str],
    cluster_counts: Mapping[int | None, int],
    member_counts: Mapping[int | None, int],
    checks: int,
    cross_region: int,
    big: int,
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
        + (
            f'<tr class="rm-jp-legend-big"><td><span class="rm-jp-count-sw">N 家</span></td>'
            f"<td>大组团（超过 {BIG_CLUSTER_MEMBERS} 家，{big} 个）：显示范围和企业数，<br>"
            f"点击或放大到 {OPEN_ZOOM} 级显示成员和交叉互查</td></tr>"
            if big
            else ""
        )
        + "</table>"
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


# An open big cluster's 交叉互查 cycle runs through hundreds of members: its lines are faint and its arrowheads
# hidden until a member is clicked, which draws that member's two checks (the one it makes, the one it gets)
# like a small cluster's (the opener script restyles them).
def _faint_line_style(_: Any) -> dict[str, Any]:
    return {"color": CHECK_COLOUR, "weight": 1, "opacity": 0.2, "className": "rm-jp-check rm-jp-faint"}


def _faint_arrow_style(_: Any) -> dict[str, Any]:
    return {**_arrow_style(_), "opacity": 0, "fillOpacity": 0, "className": "rm-jp-arrow rm-jp-faint"}


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
    hull_layer = None
    if len(frame):
        hull_layer = folium.GeoJson(
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
        )
        hull_layer.add_to(m)

    sizes = _cluster_sizes(frame, members)
    big = (
        [_plain(cid) for cid in frame["id"] if sizes.get(cid, 0) > BIG_CLUSTER_MEMBERS] if len(sizes) else []
    )
    n_checks = 0
    groups: dict[Any, folium.FeatureGroup] = {}
    for cid in big:
        # Not on the map at first (show=False) nor in the layer control: the opener script adds it.
        groups[cid] = folium.FeatureGroup(name=f"组团 {cid}", show=False, control=False)
        groups[cid].add_to(m)
    if checks is not None and len(checks):
        checks = in_storage_crs(checks)
        n_checks = len(checks)
        in_big = _in(checks, big)
        group = folium.FeatureGroup(name="交叉互查（检查方 → 被检查方）")
        _add_checks(group, checks[~in_big])
        group.add_to(m)
        for cid in big:
            _add_checks(groups[cid], checks[in_big & (checks["cluster_id"] == cid).to_numpy()], faint=True)

    member_counts: dict[int | None, int] = {**dict.fromkeys(LEVELS, 0), None: 0}
    if members is not None and len(members):
        members = in_storage_crs(members)
        for lv in _level_column(members):
            member_counts[lv] += 1
        in_big = _in(members, big)
        small = members[~in_big]
        if len(small):
            radius = 6 if len(small) <= SMALL_MARKERS_ABOVE else 4  # many markers would hide the hulls
            _add_members(m, small, palette_, radius, name="成员企业")
        for cid in big:
            part = members[in_big & (members["cluster_id"] == cid).to_numpy()]
            if len(part):
                _add_members(groups[cid], part, palette_, BIG_MEMBER_RADIUS)

    if big and hull_layer is not None:
        _ClusterOpener(frame[frame["id"].isin(big)], sizes, groups, hull_layer, checks).add_to(m)

    cluster_counts: dict[int | None, int] = {**dict.fromkeys(LEVELS, 0), None: 0}
    for lv in cluster_levels:
        cluster_counts[lv] += 1
    cross = int(sum(bool(v) for v in clusters.get("cross_region", [])))
    MapDecorations(
        title=title,
        legend_html=_legend_html(palette_, cluster_counts, member_counts, n_checks, cross, len(big)),
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


def _cluster_sizes(clusters: gpd.GeoDataFrame, members: gpd.GeoDataFrame | None) -> dict[Any, int]:
    """Cluster id → its number of members: its `member_count`, else its rows in members ({} without ids)."""
    if "id" not in clusters.columns or not len(clusters):
        return {}
    if "member_count" in clusters.columns:
        pairs = zip(clusters["id"], clusters["member_count"], strict=True)
        return {_plain(cid): int(n) for cid, n in pairs if n is not None and n == n}
    if members is not None and "cluster_id" in members.columns:
        return {_plain(cid): int(n) for cid, n in members["cluster_id"].value_counts().items()}
    return {}


def _in(frame: gpd.GeoDataFrame, ids: list[Any]) -> np.ndarray:
    """Which rows of frame belong to one of the clusters ids (all False without a cluster_id column)."""
    if not ids or "cluster_id" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return np.asarray(frame["cluster_id"].isin(ids).to_numpy(), dtype=bool)


def _add_checks(
    target: folium.map.Layer | folium.Map, checks: gpd.GeoDataFrame, *, faint: bool = False
) -> None:
    """The 交叉互查 lines (inspector → inspected) and their arrowheads, with tooltips, onto target; faint:
    drawn faint, with the inspector's and inspected's ids (a, b) for the opener script to pick them out."""
    if not len(checks):
        return
    line_frame = checks.copy()
    line_frame = line_frame.set_geometry(separate_reverse(line_frame.geometry.to_numpy()), crs=4490)
    line_frame["label_zh"] = [
        f"{a} → {b}" for a, b in zip(line_frame["inspector"], line_frame["inspected"], strict=True)
    ]
    ids = faint and {"inspector_id", "inspected_id"} <= set(line_frame.columns)
    if ids:
        line_frame["a"], line_frame["b"] = line_frame["inspector_id"], line_frame["inspected_id"]
    keep = ["label_zh", "a", "b"] if ids else ["label_zh"]
    heads = gpd.GeoDataFrame(line_frame[keep], geometry=arrowheads(line_frame.geometry.to_numpy()), crs=4490)
    # Members at one point give zero-length lines without arrowheads: draw only what has a shape
    # (folium refuses a tooltip over an empty collection).
    line_features = _features(line_frame, keep)
    head_features = _features(heads, keep)
    styles = (_faint_line_style, _faint_arrow_style) if faint else (_check_line_style, _arrow_style)
    for collection, style in zip((line_features, head_features), styles, strict=True):
        if collection["features"]:
            folium.GeoJson(
                collection,
                style_function=style,
                tooltip=folium.GeoJsonTooltip(fields=["label_zh"], labels=False),
            ).add_to(target)


def _add_members(
    target: folium.map.Layer | folium.Map,
    members: gpd.GeoDataFrame,
    palette: Mapping[int, str],
    radius: int,
    name: str | None = None,
) -> None:
    """Member markers coloured by their level, with popups and tooltips, onto target."""
    mf = members.copy()
    member_levels = _level_column(mf)
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
    folium.GeoJson(
        _features(mf, sorted({"level", *(c for c, _ in fields), *(["id"] if "id" in mf.columns else [])})),
        name=name,
        marker=folium.CircleMarker(radius=radius, fill=True),
        style_function=lambda f: {
            "fillColor": _colour(f["properties"].get("level"), palette),
            "fillOpacity": 0.95,
            "color": "#222222",
            "weight": 1,
            "radius": radius,
            "className": f"rm-jp-member rm-level-{f['properties'].get('level') or 'none'}",
        },
        popup=folium.GeoJsonPopup(fields=[c for c, _ in fields], aliases=[a for _, a in fields]),
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
        control=name is not None,
    ).add_to(target)


_OPENER_JS: Final = """
(function (map, hulls, groups, data) {
  // Big clusters: closed (hull + count label) until zoomed to data.open_zoom with the cluster in view, or
  // clicked (then zoomed to; it closes again when zoomed out below the zoom it was opened at).
  var state = {};
  data.clusters.forEach(function (c) {
    var text = document.createElement("span");
    text.className = "rm-jp-count-text";
    text.textContent = c.label;
    text.title = c.title;
    var label = L.marker(c.point, {
      icon: L.divIcon({className: "rm-jp-count", html: text, iconSize: null}),
      keyboard: false, riseOnHover: true, title: ""
    });
    var s = {c: c, group: groups[String(c.id)], label: label, bounds: L.latLngBounds(c.bounds),
             open: false, pinned: null};
    label.on("click", function () { pin(s); });
    s.group.eachLayer(function (collection) {
      if (!collection.eachLayer) { return; }
      collection.eachLayer(function (layer) {
        var p = layer.feature && layer.feature.properties;
        if (p && p.a === undefined && p.id !== undefined) {
          layer.on("click", function () { highlight(s, p.id); });
        }
      });
    });
    label.addTo(map);
    state[String(c.id)] = s;
  });
  hulls.eachLayer(function (layer) {
    var props = layer.feature && layer.feature.properties;
    var s = props ? state[String(props.id)] : null;
    if (!s) { return; }
    layer.on("click", function () {
      if (s.open) { return; }  // an open cluster's hull shows its popup
      pin(s);
      setTimeout(function () { map.closePopup(); }, 0);  // a closed one opens instead
    });
  });
  function highlight(s, id) {
    // The clicked member's two checks drawn like a small cluster's, every other one of the cluster faint.
    s.group.eachLayer(function (collection) {
      if (!collection.eachLayer) { return; }
      collection.eachLayer(function (layer) {
        var p = layer.feature && layer.feature.properties;
        if (!p || p.a === undefined || !layer.setStyle) { return; }
        var on = p.a === id || p.b === id, head = layer.feature.geometry.type === "Polygon";
        layer.setStyle(head ? {opacity: on ? 1 : 0, fillOpacity: on ? 0.9 : 0}
                            : {opacity: on ? 0.95 : 0.2, weight: on ? 3 : 1});
        if (on && layer.bringToFront) { layer.bringToFront(); }
        var el = layer.getElement && layer.getElement();
        if (el) { el.classList.toggle("rm-jp-picked", on); }
      });
    });
  }
  function pin(s) {
    var z = Math.max(map.getZoom(), Math.min(map.getBoundsZoom(s.bounds), map.getMaxZoom()));
    s.pinned = z;
    update();
    if (z > map.getZoom()) { map.flyToBounds(s.bounds, {maxZoom: z, duration: 0.5}); }
  }
  var moving = false;
  map.on("zoomstart", function () { moving = true; });
  function update() {
    var z = map.getZoom(), view = map.getBounds().pad(0.25), open = [];
    Object.keys(state).forEach(function (key) {
      var s = state[key];
      if (s.pinned !== null && !moving && z < s.pinned) { s.pinned = null; }
      var want = s.pinned !== null || (z >= data.open_zoom && view.intersects(s.bounds));
      if (want && !s.open) { s.group.addTo(map); map.removeLayer(s.label); }
      if (!want && s.open) { map.removeLayer(s.group); s.label.addTo(map); }
      s.open = want;
      if (want) { open.push(s.c.id); }
    });
    map.getContainer().setAttribute("data-open-clusters", open.join(" "));
    declutter();
  }
  function declutter() {
    // At city scale labels of neighbouring parks overlap: the bigger cluster's label shows (data.clusters
    // is sorted by size), a smaller one it would cover is hidden until the view is close enough.
    var shown = [];
    data.clusters.forEach(function (c) {
      var s = state[String(c.id)], el = s.label.getElement();
      if (s.open || !el) { return; }
      var text = el.firstChild;
      text.style.visibility = "";
      var r = text.getBoundingClientRect();
      for (var i = 0; i < shown.length; i++) {
        var o = shown[i];
        if (r.left < o.right && r.right > o.left && r.top < o.bottom && r.bottom > o.top) {
          text.style.visibility = "hidden";
          return;
        }
      }
      shown.push(r);
    });
  }
  map.on("zoomend", function () { moving = false; update(); });
  map.on("moveend", update);
  update();
})({{ this._parent.get_name() }}, {{ this.hulls }}, {
  {%- for key, name in this.groups %}{{ key|tojson }}: {{ name }}{{ "," if not loop.last }}{% endfor -%}
}, {{ this.data }});
"""


class _ClusterOpener(MacroElement):
    """Count labels on the big clusters and the script that opens them (their members and arrows) on zoom or
    click. Text goes in with textContent from script JSON (geo.escape.script_json); no inline handler."""

    _template = Template("{% macro script(this, kwargs) %}" + _OPENER_JS + "{% endmacro %}")

    def __init__(
        self,
        clusters: gpd.GeoDataFrame,
        sizes: Mapping[Any, int],
        groups: Mapping[Any, folium.FeatureGroup],
        hulls: folium.GeoJson,
        checks: gpd.GeoDataFrame | None,
    ) -> None:
        super().__init__()
        self._name = "RiskmapClusterOpener"
        self.hulls = hulls.get_name()
        self.groups = [(str(cid), group.get_name()) for cid, group in groups.items()]
        pairs = (
            checks["cluster_id"].value_counts().to_dict()
            if checks is not None and "cluster_id" in checks.columns
            else {}
        )
        rows = []
        for cid, geom in zip(clusters["id"], clusters.geometry, strict=True):
            if geom is None or geom.is_empty:
                continue
            count = sizes[_plain(cid)]
            at = shapely.point_on_surface(geom)
            minx, miny, maxx, maxy = geom.bounds
            n_pairs = int(pairs.get(cid, 0))
            rows.append(
                {
                    "id": _plain(cid),
                    "label": f"{int(count)} 家",
                    "title": f"组团 {_plain(cid)}：{int(count)} 家企业"
                    + (f"，交叉互查 {n_pairs} 条" if n_pairs else "")
                    + "。点击展开",
                    "point": [at.y, at.x],
                    "bounds": [[miny, minx], [maxy, maxx]],
                }
            )
        rows.sort(key=lambda row: -sizes[row["id"]])  # the bigger label wins where two overlap
        self.data = script_json({"open_zoom": OPEN_ZOOM, "clusters": rows})


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
