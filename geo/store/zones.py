"""The zones a four-colour map of a jurisdiction is drawn over: its children, a grid, H3 cells, parks."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import shapely
from sqlalchemy import Connection, text

from geo.access import Principal
from geo.errors import InvalidInput
from geo.store.four_colour import ZoneQuery
from geo.store.repository import deny, may_see_detail, require_area
from geo.zones import h3_grid, square_grid

ZONE_KINDS = ("children", "grid", "h3", "parks", "grids")

_CHILDREN_COUNT = """
SELECT count(*) FROM jurisdictions
WHERE parent_adcode = :adcode AND level IN ('province', 'city', 'county', 'township', 'village')
"""
_CHILDREN = """
SELECT adcode AS code, name, geom FROM jurisdictions
WHERE parent_adcode = :adcode AND level IN ('province', 'city', 'county', 'township', 'village')
ORDER BY adcode
"""
# Parks (or user grids) filed anywhere under the jurisdiction.
_ZONE_SET = """
WITH subtree AS (
    SELECT descendant AS adcode FROM jurisdiction_closure WHERE ancestor = :adcode
)
SELECT adcode AS code, name, geom FROM jurisdictions
WHERE level = :level AND parent_adcode IN (SELECT adcode FROM subtree)
ORDER BY adcode
"""
_ZONE_SET_COUNT = """
WITH subtree AS (
    SELECT descendant AS adcode FROM jurisdiction_closure WHERE ancestor = :adcode
)
SELECT count(*) FROM jurisdictions WHERE level = :level AND parent_adcode IN (SELECT adcode FROM subtree)
"""


def boundary(conn: Connection, adcode: str) -> Any:
    wkb = conn.execute(
        text("SELECT ST_AsBinary(geom) FROM jurisdictions WHERE adcode = :a"), {"a": adcode}
    ).scalar_one()
    return shapely.from_wkb(bytes(wkb))


# The public map's zones are aggregates: cells no smaller than these, so a cell never singles out one site.
PUBLIC_MIN_CELL_M = 1000
PUBLIC_MAX_H3_RES = 8


def zone_source(
    conn: Connection,
    principal: Principal,
    adcode: str,
    kind: str,
    *,
    cell_m: float = 1000,
    h3_res: int = 8,
) -> ZoneQuery | gpd.GeoDataFrame:
    """Zones of `kind` for the jurisdiction `adcode` (404 when unknown), as the four-colour SQL takes them.
    Zone levels and counts are public, but only admins and the area's regulators get cells smaller than
    PUBLIC_MIN_CELL_M (grid) or finer than H3 resolution PUBLIC_MAX_H3_RES (403)."""
    j = require_area(conn, principal, adcode, detail=False)
    if not may_see_detail(conn, principal, adcode):
        if kind == "grid" and cell_m < PUBLIC_MIN_CELL_M:
            raise deny(principal, f"map cells smaller than {PUBLIC_MIN_CELL_M} m (cell_m)")
        if kind == "h3" and h3_res > PUBLIC_MAX_H3_RES:
            raise deny(principal, f"map H3 cells finer than resolution {PUBLIC_MAX_H3_RES} (h3_res)")
    if kind == "children":
        n = conn.execute(text(_CHILDREN_COUNT), {"adcode": adcode}).scalar()
        if not n:
            raise InvalidInput.one(
                "zones",
                f"{j['name']} ({adcode}) has no child jurisdictions loaded; use zones=grid or zones=h3, "
                "or load its townships first (POST /api/v1/jurisdictions)",
                f"{j['name']} 尚无下级行政区划，可改用网格（grid）或 H3",
            )
        return ZoneQuery(_CHILDREN, {"adcode": adcode}, stored=True)
    if kind in ("parks", "grids"):
        level = "park" if kind == "parks" else "grid"
        n = conn.execute(text(_ZONE_SET_COUNT), {"adcode": adcode, "level": level}).scalar()
        if not n:
            raise InvalidInput.one(
                "zones",
                f"no {kind} are loaded under {j['name']} ({adcode})",
                f"{j['name']} 下尚无{'园区' if level == 'park' else '网格'}",
            )
        return ZoneQuery(_ZONE_SET, {"adcode": adcode, "level": level}, stored=True)
    if kind == "grid":
        return square_grid(boundary(conn, adcode), cell_m=cell_m, code_prefix=adcode)
    if kind == "h3":
        return h3_grid(boundary(conn, adcode), resolution=h3_res)
    raise InvalidInput.one(
        "zones",
        f"unknown zones {kind!r}; expected one of {', '.join(ZONE_KINDS)}",
        f"未知的分区方式 {kind!r}",
    )
