"""Assessed or dynamic levels (issue #14 item 3) for the analyses that count levels: the enterprise levels,
the summary and the trend. Under `dynamic`, a risk unit with open hidden hazards counts at the level they
raise it to (data/dynamic_risk_rules.csv, geo.hazards.dynamic_level), and every raised unit — and every
enterprise holding one — says which hazards raised it (id, grade, rule). Which units are raised, and to
what, is found in one place, geo.store.hazards.raised_units, the same function the dynamic four-colour map
reads (through raised_levels)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
from sqlalchemy import Connection

from geo.access import Principal
from geo.errors import InvalidInput
from geo.store import summary as summary_store
from geo.store.hazards import RaisedUnit, raised_units
from geo.store.repository import may_see_detail

LEVELS = ("assessed", "dynamic")
LEVELS_DESCRIPTION = (
    "assessed: the register's levels; dynamic: a unit with open hidden hazards counts at the level they raise "
    "it to (data/dynamic_risk_rules.csv: an open 重大隐患 → 1, three open 一般隐患 → one up), and each raised "
    "unit says which hazards raised it"
)


def check_levels(levels: str) -> None:
    if levels not in LEVELS:
        raise InvalidInput.one(
            "levels", "assessed or dynamic", "应为 assessed（评估等级）或 dynamic（动态等级）"
        )


def shift(counts: dict[str, int], units: Iterable[RaisedUnit]) -> dict[str, int]:
    """Counts by level with each raised unit moved from its assessed level to its shown one."""
    out = dict(counts)
    for u in units:
        out[str(u.dynamic.assessed)] -= 1
        out[str(u.dynamic.level)] += 1
    return out


def raise_enterprises(conn: Connection, frame: gpd.GeoDataFrame, adcode: str) -> None:
    """The enterprise levels' frame (geo.store.summary.enterprise_levels) with its counts at the dynamic
    levels and, per enterprise, the raised units with the hazards that raised them (`raised`), in place:
    the enterprise's level is then decided from these counts by the same rule."""
    by_enterprise: dict[int, list[RaisedUnit]] = defaultdict(list)
    for u in raised_units(conn, adcode=adcode).values():
        if u.enterprise_id is not None:
            by_enterprise[int(u.enterprise_id)].append(u)
    ids = [int(i) for i in frame["id"]]
    frame["counts"] = [shift(c, by_enterprise.get(i, [])) for c, i in zip(frame["counts"], ids, strict=True)]
    frame["raised"] = [[u.as_json() for u in by_enterprise.get(i, [])] for i in ids]


def summary(
    conn: Connection, principal: Principal, adcode: str, *, levels: str = "assessed", overdue_limit: int = 100
) -> dict[str, Any]:
    """The register summary (geo.store.summary.summary) at assessed or dynamic levels. Under dynamic the
    counts (totals, by sector, by zone) count each raised unit at its shown level; how many were raised is
    public, which units and hazards only for admins and the area's regulators (`raised`)."""
    check_levels(levels)
    if levels == "assessed":
        return {
            **summary_store.summary(conn, principal, adcode, overdue_limit=overdue_limit),
            "levels": levels,
        }
    raised = raised_units(conn, adcode=adcode)
    body = summary_store.summary(
        conn,
        principal,
        adcode,
        overdue_limit=overdue_limit,
        shown_levels={u: r.dynamic.level for u, r in raised.items()},
    )
    body["levels"] = levels
    body["raised_units"] = len(raised)
    if may_see_detail(conn, principal, adcode):
        body["raised"] = [r.as_json() for _, r in sorted(raised.items())]
    return body
