"""The register's history: who changed a row, when and what; and the monthly level trend rebuilt from it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection

from api.usecases.dynamic_levels import check_levels
from geo.access import Principal
from geo.store import history as store
from geo.store.history import parse_month
from geo.store.repository import get_jurisdiction_row, may_see_detail

Entity = Literal["enterprises", "risk_units", "protection_targets", "inspections"]

__all__ = ["Entity", "History", "Trend", "entity_history", "level_trend", "parse_month"]


@dataclass(frozen=True)
class History:
    entity: str
    id: int
    records: list[dict[str, Any]]  # oldest first: action, actor, at, old_values, new_values


def entity_history(conn: Connection, principal: Principal, entity: Entity, entity_id: int) -> History:
    """Every create, update and delete of one row, oldest first; NotFound when the principal may not read
    it (it is not told whether the row exists)."""
    return History(entity, entity_id, store.entity_history(conn, principal, entity, entity_id))


@dataclass(frozen=True)
class Trend:
    adcode: str
    name: str
    months: list[dict[str, Any]]  # each month's end: counts by level


def level_trend(
    conn: Connection,
    adcode: str,
    start: dt.date,
    end: dt.date,
    *,
    levels: str = "assessed",
    principal: Principal | None = None,
) -> Trend:
    """Risk units of each level as they stood at the end of each month from `start` to `end` (the first
    days of the months; `parse_month` reads 'YYYY-MM'). Aggregates only: anyone may read it. Under
    `levels="dynamic"` the counts are the dynamic levels of each month's end (open hidden hazards applied
    by data/dynamic_risk_rules.csv, geo.store.history.level_trend); which units and hazards raised them
    (`raised`) only for admins and the area's regulators."""
    check_levels(levels)
    j = get_jurisdiction_row(conn, adcode)
    months = store.level_trend(conn, adcode, start, end, dynamic=levels == "dynamic")
    if levels == "dynamic" and (principal is None or not may_see_detail(conn, principal, adcode)):
        for m in months:
            m.pop("raised", None)
    return Trend(adcode, j["name"], months)
