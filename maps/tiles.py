"""A vector-tile layer for Folium maps: draws `/tiles/{layer}/{z}/{x}/{y}.pbf` with protomaps-leaflet.

Above a few thousand features a GeoJSON layer makes the page heavy (every feature in the HTML); a tiled
layer keeps the page small at any scale: the browser fetches the tiles it shows, with the caller's
cookie (same origin), so each role sees what its tiles hold (api/routers/tiles.py).

    m = folium.Map(...)
    add_tile_layer(m, "/tiles/zones/{z}/{x}/{y}.pbf?adcode=350500", TileStyle("zones", "polygon",
                   color_property="color"), name="四色分区")

The style is data (a `TileStyle`, written into the page as JSON); the drawing code is fixed, so nothing
from the style or the tiles is ever run as code. Clicking the map shows the clicked feature's
`popup_fields` (as text, never HTML).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

import folium
from folium.elements import JSCSSMixin
from jinja2 import Template

from geo.escape import script_json

PROTOMAPS_JS: Final = "https://unpkg.com/protomaps-leaflet@5.1.0/dist/protomaps-leaflet.js"
"""The URL `maps.assets.localise` maps to our copy (npm protomaps-leaflet, served by us)."""

# Above this many features a layer is better drawn from tiles than inlined as GeoJSON.
FEATURE_THRESHOLD: Final = 5000


CELL_LABELS: Final = {"count": "数量 count", "n1": "重大 1", "n2": "较大 2", "n3": "一般 3", "n4": "低 4"}
"""Popup labels of a cell's fields (geo.store.tiles: small features counted per cell at low zooms)."""


@dataclass(frozen=True)
class TileStyle:
    """How one tile layer is drawn.

    Colour of a feature: its `color_property` value when set and present (the zones carry their colour),
    else `colors[str(value of property)]`, else `default`."""

    layer: str  # the layer name inside the tile (= the URL's layer)
    geometry: Literal["polygon", "point", "line"] = "polygon"
    property: str | None = "level"
    colors: Mapping[str, str] = field(default_factory=dict)
    color_property: str | None = None
    default: str = "#9e9e9e"
    opacity: float = 0.6
    stroke: str = "#555555"
    width: float = 1.0
    radius: float = 4.0
    popup_fields: Sequence[str] = ()
    labels: Mapping[str, str] = field(default_factory=dict)  # field -> label shown in the popup
    select: str | None = None
    """A click on one feature calls `window.riskmapSelect(select, {i: id, n: name, l: level})` when the page
    defines it (the one map's side panel) instead of the popup; a cell still shows its counts."""

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["colors"] = dict(self.colors)
        out["labels"] = {**CELL_LABELS, **self.labels}
        out["popup_fields"] = list(self.popup_fields)
        return out


class VectorTileLayer(JSCSSMixin, folium.map.Layer):
    """A protomaps-leaflet layer of one MVT URL template; a switchable overlay in folium's LayerControl."""

    default_js = [("protomaps-leaflet", PROTOMAPS_JS)]  # noqa: RUF012 (folium reads it per class)

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var style = {{ this.style_json }};
            function colour(f) {
                var p = f.props || {};
                if (style.color_property && p[style.color_property]) { return String(p[style.color_property]); }
                var key = style.property ? String(p[style.property]) : "";
                return Object.prototype.hasOwnProperty.call(style.colors, key) ? style.colors[key] : style.default;
            }
            // Every kind of geometry is drawn, whatever the style's main kind: a layer of polygons has
            // points too (a unit alone in its cell at a low zoom, a point unit) and squares (cells).
            var fill = function (z, f) { return colour(f); };
            var rules = [
                {dataLayer: style.layer, filter: function (z, f) { return f.geomType === 3; },
                 symbolizer: new protomapsL.PolygonSymbolizer({
                     fill: fill, opacity: style.opacity, stroke: style.stroke, width: style.width})},
                {dataLayer: style.layer, filter: function (z, f) { return f.geomType === 2; },
                 symbolizer: new protomapsL.LineSymbolizer({color: fill, width: Math.max(style.width, 2)})},
                {dataLayer: style.layer, filter: function (z, f) { return f.geomType === 1; },
                 symbolizer: new protomapsL.CircleSymbolizer({
                     radius: style.radius, fill: fill, stroke: style.stroke, width: style.width, opacity: 0.9})}
            ];
            var layer = protomapsL.leafletLayer({
                url: {{ this.url_json }},
                paintRules: rules,
                labelRules: [],
                attribution: "",
                {% if this.min_zoom is not none %}minZoom: {{ this.min_zoom }},{% endif %}
                maxDataZoom: {{ this.max_data_zoom }}
            });
            layer.riskmapStyle = style;
            layer.riskmapMinZoom = {{ this.min_zoom if this.min_zoom is not none else "null" }};
            layer.riskmapColour = colour;  // the colour a feature is painted with (tests read it)
            return layer;
        })();
        {% if this.min_zoom is not none %}
        // Leaflet bounds a map without a minZoom of its own by its layers' (the highest of them when every
        // layer has one): without this, the map could not be zoomed out past this layer's first zoom.
        if ({{ this._parent.get_name() }}.options.minZoom === undefined) {
            {{ this._parent.get_name() }}.options.minZoom = 0;
        }
        {% endif %}
        {{ this._parent.get_name() }}.addLayer({{ this.get_name() }});
        {% if this.style.popup_fields or this.style.select %}
        {{ this._parent.get_name() }}.on("click", function (e) {
            var layer = {{ this.get_name() }};
            if (!layer._map) { return; }
            var found = layer.queryTileFeaturesDebug(e.latlng.lng, e.latlng.lat, 8);
            var style = layer.riskmapStyle, hit = null;
            found.forEach(function (list) {
                list.forEach(function (h) { if (!hit && h.layerName === style.layer) { hit = h.feature; } });
            });
            if (!hit) { return; }
            var single = hit.props.count === undefined || (hit.props.count === 1 && hit.props.id !== undefined);
            if (style.select && window.riskmapSelect && single) {
                window.riskmapSelect(style.select, {i: hit.props.id, n: hit.props.name, l: hit.props.level});
                return;
            }
            var box = document.createElement("div");
            box.className = "riskmap-tile-popup";
            var fields = style.popup_fields.slice();
            if (hit.props.count !== undefined) {  // a cell of small features: how many, by level
                fields = ["count", "level", "n1", "n2", "n3", "n4"];
            }
            fields.forEach(function (k) {
                if (hit.props[k] === undefined) { return; }
                var line = document.createElement("div");
                line.textContent = (style.labels[k] || k) + ": " + String(hit.props[k]);
                box.appendChild(line);
            });
            L.popup().setLatLng(e.latlng).setContent(box).openOn(layer._map);
        });
        {% endif %}
        {% endmacro %}
        """
    )

    def __init__(
        self,
        url: str,
        style: TileStyle,
        *,
        name: str | None = None,
        overlay: bool = True,
        control: bool = True,
        show: bool = True,
        max_data_zoom: int = 16,
        min_zoom: int | None = None,
    ) -> None:
        super().__init__(name=name or style.layer, overlay=overlay, control=control, show=show)
        self._name = "VectorTileLayer"
        self.url = url
        self.style = style
        self.url_json = script_json(url)
        self.style_json = script_json(style.as_json())
        self.max_data_zoom = int(max_data_zoom)
        self.min_zoom = None if min_zoom is None else int(min_zoom)  # below it, no tile is asked for


def add_tile_layer(
    m: folium.Map | folium.FeatureGroup,
    url: str,
    style: TileStyle,
    *,
    name: str | None = None,
    show: bool = True,
    min_zoom: int | None = None,
) -> VectorTileLayer:
    """Add a tiled layer of `url` (an XYZ template with {z}/{x}/{y}, same origin) drawn with `style`;
    with `min_zoom`, drawn (and its tiles fetched) only from that zoom in: say so where the map is shown."""
    if not all(part in url for part in ("{z}", "{x}", "{y}")):
        raise ValueError(f"a tile URL template needs {{z}}, {{x}} and {{y}}: {url!r}")
    layer = VectorTileLayer(url, style, name=name, show=show, min_zoom=min_zoom)
    layer.add_to(m)
    return layer


def use_tiles(feature_count: int, threshold: int = FEATURE_THRESHOLD) -> bool:
    """Whether a layer of `feature_count` features should be drawn from tiles instead of inline GeoJSON."""
    return feature_count > threshold


def level_style(
    layer: str, palette: Mapping[int, str], geometry: Literal["polygon", "point", "line"], **kw: Any
) -> TileStyle:
    """A style colouring features by their risk `level` (1–4) with `palette` (e.g. settings.maps.palette_map())."""
    return TileStyle(layer, geometry, "level", {str(k): v for k, v in palette.items()}, **kw)


__all__ = [
    "FEATURE_THRESHOLD",
    "PROTOMAPS_JS",
    "TileStyle",
    "VectorTileLayer",
    "add_tile_layer",
    "level_style",
    "use_tiles",
]
