"""Register statistics for a jurisdiction: levels, sectors, zones, overdue assessments, enterprise levels."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import shapely
from sqlalchemy import Connection, text

from geo.access import Principal
from geo.store.repository import may_see_detail, require_area, subtree_codes

# Each query filters by :subtree, the adcodes of the jurisdiction's subtree read first
# (repository.subtree_codes) and bound as one constant array (repository.in_subtree says why); every value
# is a bound parameter.
_ENTERPRISE_LEVELS = text(
    """
SELECT e.id, e.name, e.credit_code, e.sector, e.business_type, e.jurisdiction_adcode,
    e.contact_person, e.contact_phone, ST_AsBinary(e.geom) AS wkb,
    count(*) FILTER (WHERE u.level = 1) AS l1, count(*) FILTER (WHERE u.level = 2) AS l2,
    count(*) FILTER (WHERE u.level = 3) AS l3, count(*) FILTER (WHERE u.level = 4) AS l4
FROM enterprises e
LEFT JOIN risk_units u ON u.enterprise_id = e.id
WHERE e.jurisdiction_adcode = ANY(CAST(:subtree AS text[]))
GROUP BY e.id
ORDER BY e.id
"""
)

_TOTALS = text(
    """
SELECT count(*) AS n, count(*) FILTER (WHERE u.kind = 'public_area') AS public,
    count(*) FILTER (WHERE u.level = 1) AS l1, count(*) FILTER (WHERE u.level = 2) AS l2,
    count(*) FILTER (WHERE u.level = 3) AS l3, count(*) FILTER (WHERE u.level = 4) AS l4
FROM risk_units u WHERE u.jurisdiction_adcode = ANY(CAST(:subtree AS text[]))
"""
)

_ENTERPRISE_COUNT = text(
    """
SELECT count(*) FROM enterprises WHERE jurisdiction_adcode = ANY(CAST(:subtree AS text[]))
"""
)

_BY_SECTOR = text(
    """
SELECT coalesce(e.sector, u.sector) AS sector, count(DISTINCT e.id) AS enterprises, count(*) AS units,
    count(*) FILTER (WHERE u.level = 1) AS l1, count(*) FILTER (WHERE u.level = 2) AS l2,
    count(*) FILTER (WHERE u.level = 3) AS l3, count(*) FILTER (WHERE u.level = 4) AS l4
FROM risk_units u LEFT JOIN enterprises e ON e.id = u.enterprise_id
WHERE u.jurisdiction_adcode = ANY(CAST(:subtree AS text[]))
GROUP BY 1 ORDER BY min(u.level), count(*) DESC, 1
"""
)

_BY_ZONE = text(
    """
WITH tree AS (
    SELECT c.adcode AS zone, d.descendant AS adcode FROM jurisdictions c
    JOIN jurisdiction_closure d ON d.ancestor = c.adcode
    WHERE c.parent_adcode = :adcode AND c.level NOT IN ('park', 'grid')
), u AS MATERIALIZED (  -- the subtree's units first, by the index (a join per zone probed it per code)
    SELECT id, enterprise_id, level, jurisdiction_adcode FROM risk_units
    WHERE jurisdiction_adcode = ANY(CAST(:subtree AS text[]))
)
SELECT z.adcode, z.name, count(u.id) AS units, count(DISTINCT u.enterprise_id) AS enterprises,
    min(u.level) AS level,
    count(*) FILTER (WHERE u.level = 1) AS l1, count(*) FILTER (WHERE u.level = 2) AS l2,
    count(*) FILTER (WHERE u.level = 3) AS l3, count(*) FILTER (WHERE u.level = 4) AS l4
FROM jurisdictions z
LEFT JOIN tree t ON t.zone = z.adcode
LEFT JOIN u ON u.jurisdiction_adcode = t.adcode
WHERE z.parent_adcode = :adcode AND z.level NOT IN ('park', 'grid')
GROUP BY z.adcode, z.name ORDER BY z.adcode
"""
)

_OVERDUE_COUNT = text(
    """
SELECT count(*) FROM risk_units u WHERE u.jurisdiction_adcode = ANY(CAST(:subtree AS text[])) AND u.next_assessment_due < :today
"""
)

_OVERDUE = text(
    """
SELECT u.id, u.name, u.level, u.enterprise_id, e.name AS enterprise_name, u.next_assessment_due,
    (:today - u.next_assessment_due) AS days_overdue
FROM risk_units u LEFT JOIN enterprises e ON e.id = u.enterprise_id
WHERE u.jurisdiction_adcode = ANY(CAST(:subtree AS text[])) AND u.next_assessment_due < :today
ORDER BY u.level, u.next_assessment_due, u.id
LIMIT :limit
"""
)


# The risk units with some levels replaced by the shown ones (dynamic levels: open hidden hazards raise
# them, geo.store.hazards.raised_units), in place of `risk_units u` in the queries above; ids and levels
# are bound arrays.
_SHOWN_UNITS = """(
    SELECT r.id, r.name, r.kind, r.sector, r.enterprise_id, r.jurisdiction_adcode, r.next_assessment_due,
        coalesce(s.level, r.level) AS level
    FROM risk_units r
    LEFT JOIN unnest(CAST(:shown_ids AS bigint[]), CAST(:shown_levels AS int[])) AS s(id, level) ON s.id = r.id
) u"""


def _shown(query: Any, shown_levels: Mapping[int, int] | None) -> Any:
    """`query` reading the units at their shown levels when some differ from the stored ones."""
    if not shown_levels:
        return query
    return text(query.text.replace("risk_units u", _SHOWN_UNITS))


def _levels(row: Any) -> dict[str, int]:
    return {"1": row.l1, "2": row.l2, "3": row.l3, "4": row.l4}


def enterprise_levels(conn: Connection, principal: Principal, adcode: str) -> gpd.GeoDataFrame:
    """Every enterprise in the jurisdiction with the count of its risk units at each level.

    The enterprise's level itself is decided by the caller's rule (api.usecases.four_colour.enterprises_with_levels).
    Names, credit codes and contacts: admins and regulators of the area only.
    """
    require_area(conn, principal, adcode, detail=True)
    rows = conn.execute(_ENTERPRISE_LEVELS, {"subtree": subtree_codes(conn, [adcode])}).all()
    frame = gpd.GeoDataFrame(
        {
            "id": [r.id for r in rows],
            "name": [r.name for r in rows],
            "credit_code": [r.credit_code for r in rows],
            "sector": [r.sector for r in rows],
            "business_type": [r.business_type for r in rows],
            "jurisdiction_adcode": [r.jurisdiction_adcode for r in rows],
            "contact_person": [r.contact_person for r in rows],
            "contact_phone": [r.contact_phone for r in rows],
            "counts": [_levels(r) for r in rows],
        },
        geometry=shapely.from_wkb([bytes(r.wkb) for r in rows]) if rows else [],
        crs="EPSG:4490",
    )
    return frame


def level_counts(conn: Connection, principal: Principal, adcode: str) -> dict[str, int]:
    """The jurisdiction's risk units by level, each once — the `counts` of `summary`, by the same statement,
    without the rest of the summary (it reads risk units and jurisdictions only)."""
    require_area(conn, principal, adcode, detail=False)
    return _levels(conn.execute(_TOTALS, {"subtree": subtree_codes(conn, [adcode])}).one())


def summary(
    conn: Connection,
    principal: Principal,
    adcode: str,
    *,
    today: dt.date | None = None,
    overdue_limit: int = 100,
    shown_levels: Mapping[int, int] | None = None,
) -> dict[str, Any]:
    """Counts per level, per sector and per child zone, and the overdue re-assessments (seed 000 (一)).
    The counts are public; the overdue units are listed (names) only to admins and the area's regulators.
    `shown_levels` (unit id → level) counts those units at another level than the stored one (the dynamic
    levels of api.usecases.dynamic_levels)."""
    j = require_area(conn, principal, adcode, detail=False)
    if not may_see_detail(conn, principal, adcode):
        overdue_limit = 0
    today = today or dt.date.today()
    ids = list(shown_levels or {})
    p = {
        "adcode": adcode,
        "subtree": subtree_codes(conn, [adcode]),
        "today": today,
        "limit": overdue_limit,
        "shown_ids": ids,
        "shown_levels": [int((shown_levels or {})[i]) for i in ids],
    }

    total = conn.execute(
        _shown(_TOTALS, shown_levels),
        p,
    ).one()
    enterprises = conn.execute(
        _ENTERPRISE_COUNT,
        p,
    ).scalar_one()
    by_sector = conn.execute(
        _shown(_BY_SECTOR, shown_levels),
        p,
    ).all()
    by_zone = conn.execute(
        _shown(_BY_ZONE, shown_levels),
        p,
    ).all()
    overdue_count = conn.execute(
        _shown(_OVERDUE_COUNT, shown_levels),
        p,
    ).scalar_one()
    overdue = conn.execute(
        _shown(_OVERDUE, shown_levels),
        p,
    ).all()
    return {
        "adcode": adcode,
        "name": j["name"],
        "date": today.isoformat(),
        "enterprises": enterprises,
        "risk_units": total.n,
        "public_area_risks": total.public,
        "counts": _levels(total),
        "by_sector": [
            {"sector": r.sector, "enterprises": r.enterprises, "risk_units": r.units, "counts": _levels(r)}
            for r in by_sector
        ],
        "by_zone": [
            {
                "adcode": r.adcode,
                "name": r.name,
                "level": r.level,
                "risk_units": r.units,
                "enterprises": r.enterprises,
                "counts": _levels(r),
            }
            for r in by_zone
        ],
        "overdue": {
            "count": overdue_count,
            "items": [
                {
                    "id": r.id,
                    "name": r.name,
                    "level": r.level,
                    "enterprise_id": r.enterprise_id,
                    "enterprise_name": r.enterprise_name,
                    "due": r.next_assessment_due.isoformat(),
                    "days_overdue": r.days_overdue,
                }
                for r in overdue
            ],
        },
    }


_MAP_UNITS = text(
    """
SELECT u.id, u.name, u.level, u.kind, u.enterprise_id, coalesce(u.sector, e.sector) AS sector,
    u.accident_types, u.control_measures, u.control_level, u.responsible_person, u.responsible_phone,
    e.name AS enterprise_name, ST_AsBinary(u.geom) AS wkb
FROM risk_units u LEFT JOIN enterprises e ON e.id = u.enterprise_id
WHERE u.jurisdiction_adcode = ANY(CAST(:subtree AS text[]))
  AND u.level <= :max_level
  AND (GeometryType(u.geom) NOT IN ('POINT', 'MULTIPOINT') OR u.kind = 'public_area')
ORDER BY u.level, u.id
"""
)

_BOUNDARIES = text(
    """
SELECT adcode, name, level, ST_AsBinary(geom) AS wkb FROM jurisdictions
WHERE adcode = :adcode OR (parent_adcode = :adcode AND level NOT IN ('park', 'grid'))
ORDER BY adcode
"""
)


def map_risk_units(
    conn: Connection, principal: Principal, adcode: str, *, max_level: int = 4
) -> gpd.GeoDataFrame:
    """Risk areas and pipelines (and public-area points) to draw on a map: enterprise risk points are
    shown through their enterprise's marker."""
    require_area(conn, principal, adcode, detail=True)
    rows = conn.execute(_MAP_UNITS, {"subtree": subtree_codes(conn, [adcode]), "max_level": max_level}).all()
    columns = [
        "id", "name", "level", "kind", "enterprise_id", "sector", "accident_types", "control_measures",
        "control_level", "responsible_person", "responsible_phone", "enterprise_name",
    ]  # fmt: skip
    return gpd.GeoDataFrame(
        {c: [getattr(r, c) for r in rows] for c in columns},
        geometry=shapely.from_wkb([bytes(r.wkb) for r in rows]) if rows else [],
        crs="EPSG:4490",
    )


def map_boundaries(conn: Connection, adcode: str) -> gpd.GeoDataFrame:
    """The jurisdiction's boundary and its children's."""
    rows = conn.execute(_BOUNDARIES, {"adcode": adcode}).all()
    return gpd.GeoDataFrame(
        {
            "adcode": [r.adcode for r in rows],
            "name": [r.name for r in rows],
            "level": [r.level for r in rows],
        },
        geometry=shapely.from_wkb([bytes(r.wkb) for r in rows]) if rows else [],
        crs="EPSG:4490",
    )
