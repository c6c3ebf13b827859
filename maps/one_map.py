"""The one map (风险一张图) of a jurisdiction: the four-colour map (zones, boundaries, risk units,
enterprises) with the layers an office works with beside it — protection targets by GB 36894 class,
safety-distance violations and pairs needing an assessment, joint-prevention clusters, open hidden
hazards (overdue marked) and zone names as labels — each a layer the user can switch.

Data in (frames), folium.Map out. Each layer is one JSON object drawn in the browser by a builder added to
`riskmap` (maps.four_colour); every value is escaped by `riskmap.esc` before it reaches HTML. A click on
any feature calls `window.riskmapSelect(kind, properties)` when the page defines it (the side panel).

An `Overlay` (the violations, the clusters) is not in the page: the browser fetches its answer from our
JSON API after the map is drawn and draws it with the same builder. Until it has answered, its layer and
a status box on the map say "加载中" (loading); a failed or refused one says it was not checked, so an
empty layer never reads as an all-clear.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Figure, MacroElement
from folium.map import Layer
from folium.template import Template

from geo.escape import script_json
from maps.assets import DEFAULT_PREFIX, localise
from maps.four_colour import (
    DEFAULT_TITLE,
    TileSetting,
    _data,
    _DataLayer,
    _feature_collection,
    _rows,
    _Text,
    four_colour_map,
    in_storage_crs,
    level_label,
    resolve_palette,
)
from maps.tiles import TileStyle, add_tile_layer, level_style

TARGET_CLASSES: Final = {
    # GB 36894-2018 protection-target classes: colour and label
    "high_sensitive": ("#7B1FA2", "高敏感防护目标"),
    "important": ("#1565C0", "重要防护目标"),
    "general_1": ("#2E7D32", "一般防护目标一类"),
    "general_2": ("#66BB6A", "一般防护目标二类"),
    "general_3": ("#A5D6A7", "一般防护目标三类"),
}
STATUS_STYLES: Final = {
    "veto": {"color": "#6A1B9A", "weight": 3, "dashArray": None, "label": "高敏感目标在重大风险内圈"},
    "violation": {"color": "#B00020", "weight": 3, "dashArray": None, "label": "不符合安全防护距离"},
    "advise": {"color": "#E65100", "weight": 2, "dashArray": "6 4", "label": "需定量风险评价"},
}
GRADE_STYLES: Final = {"major": ("#C00000", "重大隐患"), "general": ("#F5A623", "一般隐患")}
OVERLAY_KINDS: Final = ("violations", "clusters")


@dataclass(frozen=True)
class Overlay:
    """An analysis layer the browser fetches after the map is drawn: `url` (same origin, our JSON API: the
    answer the caller may see, by its own cookie or bearer token), or None when it is not fetched, with
    `refused` saying why and `children` ((name, page URL) pairs) where to look instead."""

    key: str  # one of OVERLAY_KINDS: the builder that draws it and the answer it reads
    name: str
    url: str | None
    refused: str = ""
    children: Sequence[tuple[str, str]] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.key not in OVERLAY_KINDS:
            raise ValueError(f"no overlay {self.key!r}; overlays: {', '.join(OVERLAY_KINDS)}")
        if self.url is not None and not self.url.startswith("/"):
            raise ValueError(f"an overlay's URL is a path on this server: {self.url!r}")


_JS: Final = """
(function (R) {
  "use strict";
  var esc = R.esc;
  function select(kind) {
    return function (e) {
      if (window.riskmapSelect && e.layer && e.layer.feature) {
        window.riskmapSelect(kind, e.layer.feature.properties, e.layer);
      }
    };
  }
  function rows(list) {
    var out = "";
    for (var i = 0; i < list.length; i++) {
      if (list[i][1] !== undefined && list[i][1] !== null && list[i][1] !== "") {
        out += "<tr><th>" + list[i][0] + "</th><td>" + esc(list[i][1]) + "</td></tr>";
      }
    }
    return '<div class="rm-popup"><table>' + out + "</table></div>";
  }
  R.targets = function (d) {
    var layer = L.geoJSON(d.geojson, {
      style: function (f) { return d.styles[f.properties.g] || d.styles.none; },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, d.points[f.properties.g] || d.points.none);
      }
    });
    layer.bindTooltip(function (l) {
      var p = l.feature.properties;
      return esc(p.n) + "（" + esc(d.classes[p.g] || p.g || "未分类") + "）";
    }, {sticky: true});
    layer.on("click", select("protection_target"));
    return layer;
  };
  R.violations = function (d) {
    var layer = L.geoJSON(d.geojson, {style: function (f) { return d.styles[f.properties.s]; }});
    layer.bindTooltip(function (l) {
      var p = l.feature.properties;
      return esc(p.h) + " → " + esc(p.t) + "：" + esc(d.labels[p.s]) + "，" + esc(p.d) + " 米" +
        (p.r ? "（要求 " + esc(p.r) + " 米）" : "");
    }, {sticky: true});
    layer.bindPopup(function (l) {
      var p = l.feature.properties;
      return rows([["风险单元", p.h], ["防护目标", p.t], ["结论", d.labels[p.s]], ["实际距离（米）", p.d],
                   ["要求距离（米）", p.r], ["依据", p.b], ["说明", p.x]]);
    }, {maxWidth: 380});
    layer.on("click", select("violation"));
    return layer;
  };
  R.clusters = function (d) {
    var layer = L.geoJSON(d.geojson, {style: function (f) { return d.styles[f.properties.l] || d.styles[0]; }});
    layer.bindTooltip(function (l) {
      var p = l.feature.properties;
      return "联防联控组 " + esc(p.n) + "：" + esc(p.k) + " 家企业";
    }, {sticky: true});
    layer.on("click", select("cluster"));
    return layer;
  };
  R.hazards = function (d) {
    var layer = L.geoJSON(d.geojson, {
      pointToLayer: function (f, latlng) {
        var p = f.properties, style = L.extend({}, d.styles[p.g]);
        if (p.o) { style.color = "#000000"; style.weight = 3; style.dashArray = "3 2"; }
        return L.circleMarker(latlng, style);
      }
    });
    layer.bindTooltip(function (l) {
      var p = l.feature.properties;
      return esc(d.grades[p.g]) + "：" + esc(p.n) + "（" + esc(p.s) + (p.o ? "，已逾期" : "") + "）";
    }, {sticky: true});
    layer.on("click", select("hazard"));
    return layer;
  };
  R.labels = function (d) {
    var group = L.layerGroup();
    for (var i = 0; i < d.points.length; i++) {
      var p = d.points[i];
      L.marker([p[1], p[0]], {
        interactive: false,
        keyboard: false,
        icon: L.divIcon({className: "rm-label", html: "<span>" + esc(p[2]) + "</span>", iconSize: null})
      }).addTo(group);
    }
    return group;
  };
  // The overlays fetched after the map (riskmap.overlays): the API's answer as the builders' properties.
  function shown(v) { return v === null || v === undefined ? "" : v; }
  var FROM_API = {
    violations: function (fc) {
      var out = [];
      (fc.features || []).forEach(function (f) {
        if (!f.geometry) { return; }
        var p = f.properties || {}, h = p.hazard || {}, t = p.target || {}, basis = p.basis || [];
        out.push({type: "Feature", geometry: f.geometry, properties: {
          s: basis.indexOf("consultation_inner") >= 0 ? "veto" : "violation",
          h: h.name || "（辖区外）", t: t.name || "（辖区外）", d: shown(p.distance_m), r: shown(p.required_m),
          b: basis.join("、"), x: p.explanation_zh || ""}});
      });
      return out;
    },
    clusters: function (fc) {
      var out = [];
      (fc.features || []).forEach(function (f) {
        if (!f.geometry) { return; }
        var p = f.properties || {};
        out.push({type: "Feature", geometry: f.geometry,
                  properties: {n: p.id, k: p.member_count || 0, l: p.level || 0}});
      });
      return out;
    }
  };
  // What an answer says, in words: never "none" without what was checked.
  var SAID = {
    violations: function (fc) {
      var s = fc.summary || {}, n = (fc.features || []).length;
      var text = (n ? n + " 处不符合安全防护距离" : "未发现不符合安全防护距离") +
        "（已核查 " + shown(s.hazards_checked) + " 个风险单元";
      if (s.unchecked) { text += "，" + s.unchecked + " 个无法核查"; }
      if (s.needs_assessment) { text += "；" + s.needs_assessment + " 对需定量风险评价"; }
      return [text + "）", n ? String(n) : "未发现"];
    },
    clusters: function (fc) {
      var n = (fc.features || []).length;
      return [n ? n + " 个，" + shown(fc.enterprises_in_clusters) + " 家企业" :
              "无（已分析 " + shown(fc.enterprises_considered) + " 家企业）", String(n)];
    }
  };
  function failure(r, body) {
    var reason = body && (body.errors && body.errors.length && body.errors[0].reason_zh || body.detail);
    return new Error("HTTP " + r.status + (reason ? "：" + reason : ""));
  }
  // The first paint first: the analyses are asked for once the tiles in view have come (at most 5 s later),
  // so that they do not compete with them for the server.
  function afterTiles(map) {
    if (!map._riskmapTiles) {
      map._riskmapTiles = new Promise(function (resolve) {
        var started = Date.now();
        setTimeout(function wait() {
          var busy = false;
          map.eachLayer(function (l) { if (l instanceof L.GridLayer && l.isLoading && l.isLoading()) { busy = true; } });
          if (!busy || Date.now() - started > 5000) { resolve(); } else { setTimeout(wait, 100); }
        }, 50);
      });
    }
    return map._riskmapTiles;
  }
  // Layers drawn only from a zoom in (a province's units, enterprises and targets: at its whole view their
  // tiles would be a smear of cells): while the map is farther out, a box says which and where they start,
  // so an empty map is never read as "nothing here".
  R.zoomNote = function (map, d) {
    var box = L.DomUtil.create("div", "rm-zoom-note leaflet-bar");
    box.id = "rm-zoom-note";
    var text = L.DomUtil.create("div", "", box);
    var go = L.DomUtil.create("a", "", box);
    go.href = "#";
    go.textContent = "放大至第 " + d.zoom + " 级";
    L.DomEvent.on(go, "click", function (e) { L.DomEvent.preventDefault(e); map.setZoom(d.zoom); });
    L.DomEvent.disableClickPropagation(box);
    var Box = L.Control.extend({onAdd: function () { return box; }});
    new Box({position: "bottomleft"}).addTo(map);
    function update() {
      var z = map.getZoom(), below = z < d.zoom;
      box.dataset.state = below ? "hidden" : "shown";
      box.style.display = below ? "" : "none";
      text.textContent = d.names.join("、") + "：放大至第 " + d.zoom + " 级显示（当前第 " + z + " 级；" +
        d.reason + "）/ zoom in to level " + d.zoom + " to see " + d.names_en.join(", ");
    }
    map.on("zoomend", update);
    update();
  };
  R.overlays = function (map, control) {
    var list = [];
    map.eachLayer(function (l) { if (l.riskmapOverlay) { list.push(l); } });
    if (!list.length) { return; }
    var box = L.DomUtil.create("div", "rm-overlays leaflet-bar");
    box.id = "rm-overlays";
    L.DomUtil.create("div", "rm-overlays-head", box).textContent = "分析图层（地图显示后加载）";
    var ul = L.DomUtil.create("ul", "", box);
    var Box = L.Control.extend({onAdd: function () { return box; }});
    new Box({position: "bottomleft"}).addTo(map);
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    list.forEach(function (group) {
      var d = group.riskmapOverlay, li = L.DomUtil.create("li", "", ul);
      li.dataset.overlay = d.key;
      function say(state, text, short) {
        li.dataset.state = state;
        if (state !== "loading") { li.dataset.settled = String(Math.round(performance.now())); }
        group.riskmapState = state;
        li.textContent = d.name + "：" + text;
        var entry = control && control._layers && control._layers.filter(function (e) { return e.layer === group; })[0];
        if (entry) { entry.name = esc(d.name) + "（" + esc(short) + "）"; control._update(); }
      }
      if (!d.url) {
        say("refused", d.refused, "未计算");
        (d.children || []).forEach(function (c) {
          var a = L.DomUtil.create("a", "", li);
          a.href = c[1];
          a.textContent = c[0];
        });
        return;
      }
      say("loading", "加载中…", "加载中…");
      afterTiles(map).then(function () { return fetch(d.url, {credentials: "same-origin", headers: {Accept: "application/geo+json, application/json"}}); })
        .then(function (r) {
          return r.json().then(null, function () { return null; }).then(function (body) {
            if (!r.ok || !body) { throw failure(r, body); }
            return body;
          });
        })
        .then(function (fc) {
          var features = FROM_API[d.key](fc);
          group.addLayer(R[d.key]({geojson: {type: "FeatureCollection", features: features},
                                   styles: d.styles, labels: d.labels}));
          var words = SAID[d.key](fc);
          say("ready", words[0], words[1]);
        })
        .then(null, function (err) {
          say("failed", "加载失败（" + (err && err.message || err) + "）——未核查，不代表没有问题", "加载失败");
        });
    });
  };
})(window.riskmap);
"""

_CSS: Final = """
.rm-overlays{background:#fff;padding:4px 8px;max-width:360px;font:12px/1.5 "Noto Sans CJK SC","Source Han Sans SC",
  "Microsoft YaHei",sans-serif}
.rm-overlays-head{font-weight:bold}
.rm-overlays ul{margin:0;padding-left:1.1em}
.rm-overlays li[data-state=loading]{color:#5f6b7a}
.rm-overlays li[data-state=failed],.rm-overlays li[data-state=refused]{color:#B00020}
.rm-overlays li a{margin-left:0.4em}
.rm-zoom-note{background:#fffbe6;padding:4px 8px;max-width:360px;font:12px/1.5 "Noto Sans CJK SC",
  "Source Han Sans SC","Microsoft YaHei",sans-serif;color:#5c3c00}
.leaflet-bar.rm-overlays a,.leaflet-bar.rm-zoom-note a{display:inline;width:auto;height:auto;line-height:1.5;
  text-align:left;border:0;background:none;color:#0b57d0;text-decoration:underline}
.leaflet-bar.rm-zoom-note a{font-weight:bold;margin-left:0.4em}
.rm-label span{display:inline-block;transform:translate(-50%,-50%);white-space:nowrap;pointer-events:none;
  font:bold 13px/1.2 "Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;color:#222;
  text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 3px #fff}
"""


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


TARGETS_NAME: Final = "防护目标（GB 36894 分类）"


def _targets_layer(targets: gpd.GeoDataFrame) -> _DataLayer:
    """i id, n name, g GB 36894 class, t type."""
    frame = in_storage_crs(targets)
    props = [
        {
            "i": int(r["id"]),
            "n": _text(r.get("name")),
            "g": _text(r.get("gb_class")),
            "t": _text(r.get("type")),
        }
        for r in _rows(frame, ("id", "name", "gb_class", "type"))
    ]
    styles = {
        g: {
            "color": colour,
            "weight": 1,
            "fillColor": colour,
            "fillOpacity": 0.35,
            "className": f"rm-target rm-{g}",
        }
        for g, (colour, _) in TARGET_CLASSES.items()
    }
    points = {
        g: {
            "radius": 5,
            "color": "#ffffff",
            "weight": 1,
            "fillColor": colour,
            "fillOpacity": 0.95,
            "className": f"rm-target rm-{g}",
        }
        for g, (colour, _) in TARGET_CLASSES.items()
    }
    styles["none"] = {"color": "#777777", "weight": 1, "fillOpacity": 0.2, "className": "rm-target"}
    points["none"] = {
        "radius": 4,
        "color": "#777777",
        "fillColor": "#bbbbbb",
        "fillOpacity": 0.9,
        "className": "rm-target",
    }
    return _DataLayer(
        "targets",
        _data(
            _feature_collection(frame.geometry.to_numpy(), props),
            styles=styles,
            points=points,
            classes={g: label for g, (_, label) in TARGET_CLASSES.items()},
        ),
        name=TARGETS_NAME,
    )


def _violation_styles() -> dict[str, dict[str, Any]]:
    return {
        s: {
            "color": v["color"],
            "weight": v["weight"],
            "dashArray": v["dashArray"],
            "className": f"rm-violation rm-{s}",
        }
        for s, v in STATUS_STYLES.items()
    }


def _cluster_styles(palette: Mapping[int, str]) -> dict[int, dict[str, Any]]:
    return {
        lvl: {
            "color": palette.get(lvl, "#555555"),
            "weight": 2,
            "dashArray": "4 3",
            "fillOpacity": 0.05,
            "className": f"rm-cluster rm-level-{lvl or 'none'}",
        }
        for lvl in (0, 1, 2, 3, 4)
    }


def _violations_layer(pairs: pd.DataFrame) -> _DataLayer:
    """Lines from each unit to each target: s status (veto, violation, advise), h/t names, d distance,
    r required distance, b basis, x explanation."""
    geoms, props = [], []
    for r in pairs.to_dict("records"):
        line = r.get("line")
        if line is None:
            continue
        status = str(r.get("status") or "violation")
        if status not in STATUS_STYLES:
            continue
        geoms.append(line)
        props.append(
            {
                "s": status,
                "h": _text(r.get("hazard_name")) or "（辖区外）",
                "t": _text(r.get("target_name")) or "（辖区外）",
                "d": round(float(r["distance_m"]), 1) if r.get("distance_m") is not None else "",
                "r": round(float(r["required_m"]), 1) if _num(r.get("required_m")) else "",
                "b": _text(r.get("basis")),
                "x": _text(r.get("explanation_zh")),
            }
        )
    return _DataLayer(
        "violations",
        _data(
            _feature_collection(np.asarray(geoms, dtype=object), props),
            styles=_violation_styles(),
            labels={s: v["label"] for s, v in STATUS_STYLES.items()},
        ),
        name="安全防护距离问题",
    )


def _num(value: Any) -> bool:
    try:
        return value is not None and not np.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _clusters_layer(clusters: gpd.GeoDataFrame, palette: Mapping[int, str]) -> _DataLayer:
    """Hulls of the joint-prevention clusters: n id, k members, l highest level."""
    frame = in_storage_crs(clusters)
    props = [
        {"n": _text(r.get("id")), "k": int(r.get("member_count") or 0), "l": int(r.get("level") or 0)}
        for r in _rows(frame, ("id", "member_count", "level"))
    ]
    return _DataLayer(
        "clusters",
        _data(_feature_collection(frame.geometry.to_numpy(), props), styles=_cluster_styles(palette)),
        name="联防联控组",
    )


def _hazards_layer(hazards: gpd.GeoDataFrame) -> _DataLayer:
    """Open hidden hazards: i id, n description, g grade, s state (中文), o overdue."""
    frame = in_storage_crs(hazards)
    props = [
        {
            "i": int(r["id"]),
            "n": _text(r.get("description"))[:80],
            "g": _text(r.get("grade")),
            "s": _text(r.get("status_zh")),
            **({"o": 1} if r.get("overdue") else {}),
        }
        for r in _rows(frame, ("id", "description", "grade", "status_zh", "overdue"))
    ]
    styles = {
        g: {
            "radius": 6,
            "color": "#ffffff",
            "weight": 1.5,
            "fillColor": colour,
            "fillOpacity": 1.0,
            "className": f"rm-hazard rm-{g}",
        }
        for g, (colour, _) in GRADE_STYLES.items()
    }
    return _DataLayer(
        "hazards",
        _data(
            _feature_collection(frame.geometry.to_numpy(), props),
            styles=styles,
            grades={g: label for g, (_, label) in GRADE_STYLES.items()},
        ),
        name="未销号隐患（黑框：逾期）",
    )


def _labels_layer(zones: gpd.GeoDataFrame) -> _DataLayer:
    """Zone names at a point inside each zone (not interactive)."""
    frame = in_storage_crs(zones)
    names = [_text(n) for n in frame["name"]]
    inside = shapely.point_on_surface(frame.geometry.to_numpy())
    points = [
        [round(p.x, 6), round(p.y, 6), n] for p, n in zip(inside, names, strict=True) if n and p is not None
    ]
    return _DataLayer(
        "labels", _data('{"type":"FeatureCollection","features":[]}', points=points), name="区域名称"
    )


DETAIL_LAYERS: Final = {
    "risk_units": "risk units",
    "enterprises": "enterprises",
    "protection_targets": "protection targets",
}
"""The tiled layers a `detail_zoom` holds back (hazards stay at every zoom: few, and each one matters)."""


def _tile_layers(
    m: folium.Map,
    tiled: Collection[str],
    adcode: str,
    palette: Mapping[int, str],
    detail_zoom: int | None = None,
) -> list[tuple[str, str]]:
    """The layers of `tiled` from /tiles/{layer}/… of the jurisdiction, coloured like the inline ones (by
    level; targets by GB 36894 class, hazards by grade). With `detail_zoom`, those of `DETAIL_LAYERS` are
    drawn from that zoom in, their names in the layer control saying so; returns their (Chinese, English)
    names."""
    query = "?" + urllib.parse.urlencode({"adcode": adcode})
    layers: dict[str, tuple[TileStyle, str]] = {  # drawn in this order
        "risk_units": (
            level_style(
                "risk_units",
                palette,
                "polygon",
                popup_fields=("name", "level"),
                select="risk_unit",
                opacity=0.7,
            ),
            "风险单元（全部等级）",
        ),
        "enterprises": (
            level_style(
                "enterprises", palette, "point", popup_fields=("name", "level"), select="enterprise", radius=5
            ),
            "企业",
        ),
        "protection_targets": (
            TileStyle(
                "protection_targets",
                "point",
                "gb_class",
                {g: colour for g, (colour, _) in TARGET_CLASSES.items()},
                default="#bbbbbb",
                stroke="#ffffff",
                radius=5,
                popup_fields=("name", "type", "gb_class"),
                select="protection_target",
            ),
            TARGETS_NAME,
        ),
        "hazards": (
            TileStyle(
                "hazards",
                "point",
                "grade",
                {g: colour for g, (colour, _) in GRADE_STYLES.items()},
                stroke="#ffffff",
                radius=6,
                popup_fields=("grade", "status"),
                select="hazard",
            ),
            "未销号隐患",
        ),
    }
    held: list[tuple[str, str]] = []
    for layer, (style, name) in layers.items():
        if layer not in tiled:
            continue
        url = f"/tiles/{layer}/{{z}}/{{x}}/{{y}}.pbf{query}"
        if detail_zoom is not None and layer in DETAIL_LAYERS:
            short = name.split("（")[0]
            held.append((short, DETAIL_LAYERS[layer]))
            add_tile_layer(
                m, url, style, name=f"{short}（放大至第 {detail_zoom} 级显示）", min_zoom=detail_zoom
            )
        else:
            add_tile_layer(m, url, style, name=name)
    return held


class _LazyLayer(Layer):
    """An `Overlay`: an empty layer group in the layer control, filled by `riskmap.overlays` when its
    answer comes (its name says it is loading, or not computed, until then)."""

    def __init__(self, overlay: Overlay, palette: Mapping[int, str]) -> None:
        short = "加载中…" if overlay.url else "未计算"
        super().__init__(name=f"{overlay.name}（{short}）", overlay=True, control=True, show=True)
        self._name = "RiskmapOverlay"
        config: dict[str, Any] = {
            "key": overlay.key,
            "name": overlay.name,
            "url": overlay.url,
            "refused": overlay.refused,
            "children": [list(c) for c in overlay.children],
        }
        if overlay.key == "violations":
            config["styles"] = _violation_styles()
            config["labels"] = {k: v["label"] for k, v in STATUS_STYLES.items()}
        else:
            config["styles"] = _cluster_styles(palette)
        self.config = script_json(config)

    def render(self, **kwargs: Any) -> str:
        figure = self.get_root()
        if not isinstance(figure, Figure) or self._parent is None:
            raise TypeError("a map layer can only be rendered inside a folium Map")
        var = self.get_name()
        script = f"var {var} = L.featureGroup();\n{var}.riskmapOverlay = {self.config};\n"
        if self.show:
            script += f"{var}.addTo({self._parent.get_name()});\n"
        figure.script.add_child(_Text(script), name=var)
        return ""


class _ZoomNote(MacroElement):
    """The box saying which layers show only from `zoom` in (riskmap.zoomNote)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        riskmap.zoomNote({{ this._parent.get_name() }}, {{ this.config }});
        {% endmacro %}
        """
    )

    def __init__(self, zoom: int, names: Sequence[tuple[str, str]], reason: str) -> None:
        super().__init__()
        self._name = "RiskmapZoomNote"
        self.config = script_json(
            {
                "zoom": int(zoom),
                "names": [zh for zh, _ in names],
                "names_en": [en for _, en in names],
                "reason": reason,
            }
        )


class _Hook(MacroElement):
    """Names the map for the page's script (`window.riskmapMap`) once the map exists, and starts fetching
    the overlays (after the layer control, whose labels say how each is doing)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        window.riskmapMap = {{ this._parent.get_name() }};
        if (window.riskmapMapReady) { window.riskmapMapReady({{ this._parent.get_name() }}); }
        riskmap.overlays({{ this._parent.get_name() }}, {{ this.control.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, control: folium.LayerControl) -> None:
        super().__init__()
        self.control = control


def legend_html(palette: Mapping[int, str]) -> str:
    """The extra layers' symbols, for the page's legend beside the four-colour one."""
    rows = [
        f'<tr><td><span class="rm-dot" style="background:{c}"></span></td><td>{label}</td></tr>'
        for c, label in TARGET_CLASSES.values()
    ]
    rows += [
        f'<tr><td><span class="rm-line" style="border-color:{v["color"]}"></span></td><td>{v["label"]}</td></tr>'
        for s, v in STATUS_STYLES.items()
        if s != "advise"
    ]
    rows += [
        f'<tr><td><span class="rm-dot" style="background:{c}"></span></td><td>{label}</td></tr>'
        for c, label in GRADE_STYLES.values()
    ]
    rows.append(
        f'<tr><td><span class="rm-hull" style="border-color:{palette[1]}"></span></td><td>联防联控组</td></tr>'
    )
    return '<table class="rm-legend-more">' + "".join(rows) + "</table>"


def one_map(
    zones: gpd.GeoDataFrame,
    *,
    boundaries: gpd.GeoDataFrame | None = None,
    enterprises: gpd.GeoDataFrame | None = None,
    risk_units: gpd.GeoDataFrame | None = None,
    targets: gpd.GeoDataFrame | None = None,
    violations: pd.DataFrame | None = None,
    clusters: gpd.GeoDataFrame | None = None,
    hazards: gpd.GeoDataFrame | None = None,
    public: bool = False,
    palette: Mapping[int, str] | None = None,
    title: str = DEFAULT_TITLE,
    tiles: TileSetting | None = None,
    asset_prefix: str | None = None,
    unit_counts: Mapping[int, int] | None = None,
    zone_labels: bool = True,
    tiled: Collection[str] = (),
    tiles_adcode: str | None = None,
    overlays: Sequence[Overlay] = (),
    detail_zoom: int | None = None,
    detail_reason: str = "",
) -> folium.Map:
    """The four-colour map with the workspace's layers. `public=True` draws what the public map does and
    nothing more (zones, labels, boundaries): no target, violation, cluster or hazard, whatever is passed.
    `zone_labels=False` leaves the zones unnamed (grid cells, whose names say nothing); the boundaries'
    names are then the labels.

    `tiled` names the layers ("risk_units", "enterprises", "protection_targets", "hazards") drawn from our
    vector tiles of `tiles_adcode` instead of inline (maps.tiles: too many features for the page); their
    frames are then not needed. A click on a tiled feature opens the side panel as an inline one does.

    `overlays` are fetched by the browser after the map is drawn (`Overlay`), in place of the `violations`
    and `clusters` frames (pass one or the other).

    `detail_zoom`: the tiled units, enterprises and targets are drawn only from that zoom in (a province's
    at its whole view would be a smear of cells, and their tiles the slowest part of its first paint);
    their names in the layer control and a box on the map say so (with `detail_reason`) while the map is
    farther out."""
    kwargs: dict[str, Any] = {"asset_prefix": asset_prefix} if asset_prefix else {}
    if tiled and tiles_adcode is None:
        raise ValueError("tiled layers need the adcode of their jurisdiction")
    m = four_colour_map(
        zones,
        boundaries=boundaries,
        enterprises=None if "enterprises" in tiled else enterprises,
        risk_units=None if "risk_units" in tiled else risk_units,
        public=public,
        palette=palette,
        title=title,
        tiles=tiles,
        unit_counts=unit_counts,
        canvas=True,
        **kwargs,
    )
    palette_ = resolve_palette(palette, in_storage_crs(zones))
    root = m.get_root()
    if isinstance(root, Figure):
        root.header.add_child(
            _Text(f"<script>{_JS}</script><style>{_CSS}</style>"), name="riskmap_one_map_js"
        )
    # The layer control must come after every layer it lists (its script names them): take the one the
    # four-colour map added off, and put it back at the end.
    for key, child in list(m._children.items()):
        if isinstance(child, folium.LayerControl):
            del m._children[key]
    held: list[tuple[str, str]] = []
    if not public:
        held = _tile_layers(m, tiled, str(tiles_adcode), palette_, detail_zoom)
    if zone_labels and len(zones):
        _labels_layer(zones).add_to(m)
    elif boundaries is not None and len(boundaries) and "name" in boundaries.columns:
        _labels_layer(boundaries).add_to(m)
    if not public:
        if targets is not None and len(targets):
            _targets_layer(targets).add_to(m)
        if violations is not None and len(violations):
            _violations_layer(violations).add_to(m)
        if clusters is not None and len(clusters):
            _clusters_layer(clusters, palette_).add_to(m)
        if hazards is not None and len(hazards):
            _hazards_layer(hazards).add_to(m)
        for overlay in overlays:
            _LazyLayer(overlay, palette_).add_to(m)
    control = folium.LayerControl(collapsed=False, position="topright")
    control.add_to(m)
    if held and detail_zoom is not None:
        _ZoomNote(detail_zoom, held, detail_reason).add_to(m)
    _Hook(control).add_to(m)
    if tiled and not public:  # the tile layers' script, added after four_colour_map localised its own
        localise(m, asset_prefix or DEFAULT_PREFIX)
    return m


def add_overlays(
    m: folium.Map, *, labels: gpd.GeoDataFrame | None = None, hazards: gpd.GeoDataFrame | None = None
) -> folium.Map:
    """The one map's name labels (a frame with `name`: zones or administrative boundaries) and open hidden
    hazards (overdue marked) on another map drawn by `maps.four_colour.four_colour_map` (the four-colour
    page), as switchable layers; the layer control is moved after them so it lists them."""
    root = m.get_root()
    if isinstance(root, Figure):
        root.header.add_child(
            _Text(f"<script>{_JS}</script><style>{_CSS}</style>"), name="riskmap_one_map_js"
        )
    control = [k for k, child in m._children.items() if isinstance(child, folium.LayerControl)]
    for key in control:
        del m._children[key]
    if labels is not None and len(labels) and "name" in labels.columns:
        _labels_layer(labels).add_to(m)
    if hazards is not None and len(hazards):
        _hazards_layer(hazards).add_to(m)
    if control:
        folium.LayerControl(collapsed=False, position="topright").add_to(m)
    return m


__all__ = [
    "GRADE_STYLES",
    "OVERLAY_KINDS",
    "STATUS_STYLES",
    "TARGET_CLASSES",
    "Overlay",
    "add_overlays",
    "legend_html",
    "level_label",
    "one_map",
]
