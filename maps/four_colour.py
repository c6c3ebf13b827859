"""The regional 红橙黄蓝 four-colour safety-risk map (区域安全风险空间分布图) as a folium map.

Data in (zones from the four-colour analysis, boundaries, enterprises, risk units), folium.Map out; the
public version (上网) shows zones and counts only.
"""

from __future__ import annotations

import base64
import contextlib
import math
import mimetypes
import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import quote

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import CssLink, Element, Figure, JavascriptLink, MacroElement
from folium import plugins
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template
from pydantic import BaseModel, ConfigDict, model_validator

from geo.escape import ESC_JS, html_text, script_json
from geo.four_colour import why_text
from geo.vocab import DEFAULT_PALETTE, LEVEL_COLOURS_ZH, LEVEL_NAMES_ZH, accident_types, sectors
from maps.assets import DEFAULT_PREFIX, localise, read_local_asset

__all__ = [
    "DEFAULT_TITLE",
    "LEVELS",
    "NO_RISK_COLOUR",
    "NO_RISK_LABEL",
    "MapDecorations",
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
COORDINATE_DECIMALS: Final = 6  # about 0.1 m: the page carries no more precision than a web map can show
SIMPLIFY_ABOVE_VERTICES: Final = 5_000  # zones or boundaries with more vertices in all are simplified ...
SIMPLIFY_FRACTION: Final = 2_000  # ... with a tolerance of 1/2000 of the map's width (under a pixel)
MAX_LISTED: Final = 5  # control measures and responsible people listed in an enterprise's popup

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
    "why",  # counts and figures only; the deciding units' names are in `deciding_units`, never published
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


# --- small helpers -------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A cell as plain text ('' for missing values); escaping is left to whoever writes it into HTML."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    return str(value)


def _swatch(colour: str) -> str:
    # Faded like the zones' fill, so the legend looks like the map; the outer span keeps a solid border.
    return f'<span class="rm-swatch"><span style="background:{html_text(colour)}"></span></span>'


def _codes(codes: Any) -> list[str]:
    """Vocabulary codes from a list, tuple or numpy array cell (as the database or a parquet file gives
    it), two-digit codes zero-padded ("8" -> "08")."""
    if codes is None or isinstance(codes, str | bytes) or pd.api.types.is_scalar(codes):
        return []
    out: list[str] = []
    for raw in codes:
        code = str(raw).strip()
        out.append(code.zfill(2) if code.isdigit() and len(code) <= 2 else code)
    return out


def _rows(frame: pd.DataFrame, columns: Sequence[str]) -> Iterator[dict[str, Any]]:
    """The frame's rows as {column: value} for the columns named (None for one it lacks): a whitelist, and
    several times faster than DataFrame.to_dict("records")."""
    values = [frame[c].tolist() if c in frame.columns else [None] * len(frame) for c in columns]
    for row in zip(*values, strict=True):
        yield dict(zip(columns, row, strict=True))


class _Strings:
    """A table of repeated strings (control measures are mostly a handful of templates), sent once each."""

    def __init__(self) -> None:
        self._index: dict[str, int] = {}

    def __call__(self, value: str) -> int:
        return self._index.setdefault(value, len(self._index))

    @property
    def values(self) -> list[str]:
        return list(self._index)


# --- geometries ----------------------------------------------------------------------------------------------

_LONG_DECIMAL: Final = re.compile(r"\d+\.\d{7,}")


def _round_coordinates(geoms: np.ndarray) -> np.ndarray:
    """Coordinates rounded to COORDINATE_DECIMALS places (about 0.1 m): more is noise on a web map."""
    return shapely.transform(geoms, lambda xy: np.round(xy, COORDINATE_DECIMALS))


def _simplified(geoms: np.ndarray, width: float) -> np.ndarray:
    """Geometries simplified for display when they are large (more than SIMPLIFY_ABOVE_VERTICES in all).

    The tolerance is width / SIMPLIFY_FRACTION (width: the map's extent in degrees), well under a pixel of
    the whole map. A polygonal coverage (zones tiling the jurisdiction) is simplified as a coverage, so
    neighbours keep sharing their edges and no polygon or hole is lost (at worst one becomes a triangle).
    Anything else is simplified one geometry at a time with topology preserved and the tolerance capped at
    1/20 of the geometry's own size, so that a small zone keeps its shape. A geometry that would come out
    empty keeps its original shape.
    """
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if width <= 0 or int(shapely.get_num_coordinates(geoms[present]).sum()) <= SIMPLIFY_ABOVE_VERTICES:
        return geoms
    tolerance = width / SIMPLIFY_FRACTION
    out = geoms.copy()
    kept = geoms[present]
    simple: np.ndarray | None = None
    if set(shapely.get_type_id(kept).tolist()) <= {3, 6}:  # Polygon, MultiPolygon
        with contextlib.suppress(shapely.errors.GEOSException):  # an invalid polygon: one at a time
            if bool(shapely.coverage_is_valid(kept)):
                simple = shapely.coverage_simplify(kept, tolerance)
    if simple is None:
        bounds = shapely.bounds(kept)
        size = np.minimum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
        simple = shapely.simplify(kept, np.minimum(tolerance, size / 20), preserve_topology=True)
    lost = shapely.is_missing(simple) | shapely.is_empty(simple)
    out[present] = np.where(lost, kept, simple)
    return out


def _geometry_json(geoms: np.ndarray) -> list[str | None]:
    """Each geometry as GeoJSON text with rounded coordinates (None for a missing or empty one)."""
    rounded = _round_coordinates(geoms)
    texts = shapely.to_geojson(rounded)

    def shortest(match: re.Match[str]) -> str:
        # GEOS may print a rounded double with all 17 digits (118.71552200000001): write it short.
        return repr(round(float(match.group(0)), COORDINATE_DECIMALS))

    empty = shapely.is_missing(rounded) | shapely.is_empty(rounded)
    return [
        None if skip else _LONG_DECIMAL.sub(shortest, str(t)) for t, skip in zip(texts, empty, strict=True)
    ]


def _feature_collection(geoms: np.ndarray, properties: list[dict[str, Any]]) -> str:
    """A GeoJSON FeatureCollection as script-safe JSON text; features without a geometry are left out."""
    features = [
        f'{{"type":"Feature","properties":{script_json(props)},"geometry":{geometry}}}'
        for props, geometry in zip(properties, _geometry_json(geoms), strict=True)
        if geometry is not None
    ]
    return '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"


def _width(*frames: gpd.GeoDataFrame | None) -> float:
    """The east–west extent (degrees) of the first frame with geometries: the scale of simplification."""
    for frame in frames:
        if frame is not None and len(frame):
            bounds = _bounds(frame)
            if bounds is not None:
                return bounds[1][1] - bounds[0][1]
    return 0.0


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
.rm-legend-note{max-width:300px;font-size:11px;color:#444;line-height:1.4;margin-top:3px}
.rm-why{margin-top:4px;max-width:340px}
"""

# The browser side of the layers: each builder takes one data object (a GeoJSON FeatureCollection with short
# property names, and the styles, labels and lookup tables it needs) and returns a Leaflet layer. Popups and
# tooltips are made from a feature's properties only when they open, by one function per layer bound to the
# whole layer, instead of one HTML string and one script block per feature. Every value from the data is
# escaped before it goes into HTML. Class names come from the data's style tables, never from this code.
_JS: Final = (
    """
var riskmap = window.riskmap || (function () {
  "use strict";
"""
    + ESC_JS
    + """  function swatch(colour) {
    return '<span class="rm-swatch"><span style="background:' + esc(colour) + '"></span></span>';
  }
  function level(d, p) { return swatch(d.colours[p.l]) + " " + esc(d.labels[p.l]); }
  function popup(title, body) {
    return '<div class="rm-popup"><div class="rm-popup-title">' + title + "</div>" + body + "</div>";
  }
  // [label, HTML] rows; rows with no value are left out.
  function fields(rows) {
    var out = "";
    for (var i = 0; i < rows.length; i++) {
      if (rows[i][1]) { out += "<tr><th>" + rows[i][0] + "</th><td>" + rows[i][1] + "</td></tr>"; }
    }
    return "<table>" + out + "</table>";
  }
  function list(values, lookup, separator) {
    var out = [];
    for (var i = 0; i < (values || []).length; i++) {
      var v = lookup ? lookup(values[i]) : values[i];
      if (v !== undefined && v !== null && v !== "") { out.push(esc(v)); }
    }
    return out.join(separator);
  }
  function tooltip(d) {
    return function (layer) {
      var p = layer.feature.properties;
      return esc(p.n) + "：" + esc(d.labels[p.l]);
    };
  }
  // A click also tells the page (the one map's side panel) what was chosen, when the page listens.
  function interactive(layer, d, content, kind) {
    layer.bindTooltip(tooltip(d), {sticky: true});
    layer.bindPopup(function (sub) { return content(sub.feature.properties); }, {maxWidth: 360});
    layer.on("click", function (e) {
      if (window.riskmapSelect && e.layer && e.layer.feature) {
        window.riskmapSelect(kind, e.layer.feature.properties, e.layer);
      }
    });
    return layer;
  }

  function zonePopup(d, p) {
    var rows = "";
    for (var i = 0; i < 4; i++) {
      rows += "<tr><td>" + esc(d.names[i + 1]) + "</td><td>" + esc(p.k ? p.k[i] : 0) + "</td><td>" +
        Number(p.a ? p.a[i] : 0).toFixed(1) + "%</td></tr>";
    }
    var code = p.c ? ' <span class="rm-code">' + esc(p.c) + "</span>" : "";
    return popup(esc(p.n) + code,
      "<div>区域风险等级：" + swatch(d.colours[p.l]) + " <b>" + esc(d.labels[p.l]) + "</b></div>" +
      '<table class="rm-counts"><tr><th>等级</th><th>风险单元</th><th>面积占比</th></tr>' + rows + "</table>" +
      "<div>" + esc(p.s) + "</div>" +
      (p.w ? '<div class="rm-why"><b>为何为此颜色：</b>' + esc(p.w) + "</div>" : "") +
      (p.d ? '<div class="rm-why">决定颜色的风险单元：' + list(p.d, null, "、") +
        (p.m ? " 等（另有 " + esc(p.m) + " 个）" : "") + "</div>" : ""));
  }
  function zones(d) {
    var layer = L.geoJSON(d.geojson, {
      style: function (f) { return d.styles[f.properties.l]; },
      onEachFeature: function (f, sub) {
        // The zone's code on its path, so that one can find a zone (or count zones) in the page.
        sub.on("add", function () {
          var path = sub.getElement && sub.getElement();
          if (path) { path.setAttribute("data-zone", f.properties.c); }
        });
      }
    });
    layer.on("mouseover", function (e) { e.layer.setStyle(d.highlight); });
    layer.on("mouseout", function (e) { layer.resetStyle(e.layer); });
    return interactive(layer, d, function (p) { return zonePopup(d, p); }, "zone");
  }

  function outlines(d) {
    return L.geoJSON(d.geojson, {style: function () { return d.style; }, interactive: false});
  }

  function unitKind(f) {
    var type = f.geometry ? f.geometry.type : "";
    return type.indexOf("LineString") >= 0 ? "line" : type.indexOf("Point") >= 0 ? "point" : "area";
  }
  function units(d) {
    var layer = L.geoJSON(d.geojson, {
      renderer: d.canvas ? L.canvas({padding: 0.5}) : undefined,  // thousands of shapes: one canvas
      style: function (f) { return d.styles[unitKind(f) + "-" + f.properties.l]; },
      pointToLayer: function (f, latlng) { return L.circleMarker(latlng, d.styles["point-" + f.properties.l]); }
    });
    return interactive(layer, d, function (p) {
      return popup(esc(p.n), fields([
        ["风险等级", level(d, p)],
        ["可能导致的事故类型", list(p.a, function (c) { return d.accidents[c] || c; }, "、")],
        ["管控措施", p.m === undefined ? "" : esc(d.strings[p.m])],
        ["责任人", list([p.p, p.t], null, " ")]
      ]));
    }, "risk_unit");
  }

  function enterprises(d) {
    var layer = L.geoJSON(d.geojson, {
      pointToLayer: function (f, latlng) { return L.circleMarker(latlng, d.styles[f.properties.l]); }
    });
    var shown = layer;
    if (d.cluster) {
      shown = L.markerClusterGroup();
      shown.addLayers(layer.getLayers());
    }
    return interactive(shown, d, function (p) {
      return popup(esc(p.n), fields([
        ["行业", esc(d.sectors[p.s] || p.s)],
        ["风险等级", level(d, p)],
        ["统一社会信用代码", esc(p.c)],
        ["风险单元", typeof p.u === "number" ? esc(p.u) + " 个" : ""],
        ["可能导致的事故类型", list(p.a, function (c) { return d.accidents[c] || c; }, "、")],
        ["管控措施", list(p.m, function (i) { return d.strings[i]; }, "<br>") + (p.x ? "<br>……" : "")],
        ["责任人", list(p.r, null, "<br>")],
        ["联系人", list([p.k, p.h], null, " ")]
      ]));
    }, "enterprise");
  }

  return {esc: esc, zones: zones, outlines: outlines, units: units, enterprises: enterprises};
})();
"""
)


class MapDecorations(MacroElement):
    """Title, legend, metric scale bar and styles, added to the map as Leaflet controls.

    Their classes and ids are `<prefix>-title` and `<prefix>-legend`, so each map styles its own (maps.joint_prevention
    uses it too).
    """

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
            var title = L.DomUtil.create("div", {{ (this.prefix ~ "-title")|tojson }}, map.getContainer());
            title.id = {{ (this.prefix ~ "-title")|tojson }};
            title.textContent = {{ this.title|tojson }};
            var legend = L.control({position: "bottomright"});
            legend.onAdd = function () {
                var div = L.DomUtil.create("div", {{ (this.prefix ~ "-legend")|tojson }});
                div.id = {{ (this.prefix ~ "-legend")|tojson }};
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

    def __init__(
        self,
        *,
        title: str,
        legend_html: str,
        background: str | None,
        scale: bool,
        prefix: str = "rm",
        css: str | None = None,
    ) -> None:
        super().__init__()
        self._name = "RiskmapDecorations"
        self.prefix = prefix
        # The legend's swatches fade like the zones' fill.
        self.css = css if css is not None else _CSS.replace("ZONE_FILL_OPACITY", str(ZONE_FILL_OPACITY))
        self.title = title
        self.legend_html = legend_html
        self.background = background
        self.scale = scale


class _Text(Element):
    """Text that goes into the page as it is. A plain branca Element would compile it as a jinja template:
    slow for megabytes of data, and a name containing "{{" would be evaluated."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def render(self, **kwargs: Any) -> str:
        return self.text


class _DataLayer(JSCSSMixin, Layer):
    """One overlay drawn in the browser by riskmap.<builder>(data) from a single JSON data object.

    A folium Layer, so that folium's LayerControl lists it and adds it to the map when shown.
    """

    def __init__(
        self, builder: str, data: str, *, name: str, control: bool = True, cluster: bool = False
    ) -> None:
        super().__init__(name=name, overlay=True, control=control, show=True)
        self._name = "RiskmapLayer"
        self.builder = builder
        self.data = data  # script-safe JSON text (_script_json / _feature_collection)
        if cluster:  # instance lists, which maps.assets.localise() points at our server
            self.default_js = list(plugins.MarkerCluster.default_js)
            self.default_css = list(plugins.MarkerCluster.default_css)

    def render(self, **kwargs: Any) -> str:
        """What JSCSSMixin, Layer and MacroElement would render, with the data written as text (see _Text)."""
        figure = self.get_root()
        if not isinstance(figure, Figure) or self._parent is None:
            raise TypeError("a map layer can only be rendered inside a folium Map")
        for name, url in self.default_js:
            figure.header.add_child(JavascriptLink(url), name=name)
        for name, url in self.default_css:
            figure.header.add_child(CssLink(url), name=name)
        var = self.get_name()
        # The data as a JSON block that the script parses: JSON.parse reads megabytes faster than the
        # JavaScript parser reads the same object literal.
        figure.html.add_child(
            _Text(f'<script type="application/json" id="{var}_data">{self.data}</script>\n'),
            name=f"{var}_data",
        )
        script = (
            f"var {var} = riskmap.{self.builder}("
            f'JSON.parse(document.getElementById("{var}_data").textContent));\n'
        )
        if self.show:
            script += f"{var}.addTo({self._parent.get_name()});\n"
        figure.script.add_child(_Text(script), name=var)
        return ""


def _data(geojson: str, **fields: Any) -> str:
    """A layer's data object: its FeatureCollection text and the other fields as JSON."""
    parts = [f'"geojson":{geojson}', *(f"{script_json(k)}:{script_json(v)}" for k, v in fields.items())]
    return "{" + ",".join(parts) + "}"


def _level_tables(palette: Mapping[int, str]) -> dict[str, Any]:
    """Colours, labels and names by level (0 = no risk units), for the popups."""
    return {
        "colours": {0: NO_RISK_COLOUR, **{lvl: palette[lvl] for lvl in LEVELS}},
        "labels": {0: NO_RISK_LABEL, **{lvl: level_label(lvl) for lvl in LEVELS}},
        "names": {lvl: LEVEL_NAMES_ZH[lvl] for lvl in LEVELS},
    }


def _legend_html(
    palette: Mapping[int, str],
    zone_counts: Mapping[int | None, int],
    unit_counts: Mapping[int, int],
    notes: Sequence[str] = (),
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
        f"{rows}</table>" + "".join(f'<div class="rm-legend-note">{html_text(n)}</div>' for n in notes)
    )


def _zone_properties(
    row: Mapping[str, Any], level: int | None, enterprise_count: int | None
) -> dict[str, Any]:
    """What a zone's popup shows: n name, c code, l level (0 none), k units and a area share (%) by level,
    s the counts sentence, w why it has its level (the rule's figures), d the deciding units' names and m how
    many more (only when the frame has `deciding_units`, which the public map's never has)."""
    counts = _per_level(row.get("counts"))
    shares = _per_level(row.get("area_share"))
    units = row.get("unit_count")
    unit_count = int(units) if units is not None and not pd.isna(units) else int(sum(counts.values()))
    enterprise_line = f"；涉及企业 {enterprise_count} 家" if enterprise_count is not None else ""
    props: dict[str, Any] = {
        "n": _text(row.get("name")),
        "c": _text(row.get("code")),
        "l": level or 0,
        "k": [int(counts[lvl]) for lvl in LEVELS],
        "a": [round(100 * shares[lvl], 1) for lvl in LEVELS],
        "s": f"风险单元 {unit_count} 个{enterprise_line}",
    }
    why = row.get("why")
    if isinstance(why, Mapping) and why:
        props["w"] = why_text(why, level)
    deciding = row.get("deciding_units")
    if isinstance(deciding, Mapping) and deciding.get("names"):
        props["d"] = [str(n) for n in deciding["names"]]
        if deciding.get("more"):
            props["m"] = int(deciding["more"])
    return props


def _zones_layer(
    zones: gpd.GeoDataFrame, palette: Mapping[int, str], public: bool, width: float
) -> _DataLayer:
    levels = [level_of(v) for v in zones["level"]] if "level" in zones.columns else [None] * len(zones)
    enterprise_counts: list[int | None] = [None] * len(zones)
    if "enterprise_count" in zones.columns:
        enterprise_counts = [_count(n) for n in zones["enterprise_count"]]
    elif "enterprise_ids" in zones.columns:
        enterprise_counts = [_length(ids) for ids in zones["enterprise_ids"]]
    records = _rows(zones, ("name", "code", "counts", "area_share", "unit_count", "why", "deciding_units"))
    properties = [
        _zone_properties(row, lvl, n) for row, lvl, n in zip(records, levels, enterprise_counts, strict=True)
    ]
    for i, props in enumerate(properties):
        props["c"] = props["c"] or str(i)
    tables = _level_tables(palette)
    styles = {
        lvl: {
            "fillColor": colour,
            "fillOpacity": ZONE_FILL_OPACITY,
            "color": "#555555",
            "weight": 1,
            "className": f"rm-zone rm-level-{lvl or 'none'}",
        }
        for lvl, colour in tables["colours"].items()
    }
    geometries = _simplified(zones.geometry.to_numpy(), width)
    return _DataLayer(
        "zones",
        _data(
            _feature_collection(geometries, properties),
            styles=styles,
            highlight={"weight": 3, "fillOpacity": 0.75},
            **tables,
        ),
        name="风险分区（红橙黄蓝）" if not public else "风险分区",
    )


def _boundaries_layer(boundaries: gpd.GeoDataFrame, width: float) -> _DataLayer:
    frame = in_storage_crs(boundaries)
    # Not interactive: the outline sits above the zones and must not swallow their clicks.
    style = {
        "fill": False,
        "color": "#333333",
        "weight": 1.5,
        "dashArray": "6 4",
        "interactive": False,
        "className": "rm-boundary",
    }
    geometries = _simplified(frame.geometry.to_numpy(), width)
    return _DataLayer(
        "outlines",
        _data(_feature_collection(geometries, [{} for _ in range(len(frame))]), style=style),
        name="行政区划边界",
    )


def _unit_styles(palette: Mapping[int, str]) -> dict[str, dict[str, Any]]:
    """Styles by "kind-level": pipelines as wide strokes in the level colour, areas and points filled."""
    styles: dict[str, dict[str, Any]] = {}
    for lvl, colour in _level_tables(palette)["colours"].items():
        name = lvl or "none"
        styles[f"line-{lvl}"] = {
            "color": colour,
            "weight": 4,
            "opacity": 0.95,
            "className": f"rm-unit rm-unit-line rm-level-{name}",
        }
        styles[f"area-{lvl}"] = {
            "color": "#333333",
            "weight": 1,
            "fillColor": colour,
            "fillOpacity": 0.45,
            "className": f"rm-unit rm-level-{name}",
        }
        styles[f"point-{lvl}"] = {
            "radius": 5,
            "fill": True,
            "color": "#333333",
            "weight": 1,
            "fillColor": colour,
            "fillOpacity": 0.8,
            "className": f"rm-unit rm-level-{name}",
        }
    return styles


def _risk_units_layer(
    risk_units: gpd.GeoDataFrame, palette: Mapping[int, str], *, canvas: bool = False
) -> _DataLayer:
    """i id, n name, l level, a accident type codes, m control measures (index into strings), p/t
    responsible person and phone."""
    frame = in_storage_crs(risk_units)
    strings = _Strings()
    used: set[str] = set()
    properties: list[dict[str, Any]] = []
    columns = (
        "id",
        "name",
        "level",
        "accident_types",
        "control_measures",
        "responsible_person",
        "responsible_phone",
    )
    for row in _rows(frame, columns):
        props: dict[str, Any] = {"n": _text(row.get("name")), "l": level_of(row.get("level")) or 0}
        ident = row.get("id")
        if ident is not None and not pd.isna(ident):
            props["i"] = int(ident)
        codes = _codes(row.get("accident_types"))
        used.update(codes)
        measure = _text(row.get("control_measures"))
        for key, value in (
            ("a", codes),
            ("m", strings(measure) if measure else None),
            ("p", _text(row.get("responsible_person"))),
            ("t", _text(row.get("responsible_phone"))),
        ):
            if value or value == 0:
                props[key] = value
        properties.append(props)
    names = accident_types()
    return _DataLayer(
        "units",
        _data(
            _feature_collection(frame.geometry.to_numpy(), properties),
            styles=_unit_styles(palette),
            canvas=canvas,
            strings=strings.values,
            accidents={code: names[code].name_zh for code in sorted(used) if code in names},
            **_level_tables(palette),
        ),
        name="风险单元（面、管线、点）",
    )


def _enterprises_layer(
    enterprises: gpd.GeoDataFrame, risk_units: gpd.GeoDataFrame | None, palette: Mapping[int, str]
) -> _DataLayer:
    """n name, l level, s sector code, c credit code, u risk unit count, k/h contact person and phone, and
    from the enterprise's risk units given: a accident type codes, m control measures (indexes into strings,
    the first MAX_LISTED; x when there are more), r responsible people."""
    frame = in_storage_crs(enterprises)
    strings = _Strings()
    used: set[str] = set()
    # What the enterprise's risk units say, gathered in one pass: accident types, measures, people.
    facts: dict[Any, tuple[list[str], list[int], list[str]]] = {}
    if risk_units is not None and "enterprise_id" in risk_units.columns:
        unit_columns = (
            "enterprise_id",
            "accident_types",
            "control_measures",
            "responsible_person",
            "responsible_phone",
        )
        for unit in _rows(risk_units, unit_columns):
            owner = unit.get("enterprise_id")
            if owner is None or pd.isna(owner):
                continue
            accidents, measures, people = facts.setdefault(int(owner), ([], [], []))
            for code in _codes(unit.get("accident_types")):
                if code not in accidents:
                    accidents.append(code)
            measure = _text(unit.get("control_measures"))
            if measure and strings(measure) not in measures:
                measures.append(strings(measure))
            person = " ".join(
                p for p in (_text(unit.get("responsible_person")), _text(unit.get("responsible_phone"))) if p
            )
            if person and person not in people:
                people.append(person)
    # Points drawn where the enterprise is: its own point, or a point inside its site.
    geoms = frame.geometry.to_numpy()
    points = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
    properties: list[dict[str, Any]] = []
    columns = (
        "id",
        "name",
        "level",
        "sector",
        "credit_code",
        "risk_unit_count",
        "contact_person",
        "contact_phone",
    )
    for row in _rows(frame, columns):
        props: dict[str, Any] = {"n": _text(row.get("name")), "l": level_of(row.get("level")) or 0}
        ident = row.get("id")
        if ident is not None and not pd.isna(ident):
            props["i"] = int(ident)
        accidents, measures, people = (
            facts.get(int(ident), ([], [], [])) if ident is not None and not pd.isna(ident) else ([], [], [])
        )
        used.update(accidents)
        unit_count = row.get("risk_unit_count")
        for key, value in (
            ("s", _text(row.get("sector"))),
            ("c", _text(row.get("credit_code"))),
            ("u", int(unit_count) if unit_count is not None and not pd.isna(unit_count) else None),
            ("k", _text(row.get("contact_person"))),
            ("h", _text(row.get("contact_phone"))),
            ("a", accidents),
            ("m", measures[:MAX_LISTED]),
            ("x", 1 if len(measures) > MAX_LISTED else None),
            ("r", people[:MAX_LISTED]),
        ):
            if value or value == 0:
                props[key] = value
        properties.append(props)
    tables = _level_tables(palette)
    styles = {
        lvl: {
            "radius": 7,
            "color": "#222222",
            "weight": 1.5,
            "fill": True,
            "fillColor": colour,
            "fillOpacity": 0.95,
            "className": f"rm-enterprise rm-level-{lvl or 'none'}",
        }
        for lvl, colour in tables["colours"].items()
    }
    names = accident_types()
    sector_names = {code: s.name_zh for code, s in sectors().items()}
    present = {p["s"] for p in properties if "s" in p}
    cluster = len(frame) > CLUSTER_THRESHOLD
    return _DataLayer(
        "enterprises",
        _data(
            _feature_collection(points, properties),
            styles=styles,
            cluster=cluster,
            strings=strings.values,
            accidents={code: names[code].name_zh for code in sorted(used) if code in names},
            sectors={code: sector_names[code] for code in sorted(present) if code in sector_names},
            **tables,
        ),
        name="企业",
        cluster=cluster,
    )


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
    unit_counts: Mapping[int, int] | None = None,
    canvas: bool = False,
    legend_notes: Sequence[str] = (),
) -> folium.Map:
    """The four-colour map: zones filled by level with a Chinese legend, boundaries, and (unless public)
    enterprise markers and risk-unit geometries with their register fields in popups.

    `public=True` (上网 version) shows zones and counts only: no enterprise, person, phone or credit code and no
    single risk unit's position, whatever columns or frames are passed. Scripts and styles are localised to
    asset_prefix (see maps.assets.mount); m, when given, is drawn on and returned.

    Each layer goes into the page as one JSON data object drawn by a small script (riskmap.zones, .units,
    .enterprises), popups made in the browser when they open; coordinates are rounded to 6 decimals and
    large zone and boundary geometries simplified for display (see _simplified), so a whole city's map
    stays a few MB.
    """
    if not isinstance(zones, gpd.GeoDataFrame):
        raise TypeError(f"zones must be a GeoDataFrame, not {type(zones).__name__}")
    zones = in_storage_crs(zones)
    palette_ = resolve_palette(palette, zones)
    tiles = tiles or TileSetting()
    zone_counts, counted = level_counts(zones, risk_units)
    # The register's own counts when the caller has them: the drawn units may be a subset.
    unit_counts = {lv: int(unit_counts.get(lv, 0)) for lv in LEVELS} if unit_counts is not None else counted
    if public:
        zones = _public_zones(zones)
        enterprises = None
        risk_units = None
    boundaries = in_storage_crs(boundaries) if boundaries is not None else None
    width = _width(zones, boundaries)

    created = m is None
    if m is None:
        m = folium.Map(tiles=None, control_scale=False, prefer_canvas=False, zoom_start=10)
        tiles.add_to(m)
        plugins.Fullscreen(position="topleft", title="全屏", title_cancel="退出全屏").add_to(m)
    # Leaflet.markercluster needs the map's maxZoom, which a map without tiles does not have.
    if not {"maxZoom", "max_zoom"} & set(m.options):
        m.options["maxZoom"] = tiles.max_zoom
    # One copy of the layer builders per page, however many maps are drawn on it.
    root = m.get_root()
    if isinstance(root, Figure):
        root.header.add_child(_Text(f"<script>{_JS}</script>"), name="riskmap_layers_js")

    # The view first, so that the layers are drawn (and the markers clustered) once, at the right zoom.
    bounds = _bounds(zones) or (_bounds(boundaries) if boundaries is not None else None)
    if created and bounds is not None:
        m.fit_bounds(bounds)

    _zones_layer(zones, palette_, public, width).add_to(m)
    if boundaries is not None and len(boundaries):
        _boundaries_layer(boundaries, width).add_to(m)
    if risk_units is not None and len(risk_units):
        _risk_units_layer(risk_units, palette_, canvas=canvas).add_to(m)
    if enterprises is not None and len(enterprises):
        _enterprises_layer(enterprises, risk_units, palette_).add_to(m)

    MapDecorations(
        title=title,
        legend_html=_legend_html(palette_, zone_counts, unit_counts, legend_notes),
        background=BACKGROUND if created and tiles.kind == "none" else None,
        scale=created,
    ).add_to(m)
    if not any(isinstance(child, folium.LayerControl) for child in m._children.values()):
        folium.LayerControl(collapsed=False, position="topright").add_to(m)

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
        return f"<script>/* {html_text(url)} */\n{code}\n</script>"

    def stylesheet(match: re.Match[str]) -> str:
        url = match.group(1)
        if not url.startswith(local):
            return match.group(0)
        css = _inline_css(url, prefix).replace("</style", "<\\/style")
        return f"<style>/* {html_text(url)} */\n{css}\n</style>"

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
