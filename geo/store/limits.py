"""What a map or analysis of a jurisdiction will cost, estimated before any work starts: how many zones
and how many risk units in the area (a planner estimate, not a count: it costs a millisecond)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Connection, text

_AREA = """
SELECT ST_Area(geom::geography, false), ST_Perimeter(geom::geography, false),
    ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom)
FROM jurisdictions WHERE adcode = :adcode
"""
_CHILDREN = """
SELECT count(*) FROM jurisdictions
WHERE parent_adcode = :adcode AND level IN ('province', 'city', 'county', 'township', 'village')
"""
_ZONE_SET = """
WITH subtree AS (
    SELECT descendant AS adcode FROM jurisdiction_closure WHERE ancestor = :adcode
)
SELECT count(*) FROM jurisdictions WHERE level = :level AND parent_adcode IN (SELECT adcode FROM subtree)
"""
# The planner's estimate of the units whose box meets the area's box (from the GiST statistics of
# risk_units; the envelope's numbers are bound parameters, which psycopg2 sends as literals).
_UNITS = """
EXPLAIN (FORMAT JSON)
SELECT 1 FROM risk_units WHERE geom && ST_MakeEnvelope(:xmin, :ymin, :xmax, :ymax, 4490)
"""


@dataclass(frozen=True)
class Estimate:
    """Zones the request would make, risk units in the area (both estimates), the area's size in metres."""

    zones: int
    units: int
    area_m2: float
    perimeter_m: float

    @property
    def work(self) -> float:
        return float(self.zones) * max(self.units, 1)

    def grid_zones(self, cell_m: float) -> int:
        """Square cells: those wholly inside, plus those the boundary crosses."""
        return math.ceil(self.area_m2 / cell_m**2 + self.perimeter_m / cell_m)

    def h3_zones(self, h3_res: int) -> int:
        import h3

        cell = h3.average_hexagon_area(h3_res, unit="m^2")
        return math.ceil(self.area_m2 / cell + self.perimeter_m / math.sqrt(cell))


def estimate(
    conn: Connection, adcode: str, kind: str, *, cell_m: float = 1000, h3_res: int = 8
) -> Estimate | None:
    """The cost of the four-colour zones of `kind` over `adcode`; None when the adcode is unknown."""
    row = conn.execute(text(_AREA), {"adcode": adcode}).first()
    if row is None or row[0] is None:
        return None
    area, perimeter, xmin, ymin, xmax, ymax = (float(v) for v in row)
    size = Estimate(0, 0, area, perimeter)
    if kind == "grid":
        zones = size.grid_zones(cell_m)
    elif kind == "h3":
        zones = size.h3_zones(h3_res)
    elif kind == "children":
        zones = conn.execute(text(_CHILDREN), {"adcode": adcode}).scalar() or 0
    elif kind in ("parks", "grids"):
        level = "park" if kind == "parks" else "grid"
        zones = conn.execute(text(_ZONE_SET), {"adcode": adcode, "level": level}).scalar() or 0
    else:
        zones = 0  # unknown kinds are refused by the zone source
    plan = conn.execute(text(_UNITS), {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}).scalar()
    units = int(plan[0]["Plan"]["Plan Rows"]) if plan else 0
    return Estimate(int(zones), units, area, perimeter)
