"""The four-colour map as a use case: checked parameters, the zones (PostGIS), the interactive map and its
GeoJSON, for the JSON routes, the map pages, the one map and the command line alike."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Connection

from api.settings import Settings
from geo import deadline
from geo.access import Principal
from geo.errors import InvalidInput
from geo.four_colour import ZoneTotals, four_colour_options, summarise
from geo.store.four_colour import four_colour_sql
from geo.store.hazards import raised_levels
from geo.store.repository import get_jurisdiction_row
from geo.store.summary import enterprise_levels, map_boundaries, map_risk_units
from geo.store.summary import summary as register_summary
from geo.store.zones import ZONE_KINDS, zone_source
from geo.vocab import LEVEL_NAMES_ZH
from maps.four_colour import TileSetting, four_colour_map

ZONE_DESCRIPTIONS = {
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
    zones: str = "children"
    cell_m: float = 1000
    h3_res: int = 8
    rule: str = "max"
    weights: str | None = None
    breaks: str | None = None
    levels: str = (
        "assessed"  # or "dynamic": open hidden hazards raise their units (data/dynamic_risk_rules.csv)
    )

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


def make_params(
    adcode: str,
    zones: str = "children",
    cell_m: float = 1000,
    h3_res: int = 8,
    rule: str = "max",
    weights: str | None = None,
    breaks: str | None = None,
    levels: str = "assessed",
) -> FourColourParams:
    """Checked four-colour parameters (InvalidInput naming the field), for the routes, the pages and the
    command line alike."""
    if zones not in ZONE_KINDS:
        raise InvalidInput.one(
            "zones",
            f"unknown zones {zones!r}; expected one of {', '.join(ZONE_KINDS)}",
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
    queries run under the time limit."""
    source = zone_source(
        conn, principal, params.adcode, params.zones, cell_m=params.cell_m, h3_res=params.h3_res
    )
    deadline.check()
    deadline.apply(conn)  # the time left, as the statement timeout of what follows
    shown = raised_levels(conn) if params.levels == "dynamic" else None
    zones = four_colour_sql(conn, source, **params.options(settings.maps.palette_map()), shown_levels=shown)
    deadline.check()
    return zones


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


def four_colour_folium(
    conn: Connection, principal: Principal, params: FourColourParams, settings: Settings, *, public: bool
) -> tuple[folium.Map, gpd.GeoDataFrame]:
    """The interactive map (and the zones it shows); the full one (enterprises, units) only for those who
    may see the jurisdiction's detail."""
    zones = compute(conn, principal, params, settings)
    boundaries = map_boundaries(conn, params.adcode)
    deadline.check()
    enterprises = units = None
    if not public:
        enterprises = enterprises_with_levels(conn, principal, params.adcode, settings)
        units = map_risk_units(conn, principal, params.adcode)
        if len(units) > settings.maps.max_risk_units:
            units = map_risk_units(conn, principal, params.adcode, max_level=2)
    deadline.check()
    m = four_colour_map(
        zones,
        boundaries=boundaries,
        enterprises=enterprises,
        risk_units=units,
        public=public,
        palette=settings.maps.palette_map(),
        title=title(conn, params),
        tiles=tiles(settings),
        asset_prefix=settings.maps.asset_prefix,
        unit_counts={
            int(k): v
            for k, v in register_summary(conn, principal, params.adcode, overdue_limit=0)["counts"].items()
        },
    )
    return m, zones


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
        if row.get("index") is not None and not pd.isna(row["index"]):
            props["index"] = float(row["index"])
        if row.get("raised_units") is not None:
            props["raised_units"] = int(row["raised_units"])
        if not public:
            props["enterprise_ids"] = [int(i) for i in row["enterprise_ids"]]
        out.append(
            {
                "type": "Feature",
                "id": props["code"],
                "geometry": row["geometry"].__geo_interface__,
                "properties": props,
            }
        )
    return out
