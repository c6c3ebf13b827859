"""Safety-distance maps (安全防护距离核查图): hazards, required-distance rings, targets coloured by status and
labelled violation lines; and a siting check's map. Data in, folium.Map out; assets served locally."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.template import Template
from shapely.geometry.base import BaseGeometry

from geo.escape import ESC_JS, script_json
from geo.safety_distance import SitingResult, hazard_kinds, sci
from geo.vocab import GB_CLASS_NAMES_ZH, GBClass, target_types
from maps.assets import DEFAULT_PREFIX, localise
from maps.four_colour import TileSetting

__all__ = [
    "HAZARD_COLOUR",
    "STATUS_COLOURS",
    "STATUS_LABELS",
    "safety_distance_map",
    "siting_check_map",
]

STORAGE_EPSG: Final = 4490
DECIMALS: Final = 6  # ~0.1 m
STATUS_COLOURS: Final = {"violation": "#D7191C", "advise": "#F28E2B", "ok": "#1A9641"}
STATUS_LABELS: Final = {
    "violation": "违反安全防护距离、咨询区内圈或个人风险基准",
    "advise": "在规定距离 1.5 倍或重大、较大风险咨询区内（须定量风险评价）",
    "ok": "符合",
}
HAZARD_COLOUR: Final = "#6A3D9A"
RING_COLOURS: Final = {"all": "#6A3D9A", "some": "#1F78B4", "advise": "#999999", "consultation": "#B15928"}
CONTOUR_COLOUR: Final = "#E66101"
PROPOSAL_COLOUR: Final = "#0571B0"
VERDICT_COLOURS: Final = {"veto": "#D7191C", "advise": "#F28E2B", "ok": "#1A9641"}
BACKGROUND: Final = "#F7F7F4"

_CSS: Final = """
.rm-title{position:absolute;top:10px;left:50%;transform:translateX(-50%);z-index:800;pointer-events:none;
  background:rgba(255,255,255,.92);padding:6px 16px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);
  font:bold 19px/1.3 "Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif;white-space:nowrap}
.rm-verdict{position:absolute;top:56px;left:50%;transform:translateX(-50%);z-index:800;max-width:70%;
  padding:6px 14px;border-radius:4px;color:#fff;box-shadow:0 1px 4px rgba(0,0,0,.3);
  font:14px/1.45 "Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif}
.rm-legend{background:rgba(255,255,255,.95);padding:8px 10px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);
  font:13px/1.6 "Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif}
.rm-legend-title{font-weight:bold;margin-bottom:2px}
.rm-legend td{padding:0 5px;vertical-align:middle}
.rm-sym{display:inline-block;width:20px;height:12px;vertical-align:middle}
.rm-distance-label{background:rgba(255,255,255,.9);border:1px solid #D7191C;color:#B00;font-weight:bold;
  padding:0 4px;box-shadow:none}
.rm-distance-label:before{display:none}
.rm-popup{font:13px/1.5 "Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;min-width:220px}
.rm-popup th{text-align:left;padding-right:6px;vertical-align:top;white-space:nowrap}
.rm-popup-title{font-weight:bold;font-size:14px;margin-bottom:4px}
"""

# Draws the layers from one JSON object; every value from the data is escaped before it goes into HTML,
# and class names come from fixed tables here, never from the data.
_JS: Final = (
    """
(function (map, d) {
  "use strict";
"""
    + ESC_JS
    + """  function table(rows) {
    var out = "";
    for (var i = 0; i < rows.length; i++) {
      if (rows[i][1] !== null && rows[i][1] !== undefined && rows[i][1] !== "") {
        out += "<tr><th>" + esc(rows[i][0]) + "</th><td>" + esc(rows[i][1]) + "</td></tr>";
      }
    }
    return "<table>" + out + "</table>";
  }
  function popup(title, rows, text) {
    return '<div class="rm-popup"><div class="rm-popup-title">' + esc(title) + "</div>" + table(rows) +
      (text ? "<div>" + esc(text) + "</div>" : "") + "</div>";
  }
  var overlays = {};
  var all = L.featureGroup();
  function add(name, layer) { layer.addTo(map); overlays[name] = layer; all.addLayer(layer); return layer; }
  var STATUS = ["violation", "advise", "ok"];
  function statusClass(s) { return STATUS.indexOf(s) >= 0 ? s : "ok"; }

  if (d.boundaries && d.boundaries.features.length) {
    L.geoJSON(d.boundaries, {
      style: function () { return {className: "rm-boundary", color: "#555", weight: 1.2, fill: false, dashArray: "8 3 2 3"}; },
      interactive: false
    }).addTo(map);
  }
  if (d.contours.features.length) {
    add("个人风险等值线", L.geoJSON(d.contours, {
      style: function () { return {className: "rm-contour", color: d.contourColour, weight: 1, fillOpacity: 0.10, dashArray: "2 4"}; },
      onEachFeature: function (f, l) { l.bindTooltip(esc(f.properties.label), {sticky: true}); }
    }));
  }
  if (d.rings.features.length) {
    add("安全防护距离", L.geoJSON(d.rings, {
      style: function (f) {
        return {className: "rm-ring", color: d.ringColours[f.properties.group] || d.ringColours.all, weight: 1.6,
                fill: false, dashArray: f.properties.group === "advise" ? "2 6" : "7 5"};
      },
      onEachFeature: function (f, l) { l.bindTooltip(esc(f.properties.label), {sticky: true}); }
    }));
  }
  if (d.hazards.features.length) {
    add("危险源", L.geoJSON(d.hazards, {
      style: function () { return {className: "rm-hazard", color: d.hazardColour, weight: 2, fillColor: d.hazardColour, fillOpacity: 0.55}; },
      pointToLayer: function (f, ll) {
        return L.circleMarker(ll, {className: "rm-hazard", radius: 6, color: "#fff", weight: 1.5, fillColor: d.hazardColour, fillOpacity: 0.95});
      },
      onEachFeature: function (f, l) {
        var p = f.properties;
        l.bindTooltip(esc(p.name) + "（" + esc(p.kind) + "）", {sticky: true});
        l.bindPopup(popup(p.name, [["危险源类型", p.kind], ["储存容积", p.capacity], ["所属企业", p.enterprise],
          ["所需距离", p.reach]], p.note), {maxWidth: 380});
      }
    }));
  }
  if (d.targets.features.length) {
    add("防护目标", L.geoJSON(d.targets, {
      style: function (f) {
        var s = statusClass(f.properties.status);
        return {className: "rm-target rm-status-" + s, color: d.statusColours[s], weight: 1.5, fillColor: d.statusColours[s], fillOpacity: 0.45};
      },
      pointToLayer: function (f, ll) {
        var s = statusClass(f.properties.status);
        return L.circleMarker(ll, {className: "rm-target rm-status-" + s, radius: 6, color: "#333", weight: 1, fillColor: d.statusColours[s], fillOpacity: 0.9});
      },
      onEachFeature: function (f, l) {
        var p = f.properties;
        l.bindTooltip(esc(p.name) + "：" + esc(d.statusLabels[statusClass(p.status)]), {sticky: true});
        l.bindPopup(popup(p.name, [["类型", p.type], ["防护目标类别", p.cls], ["人数", p.people], ["状态", d.statusLabels[statusClass(p.status)]]], p.note), {maxWidth: 380});
      }
    }));
  }
  if (d.proposal) {
    add("拟建项目", L.geoJSON(d.proposal, {
      style: function () { return {className: "rm-proposal", color: d.proposalColour, weight: 3, fillColor: d.proposalColour, fillOpacity: 0.35}; },
      pointToLayer: function (f, ll) {
        return L.circleMarker(ll, {className: "rm-proposal", radius: 8, color: "#fff", weight: 2, fillColor: d.proposalColour, fillOpacity: 1});
      },
      onEachFeature: function (f, l) { l.bindTooltip(esc(f.properties.name), {sticky: true}); }
    }));
  }
  var lines = null;
  if (d.lines.features.length) {
    lines = add("违规距离连线", L.geoJSON(d.lines, {
      style: function (f) {
        var s = statusClass(f.properties.status);
        return {className: "rm-violation rm-line-" + s, color: d.statusColours[s], weight: 2.5, dashArray: s === "advise" ? "4 4" : null};
      },
      onEachFeature: function (f, l) {
        l.bindTooltip(esc(f.properties.label), {permanent: true, direction: "top", offset: [0, -4], className: "rm-distance-label"});
        l.bindPopup('<div class="rm-popup">' + esc(f.properties.text) + "</div>", {maxWidth: 380});
      }
    }));
  }
  L.control.layers(null, overlays, {collapsed: false, position: "topright"}).addTo(map);
  L.control.scale({metric: true, imperial: false, maxWidth: 200}).addTo(map);
  if (map.attributionControl) { map.attributionControl.setPrefix("Leaflet"); }
  if (d.background) { map.getContainer().style.background = d.background; }
  var title = L.DomUtil.create("div", "rm-title", map.getContainer());
  title.id = "rm-title";
  title.textContent = d.title;
  if (d.verdict) {
    var v = L.DomUtil.create("div", "rm-verdict", map.getContainer());
    v.id = "rm-verdict";
    v.style.background = d.verdict.colour;
    v.textContent = d.verdict.text;
  }
  var legend = L.control({position: "bottomright"});
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "rm-legend");
    div.id = "rm-legend";
    div.innerHTML = d.legend;
    L.DomEvent.disableClickPropagation(div);
    return div;
  };
  legend.addTo(map);
  var bounds = all.getBounds();
  if (bounds.isValid()) { map.fitBounds(bounds, {padding: [30, 30]}); }
  // Distance labels that would cover one another: the first (the largest shortfall) stays, the others
  // wait for a closer zoom (their line's popup still tells).
  function declutter() {
    if (!lines || !map.hasLayer(lines)) { return; }
    var shown = [];
    lines.eachLayer(function (l) {
      l.openTooltip();
      var el = l.getTooltip() && l.getTooltip().getElement();
      if (!el) { return; }
      var r = el.getBoundingClientRect();
      for (var i = 0; i < shown.length; i++) {
        var s = shown[i];
        if (r.left < s.right && r.right > s.left && r.top < s.bottom && r.bottom > s.top) { l.closeTooltip(); return; }
      }
      shown.push(r);
    });
  }
  map.on("zoomend overlayadd", declutter);
  declutter();
})({{ this._parent.get_name() }}, {{ this.data }});
"""
)


class _SafetyLayers(MacroElement):
    """The map's layers, legend, title and verdict, drawn by one script from one JSON object."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}<style>{{ this.css }}</style>{% endmacro %}
        {% macro script(this, kwargs) %}"""
        + _JS
        + """{% endmacro %}
        """
    )

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__()
        self._name = "RiskmapSafetyLayers"
        self.css = _CSS
        self.data = script_json(data)


def _in_storage(frame: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    if frame is None:
        return None
    if frame.crs is None:
        return frame.set_crs(STORAGE_EPSG)
    return frame if frame.crs.to_epsg() == STORAGE_EPSG else frame.to_crs(STORAGE_EPSG)


def _geometry(geom: BaseGeometry) -> dict[str, Any]:
    rounded = shapely.set_precision(geom, 10**-DECIMALS, mode="pointwise")
    return dict(shapely.geometry.mapping(rounded))


def _collection(geoms: Sequence[BaseGeometry | None], props: Sequence[dict[str, Any]]) -> dict[str, Any]:
    features = [
        {"type": "Feature", "geometry": _geometry(g), "properties": p}
        for g, p in zip(geoms, props, strict=True)
        if g is not None and not g.is_empty
    ]
    return {"type": "FeatureCollection", "features": features}


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if value is pd.NA:
        return None
    return value


def _kind_zh(code: Any) -> str:
    k = hazard_kinds().get(str(code))
    return k.name_zh if k else str(code)


def _type_zh(code: Any) -> str:
    t = target_types().get(str(code))
    return t.name_zh if t else str(code)


def _class_zh(code: Any) -> str:
    try:
        return GB_CLASS_NAMES_ZH[GBClass(str(code))]
    except ValueError:
        return str(code)


def _hazards_fc(hazards: gpd.GeoDataFrame | None) -> dict[str, Any]:
    if hazards is None or not len(hazards):
        return _collection([], [])
    props = []
    for row in hazards.to_dict("records"):
        cap = _clean(row.get("capacity_m3"))
        props.append(
            {
                "name": _clean(row.get("name")),
                "kind": _kind_zh(row.get("hazard_kind")),
                "capacity": f"{cap:g} 立方米" if cap is not None else None,
                "enterprise": _clean(row.get("enterprise_name")),
                "reach": _clean(row.get("reach_label")),
                "note": _clean(row.get("note")),
            }
        )
    return _collection(list(hazards.geometry), props)


def _targets_fc(targets: gpd.GeoDataFrame | None) -> dict[str, Any]:
    if targets is None or not len(targets):
        return _collection([], [])
    props = []
    for row in targets.to_dict("records"):
        people = _clean(row.get("people", row.get("population")))
        estimated = bool(_clean(row.get("population_estimated")))
        props.append(
            {
                "name": _clean(row.get("name")),
                "type": _type_zh(row.get("type")),
                "cls": _class_zh(row.get("gb_class")),
                "people": None if people is None else f"{int(people)}{'（估算）' if estimated else ''}",
                "status": row.get("status") if row.get("status") in STATUS_COLOURS else "ok",
                "note": _clean(row.get("note")),
            }
        )
    return _collection(list(targets.geometry), props)


def _rings_fc(rings: gpd.GeoDataFrame | None) -> dict[str, Any]:
    """Rings with the same label merged into one outline: a park's hundred tank farms draw one line each
    distance, not a hundred overlapping circles."""
    if rings is None or not len(rings):
        return _collection([], [])
    groups: dict[tuple[str, str], list[BaseGeometry]] = {}
    for row, geom in zip(rings.to_dict("records"), rings.geometry, strict=True):
        group = row.get("group")
        if not isinstance(group, str):
            group = "all" if len(row.get("gb_classes") or []) == len(GBClass) else "some"
        groups.setdefault((f"{row.get('label_zh')}（{row.get('citation')}）", group), []).append(geom)
    keys = sorted(groups, key=lambda k: k[0])
    merged = [shapely.union_all(np.asarray(groups[k], dtype=object)).boundary for k in keys]
    return _collection(merged, [{"label": label, "group": group} for label, group in keys])


def _boundaries_fc(boundaries: gpd.GeoDataFrame | None) -> dict[str, Any]:
    if boundaries is None or not len(boundaries):
        return _collection([], [])
    return _collection([g.boundary for g in boundaries.geometry], [{} for _ in range(len(boundaries))])


def _contours_fc(contours: gpd.GeoDataFrame | None) -> dict[str, Any]:
    if contours is None or not len(contours):
        return _collection([], [])
    props = [{"label": f"个人风险 {sci(float(r))}/年 等值线"} for r in contours["individual_risk"]]
    return _collection(list(contours.geometry), props)


def _lines_fc(
    lines: Sequence[BaseGeometry | None],
    statuses: Sequence[str],
    distances: Sequence[float],
    texts: Sequence[str],
) -> dict[str, Any]:
    props = [
        {"status": s, "label": f"{d:.0f} 米", "text": t}
        for s, d, t in zip(statuses, distances, texts, strict=True)
    ]
    return _collection(list(lines), props)


def _ring_groups(rings: gpd.GeoDataFrame | None) -> set[str]:
    return {str(f["properties"]["group"]) for f in _rings_fc(rings)["features"]}


def _legend(
    counts: Mapping[str, int], *, rings: set[str], contours: bool, proposal: bool, lines: bool
) -> str:
    def sym(style: str) -> str:
        return f'<span class="rm-sym" style="{style}"></span>'

    ring_all, ring_some, red = RING_COLOURS["all"], RING_COLOURS["some"], STATUS_COLOURS["violation"]
    rows = []
    rows.append(
        f"<tr><td>{sym(f'background:{HAZARD_COLOUR};border-radius:6px')}</td><td>危险源</td><td></td></tr>"
    )
    if proposal:
        rows.append(f"<tr><td>{sym(f'background:{PROPOSAL_COLOUR}')}</td><td>拟建项目</td><td></td></tr>")
    grey = RING_COLOURS["advise"]
    if "all" in rings:
        rows.append(
            f"<tr><td>{sym(f'border-top:2px dashed {ring_all};height:0')}</td>"
            "<td>安全防护距离（所有防护目标）</td><td></td></tr>"
        )
    if "some" in rings:
        rows.append(
            f"<tr><td>{sym(f'border-top:2px dashed {ring_some};height:0')}</td>"
            "<td>安全防护距离（部分防护目标类别）</td><td></td></tr>"
        )
    if "advise" in rings:
        rows.append(
            f"<tr><td>{sym(f'border-top:2px dotted {grey};height:0')}</td><td>建议距离（1.5 倍）</td><td></td></tr>"
        )
    if "consultation" in rings:
        brown = RING_COLOURS["consultation"]
        rows.append(
            f"<tr><td>{sym(f'border-top:2px dashed {brown};height:0')}</td>"
            "<td>咨询区（重大、较大风险单元，须定量风险评价）</td><td></td></tr>"
        )
    if contours:
        rows.append(
            f"<tr><td>{sym(f'border:1px dashed {CONTOUR_COLOUR};background:rgba(230,97,1,.12)')}</td>"
            "<td>个人风险等值线</td><td></td></tr>"
        )
    rows.append('<tr><td colspan="3" class="rm-legend-title">防护目标</td></tr>')
    for status, colour in STATUS_COLOURS.items():
        rows.append(
            f'<tr class="rm-legend-row" data-status="{status}"><td>{sym(f"background:{colour}")}</td>'
            f'<td>{STATUS_LABELS[status]}</td><td style="text-align:right">{counts.get(status, 0)}</td></tr>'
        )
    if lines:
        rows.append(
            f"<tr><td>{sym(f'border-top:3px solid {red};height:0')}</td>"
            "<td>违规连线（标注边界最近距离）</td><td></td></tr>"
        )
    return '<div class="rm-legend-title">图例</div><table>' + "".join(rows) + "</table>"


def _base_map(tiles: TileSetting | None) -> folium.Map:
    m = folium.Map(tiles=None, control_scale=False, zoom_start=13, location=[0, 0])
    (tiles or TileSetting()).add_to(m)
    return m


def safety_distance_map(
    *,
    hazards: gpd.GeoDataFrame,
    targets: gpd.GeoDataFrame,
    violations: pd.DataFrame,
    rings: gpd.GeoDataFrame | None = None,
    contours: gpd.GeoDataFrame | None = None,
    boundaries: gpd.GeoDataFrame | None = None,
    title: str = "安全防护距离核查图",
    tiles: TileSetting | None = None,
    asset_prefix: str = DEFAULT_PREFIX,
) -> folium.Map:
    """The existing-violations map of a jurisdiction.

    `targets` carry a `status` column (violation / advise / ok; missing means ok) and may carry `people`;
    `violations` are rows of geo.safety_distance.assess_violations with a `line` (EPSG:4490) each, drawn in
    red and labelled with the edge-to-edge distance; `rings` come from geo.safety_distance.required_rings;
    `boundaries` (administrative outlines) are drawn as context only.
    """
    hazards_ = _in_storage(hazards)
    targets_ = _in_storage(targets)
    if len(violations) and "shortfall_m" in violations:
        violations = violations.sort_values("shortfall_m", ascending=False, na_position="last", kind="stable")
    lines = list(violations["line"]) if "line" in violations else []
    counts = (
        targets_["status"].fillna("ok").value_counts().to_dict()
        if targets_ is not None and "status" in targets_
        else {"ok": len(targets_) if targets_ is not None else 0}
    )
    data = {
        "title": title,
        "hazards": _hazards_fc(hazards_),
        "targets": _targets_fc(targets_),
        "rings": _rings_fc(_in_storage(rings)),
        "contours": _contours_fc(_in_storage(contours)),
        "boundaries": _boundaries_fc(_in_storage(boundaries)),
        "lines": _lines_fc(
            lines,
            ["violation"] * len(lines),
            [float(d) for d in violations["distance_m"]] if len(lines) else [],
            [str(t) for t in violations["explanation_zh"]] if len(lines) else [],
        ),
        "proposal": None,
        "verdict": None,
        **_style_tables(),
        "legend": _legend(
            {str(k): int(v) for k, v in counts.items()},
            rings=_ring_groups(_in_storage(rings)),
            contours=contours is not None and len(contours) > 0,
            proposal=False,
            lines=bool(lines),
        ),
        "background": BACKGROUND if (tiles is None or tiles.kind == "none") else None,
    }
    m = _base_map(tiles)
    _SafetyLayers(data).add_to(m)
    return localise(m, asset_prefix)


def _style_tables() -> dict[str, Any]:
    return {
        "statusColours": STATUS_COLOURS,
        "statusLabels": STATUS_LABELS,
        "ringColours": RING_COLOURS,
        "hazardColour": HAZARD_COLOUR,
        "contourColour": CONTOUR_COLOUR,
        "proposalColour": PROPOSAL_COLOUR,
    }


def siting_check_map(
    *,
    geometry: BaseGeometry,
    result: SitingResult,
    proposal_name: str,
    hazards: gpd.GeoDataFrame | None = None,
    targets: gpd.GeoDataFrame | None = None,
    rings: gpd.GeoDataFrame | None = None,
    contours: gpd.GeoDataFrame | None = None,
    title: str = "选址安全防护距离核查",
    tiles: TileSetting | None = None,
    asset_prefix: str = DEFAULT_PREFIX,
) -> folium.Map:
    """The map of one siting check: the proposal (EPSG:4490), its required-distance rings (or those of the
    hazards it conflicts with), the existing features near it coloured by conflict, a labelled line per
    conflict and the verdict (否决 / 建议调整 / 符合) with its explanation."""
    status_of: dict[tuple[str, int], str] = {}
    for c in result.conflicts:
        if c.existing["id"] is None:  # outside the caller's scope: counted in the verdict, not drawn
            continue
        key = (str(c.existing["kind"]), int(c.existing["id"]))
        status_of[key] = "violation" if c.status == "veto" or status_of.get(key) == "violation" else "advise"
    targets_ = _in_storage(targets)
    if targets_ is not None and len(targets_):
        targets_ = targets_.assign(
            status=[status_of.get(("protection_target", int(i)), "ok") for i in targets_["id"]]
        )
    lines = [c.line for c in result.conflicts]
    counts: dict[str, int] = {}
    for s in status_of.values():
        counts[s] = counts.get(s, 0) + 1
    verdict_text = result.explanation_zh  # starts with 否决 / 建议调整 / 符合
    data = {
        "title": title,
        "hazards": _hazards_fc(_in_storage(hazards)),
        "targets": _targets_fc(targets_),
        "rings": _rings_fc(_in_storage(rings)),
        "contours": _contours_fc(_in_storage(contours)),
        "lines": _lines_fc(
            lines,
            ["violation" if c.status == "veto" else "advise" for c in result.conflicts],
            [c.distance_m for c in result.conflicts],
            [c.explanation_zh for c in result.conflicts],
        ),
        "proposal": _collection([geometry], [{"name": proposal_name}]),
        "verdict": {"colour": VERDICT_COLOURS[result.verdict], "text": verdict_text, "code": result.verdict},
        **_style_tables(),
        "legend": _legend(
            counts,
            rings=_ring_groups(_in_storage(rings)),
            contours=contours is not None and len(contours) > 0,
            proposal=True,
            lines=bool(lines),
        ),
        "background": BACKGROUND if (tiles is None or tiles.kind == "none") else None,
    }
    m = _base_map(tiles)
    _SafetyLayers(data).add_to(m)
    return localise(m, asset_prefix)
