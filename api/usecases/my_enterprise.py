"""An enterprise user's own workspace (我的企业): its self-inspection calendar and the neighbour notices of
its level-1/2 risk units. Scoped to the caller's own enterprise: the jurisdiction-wide analyses
(`inspection_plan`, `/analysis/neighbour-notices`) stay closed to enterprise users, as the access matrix
says; these give an enterprise only what concerns itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection

from api.settings import Settings
from api.usecases.joint_prevention import level_rule
from geo.access import Principal, Role
from geo.joint_prevention import Period, PlanEnterprise, SelfInspection, self_inspections
from geo.store import joint_prevention as store
from geo.store import repository as repo


@dataclass(frozen=True)
class Calendar:
    enterprise: dict[str, Any]
    period: Period
    inspection: SelfInspection
    dates: list[Any]


def _own(principal: Principal) -> int:
    if principal.role is not Role.enterprise or principal.enterprise_id is None:
        raise repo.deny(principal, "open an enterprise's own workspace")
    return principal.enterprise_id


def self_inspection_calendar(
    conn: Connection, principal: Principal, period: Period, settings: Settings
) -> Calendar:
    """The enterprise's level (by the configured rule over its units, as the 双随机 plan computes it) and its
    self-inspection frequency and dates in the period (seed 003 二(五)): the same rule as the plan's
    self-inspection sheet, for this enterprise only."""
    own = _own(principal)
    enterprise = repo.get_feature(conn, principal, repo.ENTERPRISES, own)
    units = repo.list_features(
        conn, principal, repo.RISK_UNITS, filters={"enterprise_id": own}, limit=100_000
    ).rows
    counts = np.zeros((1, 4), dtype=np.int64)
    for u in units:
        if u.get("level") in (1, 2, 3, 4):
            counts[0, int(u["level"]) - 1] += 1
    level = level_rule(settings)(counts)[0]
    inspection = self_inspections([PlanEnterprise(own, level, frozenset())], period)[0]
    return Calendar(enterprise, period, inspection, inspection.dates(period))


def neighbour_notices(conn: Connection, principal: Principal, distance_m: float = 500.0) -> store.Notices:
    """For each of the enterprise's own level-1/2 risk units, the neighbours (other enterprises, protection
    targets) within distance_m metres that its notice goes to."""
    _own(principal)
    return store.own_unit_notices(conn, principal, distance_m=distance_m)
