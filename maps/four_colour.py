"""The regional 红橙黄蓝 four-colour safety-risk map (区域安全风险空间分布图) as a folium map.

Data in (zones from the four-colour analysis, boundaries, enterprises, risk units), folium.Map out; the
public version (上网) shows zones and counts only.
"""

from __future__ import annotations

import base64
import html
import math
import mimetypes
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import quote

import folium
import geopandas as gpd
import pandas as pd
from branca.element import MacroElement
from folium import plugins
from folium.template import Template
from pydantic import BaseModel, ConfigDict, model_validator

from geo.vocab import DEFAULT_PALETTE, LEVEL_COLOURS_ZH, LEVEL_NAMES_ZH, accident_types, sectors
from maps.assets import DEFAULT_PREFIX, localise, read_local_asset

__all__ = [
    "DEFAULT_TITLE",
    "LEVELS",
    "NO_RISK_COLOUR",
    "NO_RISK_LABEL",
    "TileSetting",
    "four_colour_map",
    "in_storage_crs",
    "inline_page_assets",
    "level_counts",
    "level_label",
    "level_of",
    "resolve_palette",
    "save_html",
]

LEVELS: Final = (1, 2, 3, 4)
NO_RISK_COLOUR: Final = "#C8C8C8"
NO_RISK_LABEL: Final = "无风险单元"
DEFAULT_TITLE: Final = "区域安全风险空间分布图"
BACKGROUND: Final = "#F7F7F4"  # the map's plain background when no tiles are configured
ZONE_FILL_OPACITY: Final = 0.6
CLUSTER_THRESHOLD: Final = 200  # more enterprise markers than this are clustered
STORAGE_EPSG: Final = 4490

# What the public map may show of a zone (上网 version): a whitelist, so a new column never leaks by default.
_PUBLIC_ZONE_COLUMNS: Final = (
    "code",
    "name",
    "level",
    "color",
    "counts",
    "area_share",
    "unit_count",
    "index",
)


# --- tiles ---------------------------------------------------------------------------------------------------

_OSM_URL: Final = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_OSM_ATTRIBUTION: Final = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)
# 天地图 web-Mercator ("_w") WMTS layers: vec = vector base map, cva = its Chinese annotation. Tianditu is in
# CGCS2000, like our data, so nothing is shifted (unlike GCJ-02 base maps such as AMap's).
_TIANDITU_URL: Final = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)
_TIANDITU_ATTRIBUTION: Final = (
    '&copy; <a href="https://www.tianditu.gov.cn/">天地图</a> 国家地理信息公共服务平台'
)


class TileSetting(BaseModel):
    """Which base map the web map draws under the zones.

    `none` (default) draws a plain background and needs no network; `osm` and `tianditu` (needs `key`) load
    tiles from the internet; `custom` is an XYZ URL template (e.g. a tile server on the closed government
    network) with its `attribution`. Tiles must be in WGS 84 / CGCS2000, not GCJ-02.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["none", "osm", "tianditu", "custom"] = "none"
    url: str | None = None
    attribution: str | None = None
    key: str | None = None
    subdomains: str | None = None
    max_zoom: int = 18

    @model_validator(mode="after")
    def _complete(self) -> TileSetting:
        if self.kind == "tianditu" and not self.key:
            raise ValueError("tianditu tiles need a key (天地图 token, `tk`)")
        if self.kind == "custom" and not (self.url and self.attribution):
            raise ValueError("custom tiles need both url (an {z}/{x}/{y} template) and attribution")
        return self

    def add_to(self, m: folium.Map) -> None:
        """Add the configured tile layers (none for `none`) to m."""
        if self.kind == "osm":
            folium.TileLayer(
                _OSM_URL, attr=_OSM_ATTRIBUTION, name="OpenStreetMap", max_zoom=self.max_zoom
            ).add_to(m)
        elif self.kind == "tianditu":
            key = quote(self.key or "", safe="")
            for layer, name, overlay in (("vec", "天地图矢量", False), ("cva", "天地图注记", True)):
                folium.TileLayer(
                    _TIANDITU_URL.format(layer=layer, key=key),
                    attr=_TIANDITU_ATTRIBUTION,
                    name=name,
                    subdomains="01234567",
                    max_zoom=self.max_zoom,
                    overlay=overlay,
                ).add_to(m)
        elif self.kind == "custom":
            options: dict[str, Any] = {"subdomains": self.subdomains} if self.subdomains else {}
            folium.TileLayer(
                self.url, attr=self.attribution, name="底图", max_zoom=self.max_zoom, **options
            ).add_to(m)


# --- levels and counts (shared with maps.print) --------------------------------------------------------------


def level_of(value: Any) -> int | None:
    """A risk level 1–4 from an Int64 / float / str cell; None for NA or anything else."""
    if value is None or value is pd.NA:
        return None
    try:
        if isinstance(value, float) and math.isnan(value):
            return None
        level = int(value)
    except (TypeError, ValueError):
        return None
    return level if level in LEVELS else None


def _count(value: Any) -> int | None:
    """A count cell as an int; None when missing."""
    if value is None or pd.isna(value):
        return None
    return int(value)


def _length(values: Any) -> int:
    """How many items a list / tuple / array cell holds (0 for a missing one)."""
    return 0 if values is None or pd.api.types.is_scalar(values) else len(values)


def _per_level(value: Any) -> dict[int, float]:
    """{level: number} from a dict whose keys may be ints or strings (after a JSON round trip)."""
    out = dict.fromkeys(LEVELS, 0.0)
    if isinstance(value, Mapping):
        for key, number in value.items():
            level = level_of(key)
            if level is not None and number is not None and not pd.isna(number):
                out[level] = float(number)
    return out


def resolve_palette(
    palette: Mapping[int, str] | None, zones: gpd.GeoDataFrame | None = None
) -> dict[int, str]:
    """Level -> colour: the palette given, else the colours the analysis put on the zones, else the default."""
    out = dict(DEFAULT_PALETTE)
    if palette is not None:
        out.update({int(k): v for k, v in palette.items()})
        return out
    if zones is not None and "color" in zones.columns and "level" in zones.columns:
        for level, colour in zip(zones["level"], zones["color"], strict=True):
            lvl = level_of(level)
            if lvl is not None and isinstance(colour, str) and colour:
                out[lvl] = colour
    return out


def level_label(level: int | None) -> str:
    """The level as words, so colour is never its only carrier: 重大风险（红）, or 无风险单元."""
    if level is None:
        return NO_RISK_LABEL
    return f"{LEVEL_NAMES_ZH[level]}（{LEVEL_COLOURS_ZH[level]}）"


def level_counts(
    zones: gpd.GeoDataFrame, risk_units: gpd.GeoDataFrame | None = None
) -> tuple[dict[int | None, int], dict[int, int]]:
    """(zones per level, None for no-risk zones; risk units per level).

    Units are counted once each from risk_units when given; otherwise from the zones' counts, where a unit
    crossing several zones (a pipeline) counts in each.
    """
    zone_counts: dict[int | None, int] = {**dict.fromkeys(LEVELS, 0), None: 0}
    for value in zones["level"] if "level" in zones.columns else []:
        zone_counts[level_of(value)] += 1
    unit_counts = dict.fromkeys(LEVELS, 0)
    if risk_units is not None and "level" in risk_units.columns:
        for value in risk_units["level"]:
            lvl = level_of(value)
            if lvl is not None:
                unit_counts[lvl] += 1
    elif "counts" in zones.columns:
        for counts in zones["counts"]:
            for lvl, n in _per_level(counts).items():
                unit_counts[lvl] += int(n)
    return zone_counts, unit_counts


def in_storage_crs(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The frame in CGCS2000 lon/lat, which Leaflet draws as WGS 84 (they differ by centimetres)."""
    if frame.crs is None:
        return frame.set_crs(STORAGE_EPSG)
    if frame.crs.to_epsg() in (STORAGE_EPSG, 4326):
        return frame
    return frame.to_crs(STORAGE_EPSG)


# --- HTML snippets -------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    """A cell as escaped text ('' for missing values)."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    return html.escape(str(value))


def _swatch(colour: str) -> str:
    # Faded like the zones' fill, so the legend looks like the map; the outer span keeps a solid border.
    return f'<span class="rm-swatch"><span style="background:{html.escape(colour)}"></span></span>'


def _zone_popup(row: Mapping[str, Any], level: int | None, colour: str, enterprise_count: int | None) -> str:
    counts = _per_level(row.get("counts"))
    shares = _per_level(row.get("area_share"))
    lines = "".join(
        f"<tr><td>{LEVEL_NAMES_ZH[lvl]}</td><td>{int(counts[lvl])}</td><td>{100 * shares[lvl]:.1f}%</td></tr>"
        for lvl in LEVELS
    )
    units = row.get("unit_count")
    unit_count = int(units) if units is not None and not pd.isna(units) else int(sum(counts.values()))
    enterprise_line = f"；涉及企业 {enterprise_count} 家" if enterprise_count is not None else ""
    index = row.get("index")  # the weighted rule's index, when the analysis used that rule
    index_line = (
        f"<div>风险指数 I = {float(index):g}</div>"
        if isinstance(index, int | float) and not pd.isna(index)
        else ""
    )
    code = f' <span class="rm-code">{_e(row.get("code"))}</span>' if _e(row.get("code")) else ""
    return (
        f'<div class="rm-popup"><div class="rm-popup-title">{_e(row.get("name"))}{code}</div>'
        f"<div>区域风险等级：{_swatch(colour)} <b>{level_label(level)}</b></div>"
        '<table class="rm-counts"><tr><th>等级</th><th>风险单元</th><th>面积占比</th></tr>'
        f"{lines}</table>"
        f"<div>风险单元 {unit_count} 个{enterprise_line}</div>{index_line}</div>"
    )


def _names(codes: Any, table: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    # A list, tuple or numpy array of codes (as the database or a parquet file gives it).
    for raw in (
        [] if codes is None or isinstance(codes, str | bytes) or pd.api.types.is_scalar(codes) else codes
    ):
        code = str(raw).strip()
        if code.isdigit() and len(code) <= 2:
            code = code.zfill(2)
        term = table.get(code)
        out.append(term.name_zh if term is not None else code)
    return out


def _unit_popup(
    row: Mapping[str, Any], level: int | None, colour: str, accident_names: Mapping[str, Any]
) -> str:
    fields = [
        ("风险等级", f"{_swatch(colour)} {level_label(level)}"),
        ("可能导致的事故类型", html.escape("、".join(_names(row.get("accident_types"), accident_names)))),
        ("管控措施", _e(row.get("control_measures"))),
        (
            "责任人",
            " ".join(p for p in (_e(row.get("responsible_person")), _e(row.get("responsible_phone"))) if p),
        ),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in fields if v)
    return f'<div class="rm-popup"><div class="rm-popup-title">{_e(row.get("name"))}</div><table>{body}</table></div>'


def _enterprise_popup(
    row: Mapping[str, Any],
    level: int | None,
    colour: str,
    units: pd.DataFrame,
    accident_names: Mapping[str, Any],
    sector_names: Mapping[str, str],
) -> str:
    accident: list[str] = []
    measures: list[str] = []
    people: list[str] = []
    for _, unit in units.iterrows():
        accident.extend(n for n in _names(unit.get("accident_types"), accident_names) if n not in accident)
        measure = _e(unit.get("control_measures"))
        if measure and measure not in measures:
            measures.append(measure)
        person = " ".join(
            p for p in (_e(unit.get("responsible_person")), _e(unit.get("responsible_phone"))) if p
        )
        if person and person not in people:
            people.append(person)
    contact = " ".join(p for p in (_e(row.get("contact_person")), _e(row.get("contact_phone"))) if p)
    unit_count = row.get("risk_unit_count")
    fields = [
        ("行业", html.escape(sector_names.get(str(row.get("sector")), str(row.get("sector") or "")))),
        ("风险等级", f"{_swatch(colour)} {level_label(level)}"),
        ("统一社会信用代码", _e(row.get("credit_code"))),
        ("风险单元", f"{int(unit_count)} 个" if unit_count is not None and not pd.isna(unit_count) else ""),
        ("可能导致的事故类型", html.escape("、".join(accident))),
        ("管控措施", "<br>".join(measures[:5]) + ("<br>……" if len(measures) > 5 else "")),
        ("责任人", "<br>".join(people[:5])),
        ("联系人", contact),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in fields if v)
    return f'<div class="rm-popup"><div class="rm-popup-title">{_e(row.get("name"))}</div><table>{body}</table></div>'


# --- map elements --------------------------------------------------------------------------------------------

_CSS: Final = """
.rm-title{position:absolute;top:10px;left:50%;transform:translateX(-50%);z-index:800;pointer-events:none;
  background:rgba(255,255,255,.9);padding:6px 16px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);
  font:bold 20px/1.3 "Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif;
  white-space:nowrap}
.rm-legend{background:rgba(255,255,255,.95);padding:8px 10px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);
  font:13px/1.5 "Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif}
.rm-legend-title{font-weight:bold;margin-bottom:4px}
.rm-legend table,.rm-popup table{border-collapse:collapse}
.rm-legend th,.rm-legend td{padding:1px 6px;text-align:left}
.rm-legend td.rm-n{text-align:right}
.rm-swatch{display:inline-block;width:18px;height:12px;border:1px solid #555;vertical-align:middle;background:#F7F7F4}
.rm-swatch>span{display:block;width:100%;height:100%;opacity:ZONE_FILL_OPACITY}
.rm-popup{font:13px/1.5 "Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;min-width:200px}
.rm-popup-title{font-weight:bold;font-size:14px;margin-bottom:4px}
.rm-popup th,.rm-popup td{padding:1px 6px 1px 0;vertical-align:top;text-align:left}
.rm-code{color:#666;font-weight:normal;font-size:12px}
"""


class _Decorations(MacroElement):
    """Title, legend, metric scale bar and styles, added to the map as Leaflet controls."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>{{ this.css }}</style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function (map) {
            {%- if this.background %}
            map.getContainer().style.background = {{ this.background|tojson }};
            {%- endif %}
            // Leaflet's default attribution prefix carries a flag; a government map names the library only.
            if (map.attributionControl) { map.attributionControl.setPrefix("Leaflet"); }
            var title = L.DomUtil.create("div", "rm-title", map.getContainer());
            title.id = "rm-title";
            title.textContent = {{ this.title|tojson }};
            var legend = L.control({position: "bottomright"});
            legend.onAdd = function () {
                var div = L.DomUtil.create("div", "rm-legend");
                div.id = "rm-legend";
                div.innerHTML = {{ this.legend_html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            legend.addTo(map);
            {%- if this.scale %}
            L.control.scale({metric: true, imperial: false, maxWidth: 200}).addTo(map);
            {%- endif %}
        })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, *, title: str, legend_html: str, background: str | None, scale: bool) -> None:
        super().__init__()
        self._name = "RiskmapDecorations"
        # The legend's swatches fade like the zones' fill.
        self.css = _CSS.replace("ZONE_FILL_OPACITY", str(ZONE_FILL_OPACITY))
        self.title = title
        self.legend_html = legend_html
        self.background = background
        self.scale = scale


def _legend_html(
    palette: Mapping[int, str], zone_counts: Mapping[int | None, int], unit_counts: Mapping[int, int]
) -> str:
    rows = "".join(
        f'<tr class="rm-legend-row" data-level="{lvl}"><td>{_swatch(palette[lvl])}</td>'
        f"<td>{level_label(lvl)}</td>"
        f'<td class="rm-n">{zone_counts.get(lvl, 0)}</td><td class="rm-n">{unit_counts.get(lvl, 0)}</td></tr>'
        for lvl in LEVELS
    )
    rows += (
        f'<tr class="rm-legend-row" data-level="none"><td>{_swatch(NO_RISK_COLOUR)}</td>'
        f'<td>{NO_RISK_LABEL}</td><td class="rm-n">{zone_counts.get(None, 0)}</td><td class="rm-n">—</td></tr>'
    )
    return (
        '<div class="rm-legend-title">图例　风险等级</div>'
        "<table><tr><th></th><th>等级</th><th>区域数</th><th>风险单元数</th></tr>"
        f"{rows}</table>"
    )


def _feature_collection(frame: gpd.GeoDataFrame, columns: Iterable[str]) -> dict[str, Any]:
    """A FeatureCollection with only the given properties (a whitelist) and ids 0..n-1 for folium's styles."""
    keep = [*columns, "geometry"]
    clean = frame[keep].reset_index(drop=True)
    features = []
    for i, (props, geom) in enumerate(
        zip(clean.drop(columns="geometry").to_dict("records"), clean.geometry, strict=True)
    ):
        if geom is None or geom.is_empty:
            continue
        features.append(
            {"type": "Feature", "id": str(i), "properties": props, "geometry": geom.__geo_interface__}
        )
    return {"type": "FeatureCollection", "features": features}


def _zones_layer(zones: gpd.GeoDataFrame, palette: Mapping[int, str], public: bool) -> folium.GeoJson:
    frame = zones.copy()
    levels = [level_of(v) for v in frame["level"]] if "level" in frame.columns else [None] * len(frame)
    colours = [palette[lvl] if lvl is not None else NO_RISK_COLOUR for lvl in levels]
    enterprise_counts: list[int | None] = [None] * len(frame)
    if "enterprise_count" in frame.columns:
        enterprise_counts = [_count(n) for n in frame["enterprise_count"]]
    elif "enterprise_ids" in frame.columns:
        enterprise_counts = [_length(ids) for ids in frame["enterprise_ids"]]
    records = frame.drop(columns="geometry").to_dict("records")
    frame["rm_level"] = [lvl or 0 for lvl in levels]
    frame["rm_popup"] = [
        _zone_popup(row, lvl, colour, n)
        for row, lvl, colour, n in zip(records, levels, colours, enterprise_counts, strict=True)
    ]
    frame["rm_tooltip"] = [
        f"{_e(row.get('name'))}：{level_label(lvl)}" for row, lvl in zip(records, levels, strict=True)
    ]
    frame["rm_colour"] = colours

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        props = feature["properties"]
        level = props["rm_level"] or "none"
        return {
            "fillColor": props["rm_colour"],
            "fillOpacity": ZONE_FILL_OPACITY,
            "color": "#555555",
            "weight": 1,
            "className": f"rm-zone rm-level-{level}",
        }

    layer = folium.GeoJson(
        _feature_collection(frame, ["rm_level", "rm_colour", "rm_popup", "rm_tooltip"]),
        name="风险分区（红橙黄蓝）" if not public else "风险分区",
        style_function=style,
        highlight_function=lambda _feature: {"weight": 3, "fillOpacity": 0.75},
        zoom_on_click=False,
    )
    folium.GeoJsonTooltip(fields=["rm_tooltip"], labels=False, localize=False, sticky=True).add_to(layer)
    folium.GeoJsonPopup(fields=["rm_popup"], labels=False, localize=False).add_to(layer)
    return layer


def _boundaries_layer(boundaries: gpd.GeoDataFrame) -> folium.GeoJson:
    frame = in_storage_crs(boundaries)

    def style(_feature: dict[str, Any]) -> dict[str, Any]:
        # Not interactive: the outline sits above the zones and must not swallow their clicks.
        return {
            "fill": False,
            "color": "#333333",
            "weight": 1.5,
            "dashArray": "6 4",
            "interactive": False,
            "className": "rm-boundary",
        }

    return folium.GeoJson(_feature_collection(frame, []), name="行政区划边界", style_function=style)


def _risk_units_layer(risk_units: gpd.GeoDataFrame, palette: Mapping[int, str]) -> folium.FeatureGroup:
    frame = in_storage_crs(risk_units).copy()
    accident_names = accident_types()
    levels = [level_of(v) for v in frame["level"]]
    colours = [palette[lvl] if lvl is not None else NO_RISK_COLOUR for lvl in levels]
    records = frame.drop(columns="geometry").to_dict("records")
    frame["rm_level"] = [lvl or 0 for lvl in levels]
    frame["rm_colour"] = colours
    frame["rm_geom"] = [g.geom_type if g is not None else "" for g in frame.geometry]
    frame["rm_popup"] = [
        _unit_popup(row, lvl, colour, accident_names)
        for row, lvl, colour in zip(records, levels, colours, strict=True)
    ]
    frame["rm_tooltip"] = [
        f"{_e(row.get('name'))}：{level_label(lvl)}" for row, lvl in zip(records, levels, strict=True)
    ]

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        props = feature["properties"]
        level = props["rm_level"] or "none"
        if "LineString" in props["rm_geom"]:  # pipelines: wide strokes in the level colour, no fill
            return {
                "color": props["rm_colour"],
                "weight": 4,
                "opacity": 0.95,
                "className": f"rm-unit rm-unit-line rm-level-{level}",
            }
        return {
            "color": "#333333",
            "weight": 1,
            "fillColor": props["rm_colour"],
            "fillOpacity": 0.8 if "Point" in props["rm_geom"] else 0.45,
            "className": f"rm-unit rm-level-{level}",
        }

    group = folium.FeatureGroup(name="风险单元（面、管线、点）", show=True)
    layer = folium.GeoJson(
        _feature_collection(frame, ["rm_level", "rm_colour", "rm_geom", "rm_popup", "rm_tooltip"]),
        name="风险单元",
        style_function=style,
        marker=folium.CircleMarker(radius=5, fill=True),
        control=False,
        zoom_on_click=False,
    )
    folium.GeoJsonTooltip(fields=["rm_tooltip"], labels=False, localize=False, sticky=True).add_to(layer)
    folium.GeoJsonPopup(fields=["rm_popup"], labels=False, localize=False).add_to(layer)
    layer.add_to(group)
    return group


def _enterprises_layer(
    enterprises: gpd.GeoDataFrame, risk_units: gpd.GeoDataFrame | None, palette: Mapping[int, str]
) -> folium.FeatureGroup | plugins.MarkerCluster:
    frame = in_storage_crs(enterprises)
    accident_names = accident_types()
    sector_names = {code: s.name_zh for code, s in sectors().items()}
    units = (
        pd.DataFrame(risk_units.drop(columns="geometry"))
        if risk_units is not None and "enterprise_id" in risk_units.columns
        else pd.DataFrame({"enterprise_id": []})
    )
    by_enterprise: dict[Any, pd.DataFrame] = dict(list(units.groupby("enterprise_id"))) if len(units) else {}
    empty = units.iloc[0:0]
    name = "企业"
    container: folium.FeatureGroup | plugins.MarkerCluster = (
        plugins.MarkerCluster(name=name, show=True)
        if len(frame) > CLUSTER_THRESHOLD
        else folium.FeatureGroup(name=name, show=True)
    )
    records = frame.drop(columns="geometry").to_dict("records")
    for row, geom in zip(records, frame.geometry, strict=True):
        if geom is None or geom.is_empty:
            continue
        point = geom if geom.geom_type == "Point" else geom.representative_point()
        level = level_of(row.get("level"))
        colour = palette[level] if level is not None else NO_RISK_COLOUR
        popup_html = _enterprise_popup(
            row, level, colour, by_enterprise.get(row.get("id"), empty), accident_names, sector_names
        )
        folium.CircleMarker(
            location=(point.y, point.x),
            radius=7,
            color="#222222",
            weight=1.5,
            fill=True,
            fill_color=colour,
            fill_opacity=0.95,
            class_name=f"rm-enterprise rm-level-{level or 'none'}",
            popup=folium.Popup(popup_html, max_width=360),
            tooltip=f"{_e(row.get('name'))}：{level_label(level)}",
        ).add_to(container)
    return container


def _public_zones(zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Zones reduced to what may be published: a whitelist of columns, enterprise ids replaced by their count."""
    out = gpd.GeoDataFrame(
        zones[[c for c in _PUBLIC_ZONE_COLUMNS if c in zones.columns]], geometry=zones.geometry, crs=zones.crs
    )
    if "enterprise_ids" in zones.columns:
        out["enterprise_count"] = [_length(ids) for ids in zones["enterprise_ids"]]
    return out


# --- the renderer --------------------------------------------------------------------------------------------


def four_colour_map(
    zones: gpd.GeoDataFrame,
    *,
    boundaries: gpd.GeoDataFrame | None = None,
    enterprises: gpd.GeoDataFrame | None = None,
    risk_units: gpd.GeoDataFrame | None = None,
    public: bool = False,
    palette: Mapping[int, str] | None = None,
    title: str = DEFAULT_TITLE,
    tiles: TileSetting | None = None,
    asset_prefix: str = DEFAULT_PREFIX,
    m: folium.Map | None = None,
) -> folium.Map:
    """The four-colour map: zones filled by level with a Chinese legend, boundaries, and (unless public)
    enterprise markers and risk-unit geometries with their register fields in popups.

    `public=True` (上网 version) shows zones and counts only: no enterprise, person, phone or credit code and no
    single risk unit's position, whatever columns or frames are passed. Scripts and styles are localised to
    asset_prefix (see maps.assets.mount); m, when given, is drawn on and returned.
    """
    if not isinstance(zones, gpd.GeoDataFrame):
        raise TypeError(f"zones must be a GeoDataFrame, not {type(zones).__name__}")
    zones = in_storage_crs(zones)
    palette_ = resolve_palette(palette, zones)
    tiles = tiles or TileSetting()
    zone_counts, unit_counts = level_counts(zones, risk_units)
    if public:
        zones = _public_zones(zones)
        enterprises = None
        risk_units = None

    created = m is None
    if m is None:
        m = folium.Map(tiles=None, control_scale=False, prefer_canvas=False, zoom_start=10)
        tiles.add_to(m)
        plugins.Fullscreen(position="topleft", title="全屏", title_cancel="退出全屏").add_to(m)

    _zones_layer(zones, palette_, public).add_to(m)
    if boundaries is not None and len(boundaries):
        _boundaries_layer(boundaries).add_to(m)
    if risk_units is not None and len(risk_units):
        _risk_units_layer(risk_units, palette_).add_to(m)
    if enterprises is not None and len(enterprises):
        _enterprises_layer(enterprises, risk_units, palette_).add_to(m)

    _Decorations(
        title=title,
        legend_html=_legend_html(palette_, zone_counts, unit_counts),
        background=BACKGROUND if created and tiles.kind == "none" else None,
        scale=created,
    ).add_to(m)
    if not any(isinstance(child, folium.LayerControl) for child in m._children.values()):
        folium.LayerControl(collapsed=False, position="topright").add_to(m)

    bounds = _bounds(zones) or (_bounds(in_storage_crs(boundaries)) if boundaries is not None else None)
    if created and bounds is not None:
        m.fit_bounds(bounds)
    return localise(m, asset_prefix)


def _bounds(frame: gpd.GeoDataFrame) -> list[list[float]] | None:
    geoms = frame.geometry[~(frame.geometry.isna() | frame.geometry.is_empty)]
    if geoms.empty:
        return None
    minx, miny, maxx, maxy = (float(v) for v in geoms.total_bounds)
    return [[miny, minx], [maxy, maxx]]


# --- saving --------------------------------------------------------------------------------------------------

_SCRIPT_TAG: Final = re.compile(r'<script\s+src="([^"]+)"\s*>\s*</script>')
_CSS_TAG: Final = re.compile(r'<link\s+rel="stylesheet"\s+href="([^"]+)"\s*/?>')
_CSS_URL: Final = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")
_FONT_FACE: Final = re.compile(r"@font-face\s*\{[^}]*\}")
_FONT_SRC: Final = re.compile(r"src\s*:[^;}]*;?")
_WOFF2_SOURCE: Final = re.compile(r"""url\([^)]*\.woff2[^)]*\)\s*format\(\s*['"]?woff2['"]?\s*\)""")


def _woff2_only(css: str) -> str:
    """Each @font-face that offers WOFF2 keeps only that source: every browser we serve reads it, and the
    standalone page would otherwise carry each font three or four times (eot, woff, ttf, svg)."""

    def face(match: re.Match[str]) -> str:
        block = match.group(0)
        woff2 = _WOFF2_SOURCE.search(block)
        if woff2 is None:
            return block
        sources = list(_FONT_SRC.finditer(block))
        out, last = [], 0
        for i, src in enumerate(sources):
            out.append(block[last : src.start()])
            if i == 0:
                out.append(f"src:{woff2.group(0)}" + (";" if src.group(0).endswith(";") else ""))
            last = src.end()
        out.append(block[last:])
        return "".join(out)

    return _FONT_FACE.sub(face, css)


def _data_uri(data: bytes, name: str) -> str:
    mime = mimetypes.guess_type(name)[0] or {
        ".woff2": "font/woff2",
        ".woff": "font/woff",
        ".ttf": "font/ttf",
        ".eot": "application/vnd.ms-fontobject",
    }.get(posixpath.splitext(name)[1], "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _inline_css(css_url: str, prefix: str) -> str:
    css = _woff2_only(read_local_asset(css_url, prefix).decode("utf-8"))
    base = posixpath.dirname(css_url.split("?", 1)[0])

    def embed(match: re.Match[str]) -> str:
        ref = match.group(2).strip()
        if ref.startswith(("data:", "#")) or "//" in ref:
            return match.group(0)
        path = posixpath.normpath(posixpath.join(base, ref.split("?", 1)[0].split("#", 1)[0]))
        return f'url("{_data_uri(read_local_asset(path, prefix), path)}")'

    return _CSS_URL.sub(embed, css)


def inline_page_assets(page: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The page with every script and stylesheet under prefix copied into it (their fonts and images as data URIs)."""
    local = "/" + prefix.strip("/") + "/"

    def script(match: re.Match[str]) -> str:
        url = match.group(1)
        if not url.startswith(local):
            return match.group(0)
        # "</script" inside the code would end the element early; "<\/" means the same to JavaScript.
        code = read_local_asset(url, prefix).decode("utf-8").replace("</script", "<\\/script")
        return f"<script>/* {html.escape(url)} */\n{code}\n</script>"

    def stylesheet(match: re.Match[str]) -> str:
        url = match.group(1)
        if not url.startswith(local):
            return match.group(0)
        css = _inline_css(url, prefix).replace("</style", "<\\/style")
        return f"<style>/* {html.escape(url)} */\n{css}\n</style>"

    return _CSS_TAG.sub(stylesheet, _SCRIPT_TAG.sub(script, page))


def save_html(
    m: folium.Map, path: str | Path, *, inline_assets: bool = False, prefix: str = DEFAULT_PREFIX
) -> Path:
    """Write m as an HTML page.

    By default the page loads its scripts from our server under prefix (maps.assets.mount). With
    inline_assets=True it is one self-contained file that works offline without our server (e.g. for
    `riskmap map four-color -o map.html`): every script and stylesheet, and their fonts and images as data
    URIs, are copied into it (about 2 MB). Chosen over a sibling folder because browsers refuse web fonts from
    file:// URLs and one file is easier to hand on.
    """
    localise(m, prefix)
    page = m.get_root().render()
    if inline_assets:
        page = inline_page_assets(page, prefix)
    out = Path(path)
    out.write_text(page, encoding="utf-8")
    return out
