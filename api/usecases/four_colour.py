"""The four-colour map as a use case: checked parameters, the zones (PostGIS), the interactive map and its
GeoJSON, for the JSON routes, the map pages, the one map and the command line alike."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Connection

from api.settings import Settings
from geo import deadline
from geo.access import Principal
from geo.closeout import today as beijing_today
from geo.errors import InvalidInput
from geo.four_colour import ZoneTotals, four_colour_options, summarise, why_text
from geo.store.four_colour import deciding_units, four_colour_sql
from geo.store.hazards import raised_levels
from geo.store.repository import get_jurisdiction_row, may_see_detail
from geo.store.summary import enterprise_levels, level_counts, map_boundaries, map_risk_units
from geo.store.zones import ZONE_KINDS, zone_source
from geo.vocab import LEVEL_NAMES_ZH
from maps.four_colour import TileSetting, four_colour_map
from maps.print import four_colour_print

ZONE_DESCRIPTIONS = {
    "default": "(the default) the children when any are loaded, else a grid whose cell suits the area (about a "
    "dozen cells across, 1–50 km); the answer's `zones_used` says which and why",
    "children": "the jurisdiction's child units (a city's counties; a county's townships once loaded)",
    "grid": "square cells of cell_m metres in the local CGCS2000 Gauss–Krüger zone, cut to the boundary",
    "h3": "H3 hexagons of resolution h3_res whose centres lie inside, cut to the boundary",
    "parks": "the industrial parks (园区) loaded under the jurisdiction",
    "grids": "the grid zones (网格) loaded under the jurisdiction",
}


def _numbers(value: str | None, field: str, n: int) -> list[float] | None:
    if value is None:
        return None
    try:
        out = [float(v) for v in value.split(",")]
    except ValueError:
        raise InvalidInput.one(
            field, f"expected {n} comma-separated numbers", f"应为 {n} 个以逗号分隔的数"
        ) from None
    if len(out) != n:
        raise InvalidInput.one(field, f"expected {n} comma-separated numbers", f"应为 {n} 个以逗号分隔的数")
    return out


@dataclass(frozen=True)
class FourColourParams:
    adcode: str
    zones: str = (
        "default"  # resolved by `resolve_zones` before use: children, else a grid that suits the area
    )
    cell_m: float = 1000
    h3_res: int = 8
    rule: str = "max"
    weights: str | None = None
    breaks: str | None = None
    levels: str = (
        "assessed"  # or "dynamic": open hidden hazards raise their units (data/dynamic_risk_rules.csv)
    )
    zones_default: bool = False  # the zones were chosen by the default (resolve_zones)
    zones_reason: str = ""  # why these zones, in English and Chinese (said by the answer and the legend)
    zones_reason_zh: str = ""

    def zones_used(self) -> dict[str, Any]:
        """Which zones a map used and why, for the answer and the legend."""
        out: dict[str, Any] = {"kind": self.zones, "default": self.zones_default, "label_zh": zones_zh(self)}
        if self.zones == "grid":
            out["cell_m"] = self.cell_m
        if self.zones == "h3":
            out["h3_res"] = self.h3_res
        out["reason"] = self.zones_reason or f"zones={self.zones} was asked for"
        out["reason_zh"] = self.zones_reason_zh or f"按请求的分区方式（{zones_zh(self)}）"
        return out

    def options(self, palette: dict[int, str]) -> dict[str, Any]:
        weights = _numbers(self.weights, "weights", 4)
        options = four_colour_options(
            rule=self.rule,
            weights=dict(zip((1, 2, 3, 4), weights, strict=True)) if weights else None,
            breaks=_numbers(self.breaks, "breaks", 3),
            palette=palette,
        )
        return {
            "rule": options.rule,
            "weights": options.weights,
            "breaks": options.breaks,
            "palette": palette,
        }


def zones_zh(params: FourColourParams) -> str:
    """The zones in words, for titles and legends: 下级行政区, 1.5 千米网格, …"""
    return {
        "children": "下级行政区",
        "grid": f"{params.cell_m / 1000:g} 千米网格"
        if params.cell_m >= 1000
        else f"{params.cell_m:g} 米网格",
        "h3": f"H3 {params.h3_res} 级六边形",
        "parks": "园区",
        "grids": "网格",
    }.get(params.zones, "默认分区")


DEFAULT_CELLS_ACROSS = 12
DEFAULT_MIN_CELL_M = 1000  # never finer than what the public may see (geo.store.zones.PUBLIC_MIN_CELL_M)
DEFAULT_MAX_CELL_M = 50_000  # the largest cell_m: about 12 across up to a 600 km wide area


def default_cell_m(area_m2: float | None) -> float:
    """A grid cell that suits an area: about a dozen cells across (√area / 12, rounded to 500 m), between
    1 and 50 km (1 km is the finest cell the public may see; 50 km the largest cell_m), so a default map
    has about 150 zones, within every role's cap."""
    width_m = math.sqrt(area_m2) if area_m2 and area_m2 > 0 else 10_000.0
    return float(
        max(DEFAULT_MIN_CELL_M, min(DEFAULT_MAX_CELL_M, round(width_m / DEFAULT_CELLS_ACROSS / 500) * 500))
    )


_CHILDREN_AND_AREA = """
SELECT (SELECT count(*) FROM jurisdictions c WHERE c.parent_adcode = j.adcode
        AND c.level IN ('province', 'city', 'county', 'township', 'village')) AS children,
    ST_Area(j.geom::geography, true) AS area_m2
FROM jurisdictions j WHERE j.adcode = %(a)s
"""


def resolve_zones(conn: Connection, params: FourColourParams) -> FourColourParams:
    """The default zones made concrete (other kinds are returned as they are): the jurisdiction's children
    when any are loaded, else a square grid whose cell suits its area (`default_cell_m`). The one choice
    used by the four-colour API, its pages and prints, the one map, the white paper and the command line;
    the answer says which zones were used and why (`FourColourParams.zones_used`)."""
    if params.zones != "default":
        return params
    row = conn.exec_driver_sql(_CHILDREN_AND_AREA, {"a": params.adcode}).first()
    children = int(row[0]) if row else 0
    if children or row is None:  # an unknown adcode: left to the 404 of the area check
        return replace(
            params,
            zones="children",
            zones_default=True,
            zones_reason=f"the default: the {children} child jurisdictions loaded",
            zones_reason_zh=f"默认：按已导入的 {children} 个下级行政区分区",
        )
    cell_m = default_cell_m(row[1])
    size_zh = f"{cell_m / 1000:g} 千米"
    return replace(
        params,
        zones="grid",
        cell_m=cell_m,
        zones_default=True,
        zones_reason=f"the default: no child jurisdictions are loaded, so square cells of {cell_m:g} m "
        f"(about {DEFAULT_CELLS_ACROSS} across the area)",
        zones_reason_zh=f"默认：未导入下级行政区划，按 {size_zh}网格分区（全境约 {DEFAULT_CELLS_ACROSS} 格宽）",
    )


def make_params(
    adcode: str,
    zones: str | None = None,
    cell_m: float = 1000,
    h3_res: int = 8,
    rule: str = "max",
    weights: str | None = None,
    breaks: str | None = None,
    levels: str = "assessed",
) -> FourColourParams:
    """Checked four-colour parameters (InvalidInput naming the field), for the routes, the pages and the
    command line alike. No zones (or "default"): see `resolve_zones`."""
    zones = zones or "default"
    if zones not in ZONE_KINDS and zones != "default":
        raise InvalidInput.one(
            "zones",
            f"unknown zones {zones!r}; expected default or one of {', '.join(ZONE_KINDS)}",
            f"未知的分区方式 {zones!r}",
        )
    if not 100 <= cell_m <= 50_000:
        raise InvalidInput.one(
            "cell_m", "must be between 100 and 50000 metres", "网格边长应在 100–50000 米之间"
        )
    if not 4 <= h3_res <= 10:
        raise InvalidInput.one("h3_res", "must be between 4 and 10", "H3 分辨率应在 4–10 之间")
    if levels not in ("assessed", "dynamic"):
        raise InvalidInput.one(
            "levels", "assessed or dynamic", "应为 assessed（评估等级）或 dynamic（动态等级）"
        )
    params = FourColourParams(adcode, zones, cell_m, h3_res, rule, weights, breaks, levels)
    params.options({1: "#000", 2: "#000", 3: "#000", 4: "#000"})  # validates rule, weights, breaks up front
    return params


def compute(
    conn: Connection, principal: Principal, params: FourColourParams, settings: Settings
) -> gpd.GeoDataFrame:
    """One row per zone: level, colour, counts and area shares by level, enterprises involved. Within
    `api.limits.expensive`, a request over the role's caps is refused before any work (422) and the
    queries run under the time limit. Default zones are resolved here when the caller has not."""
    params = resolve_zones(conn, params)
    source = zone_source(
        conn, principal, params.adcode, params.zones, cell_m=params.cell_m, h3_res=params.h3_res
    )
    deadline.check()
    deadline.apply(conn)  # the time left, as the statement timeout of what follows
    shown = raised_levels(conn) if params.levels == "dynamic" else None
    zones = four_colour_sql(conn, source, **params.options(settings.maps.palette_map()), shown_levels=shown)
    deadline.check()
    return zones


UNIT_COUNTS_DESCRIPTION: Final = (
    "unit_counts: the risk units filed in the jurisdiction, each counted once (as /api/v1/analysis/summary and "
    "the white paper count them); a zone's counts hold every unit that counts for it, so a unit across a "
    "zone boundary is in each of those zones"
)
UNIT_COUNTS_ZH: Final = (
    "单元数：辖区内登记的风险单元，每个计一次（与统计、白皮书一致）；跨区单元在所涉各区的弹窗中分别计入"
)


def unit_counts(conn: Connection, principal: Principal, adcode: str) -> dict[int, int]:
    """Risk units of the jurisdiction by level, each once: the one count the legends of the web and print
    maps, the four-colour answer, the summary and the white paper give."""
    counts = level_counts(conn, principal, adcode)  # the summary's own `counts` statement
    return {lv: int(counts[str(lv)]) for lv in (1, 2, 3, 4)}


def add_deciding_units(
    conn: Connection, principal: Principal, zones: gpd.GeoDataFrame, params: FourColourParams, *, public: bool
) -> None:
    """Under the 就高 rule, and for those who may see the jurisdiction's detail, each zone's deciding units
    (ids and names, the first few) in a `deciding_units` column; nothing for the public."""
    if public or params.rule != "max" or not len(zones):
        return
    shown = raised_levels(conn) if params.levels == "dynamic" else None
    found = deciding_units(conn, principal, params.adcode, zones, shown_levels=shown)
    if found is not None:
        zones["deciding_units"] = found


def enterprises_with_levels(
    conn: Connection, principal: Principal, adcode: str, settings: Settings, *, dynamic: bool = False
) -> gpd.GeoDataFrame:
    """Enterprises of the jurisdiction with their level by the configured rule (就高 by default); `dynamic`:
    their units counted at their dynamic levels, the raised ones listed (api.usecases.dynamic_levels)."""
    frame = enterprise_levels(conn, principal, adcode)
    if dynamic:
        from api.usecases.dynamic_levels import raise_enterprises

        raise_enterprises(conn, frame, adcode)
    counts = np.array([[c[str(lv)] for lv in (1, 2, 3, 4)] for c in frame["counts"]], dtype=np.int64).reshape(
        -1, 4
    )
    totals = ZoneTotals(
        counts=counts,
        area_m2=np.zeros((len(frame), 4)),
        zone_area_m2=np.ones(len(frame)),
        enterprise_ids=[[] for _ in range(len(frame))],
    )
    options = four_colour_options(
        rule=settings.analysis.enterprise_level_rule, palette=settings.maps.palette_map()
    )
    levels = summarise(frame["id"].tolist(), frame["name"].tolist(), frame.geometry.values, totals, options)
    frame["level"] = levels["level"].to_numpy()
    frame["color"] = levels["color"].to_numpy()
    frame["risk_unit_count"] = counts.sum(axis=1)
    frame["level_rule"] = options.rule
    return frame


def tiles(settings: Settings) -> TileSetting:
    m = settings.maps
    return TileSetting(
        kind=m.tiles,
        url=m.tiles_url,
        attribution=m.tiles_attribution,
        key=m.tianditu_key,
        subdomains=m.tiles_subdomains,
    )


def title(conn: Connection, params: FourColourParams) -> str:
    name = get_jurisdiction_row(conn, params.adcode)["name"]
    return f"{name}区域安全风险空间分布图"


def rule_zh(params: FourColourParams, options: Mapping[str, Any] | None = None) -> str:
    """How the colour was decided, in words for a legend."""
    o = options or params.options({1: "#000", 2: "#000", 3: "#000", 4: "#000"})
    breaks = "/".join(f"{b:g}" for b in o["breaks"])
    weights = "/".join(f"{o['weights'][lv]:g}" for lv in (1, 2, 3, 4))
    if params.rule == "weighted":
        return f"区域颜色：加权指数 I = Σ 权重×单元数（权重 {weights}），分级下限 {breaks}"
    if params.rule == "density":
        return (
            f"区域颜色：风险密度 D = Σ 权重×单元数 ÷ 区域面积（平方千米；权重 {weights}），分级下限 {breaks}"
        )
    return "区域颜色：就高，取区内风险单元的最高等级"


def legend_notes(params: FourColourParams) -> list[str]:
    """What the legend says beside the counts: which zones and why, how the colour was decided, what the
    unit counts count. The web and print maps both print these."""
    used = params.zones_used()
    zones = used["reason_zh"].replace("默认：", "默认，", 1) if params.zones_default else used["label_zh"]
    notes = [f"分区：{zones}", rule_zh(params), UNIT_COUNTS_ZH]
    if params.levels == "dynamic":
        notes.append("动态等级：有未销号隐患的风险单元按其提升后的等级计入分区（单元数仍为评估等级）")
    return notes


@dataclass
class FourColourMap:
    """What the four-colour map pages and prints show."""

    params: FourColourParams  # resolved: the zones used
    zones: gpd.GeoDataFrame
    boundaries: gpd.GeoDataFrame
    title: str
    unit_counts: dict[int, int]
    notes: list[str]
    detail: bool  # the viewer may see names and single units
    synthetic: bool = False


def gather(
    conn: Connection, principal: Principal, params: FourColourParams, settings: Settings, *, public: bool
) -> FourColourMap:
    """The zones (default zones resolved), boundaries, counts and legend notes of a four-colour map; the
    deciding units of each zone when the viewer may see detail."""
    params = resolve_zones(conn, params)
    zones = compute(conn, principal, params, settings)
    detail = not public and may_see_detail(conn, principal, params.adcode)
    add_deciding_units(conn, principal, zones, params, public=not detail)
    boundaries = map_boundaries(conn, params.adcode)
    deadline.check()
    return FourColourMap(
        params=params,
        zones=zones,
        boundaries=boundaries,
        title=title(conn, params),
        unit_counts=unit_counts(conn, principal, params.adcode),
        notes=legend_notes(params),
        detail=detail,
        synthetic=bool(conn.exec_driver_sql("SELECT bool_or(synthetic) FROM enterprises").scalar()),
    )


def four_colour_folium(
    conn: Connection,
    principal: Principal,
    params: FourColourParams,
    settings: Settings,
    *,
    public: bool,
    as_of: dt.date | None = None,
) -> tuple[folium.Map, gpd.GeoDataFrame]:
    """The interactive map (and the zones it shows); the full one (enterprises, units, open hidden hazards)
    only for those who may see the jurisdiction's detail. Zones are named on the map (a grid's cells by the
    administrative boundaries' names instead)."""
    from api.usecases.one_map import (
        _hazards_frame,  # the one map's hazard layer (one_map imports this module)
    )
    from maps.one_map import add_overlays

    data = gather(conn, principal, params, settings, public=public)
    enterprises = units = hazards = None
    if not public:
        enterprises = enterprises_with_levels(conn, principal, params.adcode, settings)
        units = map_risk_units(conn, principal, params.adcode)
        if len(units) > settings.maps.max_risk_units:
            units = map_risk_units(conn, principal, params.adcode, max_level=2)
            data.notes.append("风险单元较多：图上只画重大、较大风险单元（放大可见其在红区内的位置）")
    if data.detail:
        hazards = _hazards_frame(conn, principal, params.adcode, as_of or beijing_today())
    deadline.check()
    m = four_colour_map(
        data.zones,
        boundaries=data.boundaries,
        enterprises=enterprises,
        risk_units=units,
        public=public,
        palette=settings.maps.palette_map(),
        title=data.title,
        tiles=tiles(settings),
        asset_prefix=settings.maps.asset_prefix,
        unit_counts=data.unit_counts,
        legend_notes=data.notes,
    )
    named = data.params.zones in ("children", "parks", "grids")
    add_overlays(m, labels=data.zones if named else data.boundaries, hazards=hazards)
    return m, data.zones


def print_map(data: FourColourMap, settings: Settings, *, fmt: str, date: dt.date | None = None) -> bytes:
    """The print version (PNG or PDF) of a gathered map: the zones only, as the published map."""
    return four_colour_print(
        data.zones,
        boundaries=data.boundaries,
        title=data.title,
        subtitle=f"分区：{zones_zh(data.params)}　规则：{RULE_NAMES_ZH[data.params.rule]}",
        data_source=settings.maps.data_source,
        date=date or dt.date.today(),
        palette=settings.maps.palette_map(),
        synthetic=data.synthetic,
        unit_counts=data.unit_counts,
        notes=data.notes,
        label_boundaries=data.params.zones not in ("children", "parks", "grids"),
        fmt=fmt,  # type: ignore[arg-type]
    )


RULE_NAMES_ZH: Final = {"max": "就高", "weighted": "加权指数", "density": "风险密度"}


def zone_table(zones: gpd.GeoDataFrame) -> list[tuple[str, int | None, int, dict[int, int]]]:
    """(name, level, units, units by level) per zone of a four-colour map: the white paper's zone table,
    counted as the map's popups and the API count (a unit across a zone boundary in each zone)."""
    return [
        (
            str(name),
            None if pd.isna(level) else int(level),
            int(n),
            {int(k): int(v) for k, v in counts.items()},
        )
        for name, level, n, counts in zip(
            zones["name"], zones["level"], zones["unit_count"], zones["counts"], strict=True
        )
    ]


def _records(frame: pd.DataFrame, batch: int = 2_000) -> Iterator[dict[Any, Any]]:
    """The rows as dicts, a batch at a time: one to_dict over 100,000 rows holds the GIL for a third of a
    second (other requests wait), and the time limit is checked between batches."""
    for start in range(0, len(frame), batch):
        deadline.check()
        yield from frame.iloc[start : start + batch].to_dict("records")


def zone_features(zones: gpd.GeoDataFrame, *, public: bool = False) -> list[dict[str, Any]]:
    """GeoJSON features of the four-colour zones, with JSON-friendly properties."""
    out = []
    for row in _records(zones):
        level = None if pd.isna(row["level"]) else int(row["level"])
        props: dict[str, Any] = {
            "code": str(row["code"]),
            "name": row["name"],
            "level": level,
            "level_name": LEVEL_NAMES_ZH.get(level) if level else None,
            "color": row["color"] if level else None,
            "counts": {str(k): int(v) for k, v in row["counts"].items()},
            "area_share": {str(k): float(v) for k, v in row["area_share"].items()},
            "unit_count": int(row["unit_count"]),
            "enterprise_count": len(row["enterprise_ids"]),
        }
        if row.get("index") is not None and not pd.isna(row["index"]) and math.isfinite(row["index"]):
            props["index"] = float(row["index"])
        if row.get("raised_units") is not None:
            props["raised_units"] = int(row["raised_units"])
        why = dict(row.get("why") or {})
        why["text_zh"] = why_text(why, level)
        deciding = row.get("deciding_units")
        if not public:
            props["enterprise_ids"] = [int(i) for i in row["enterprise_ids"]]
            if isinstance(deciding, dict) and deciding:
                why["deciding_units"] = deciding
        props["why"] = why
        out.append(
            {
                "type": "Feature",
                "id": props["code"],
                "geometry": row["geometry"].__geo_interface__,
                "properties": props,
            }
        )
    return out
