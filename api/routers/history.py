"""The register's history (`…/{id}/history`) and the monthly level trend rebuilt from it
(use cases: api/usecases/history.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from api.auth import PrincipalDep
from api.deps import EngineDep
from api.schemas import History, Trend
from api.usecases import history as usecase
from api.usecases.dynamic_levels import LEVELS_DESCRIPTION

router = APIRouter(prefix="/api/v1", tags=["history"])

Key = Annotated[int, Path(ge=1, le=2**63 - 1, description="the row's id")]
HISTORY_DESCRIPTION = """Every create, update and delete of the row, oldest first: `action`, `actor` (who),
`at` (when), `old_values` and `new_values` (a create has the whole new row, a delete the whole old one,
an update only the columns that changed). The create of a row made since migration 0009 is rebuilt from
the row's own `created_by` and `created_at` and has no `id`. Admin reads any row's history, deleted rows too; a regulator
those of rows filed inside its jurisdictions; an enterprise its own enterprise and risk units. Anyone
else gets 404, as for a row that does not exist."""


def _history(engine: Any, principal: Any, entity: usecase.Entity, entity_id: int) -> JSONResponse:
    with engine.connect() as conn:
        found = usecase.entity_history(conn, principal, entity, entity_id)
    body = {"entity": found.entity, "id": found.id, "records": found.records}
    return JSONResponse(jsonable_encoder(body))


@router.get(
    "/enterprises/{key}/history",
    summary="Who changed an enterprise, when, and what",
    description=HISTORY_DESCRIPTION,
    response_model=History,
)
def enterprise_history(key: Key, engine: EngineDep, principal: PrincipalDep) -> JSONResponse:
    return _history(engine, principal, "enterprises", key)


@router.get(
    "/risk-units/{key}/history",
    summary="Who changed a risk unit, when, and what",
    description=HISTORY_DESCRIPTION,
    response_model=History,
)
def risk_unit_history(key: Key, engine: EngineDep, principal: PrincipalDep) -> JSONResponse:
    return _history(engine, principal, "risk_units", key)


@router.get(
    "/protection-targets/{key}/history",
    summary="Who changed a protection target, when, and what",
    description=HISTORY_DESCRIPTION,
    response_model=History,
)
def protection_target_history(key: Key, engine: EngineDep, principal: PrincipalDep) -> JSONResponse:
    return _history(engine, principal, "protection_targets", key)


@router.get(
    "/inspections/{key}/history",
    tags=["hidden hazards (隐患排查治理)"],
    summary="Who filled in or changed an inspection, when, and what",
    description=HISTORY_DESCRIPTION,
    response_model=History,
)
def inspection_history(key: Key, engine: EngineDep, principal: PrincipalDep) -> JSONResponse:
    return _history(engine, principal, "inspections", key)


@router.get(
    "/analysis/trend",
    tags=["analysis"],
    summary="Risk units per level at the end of each month",
    response_model=Trend,
)
def trend(
    engine: EngineDep,
    adcode: Annotated[
        str, Query(max_length=12, description="行政区划代码: the unit and everything below it")
    ],
    first: Annotated[str, Query(alias="from", max_length=7, description="first month, YYYY-MM")],
    last: Annotated[str, Query(alias="to", max_length=7, description="last month, YYYY-MM")],
    principal: PrincipalDep,
    levels: Annotated[str, Query(description=LEVELS_DESCRIPTION)] = "assessed",
) -> JSONResponse:
    """Counts of risk units of each level (1 重大 … 4 低) as they stood at the end of each month (Beijing
    time), rebuilt from the history: units created, deleted, moved or closed out (销号) during a month
    count as they were at its end. A unit counts from its assessment date (`assessed_on`) when that is
    earlier than when it was entered, and a level set with an earlier assessment date counts from it. Aggregated counts only, so anyone may read it.

    `levels=dynamic`: each month's counts at the levels shown while hidden hazards were open at its end
    (rebuilt from the hazards' steps and applied by data/dynamic_risk_rules.csv), with `assessed_counts`
    beside them and `raised_units`; `raised` (which units, raised by which hazards: id, grade, rule) for
    admins and the area's regulators only."""
    start, end = usecase.parse_month(first, "from"), usecase.parse_month(last, "to")
    with engine.connect() as conn:
        trend = usecase.level_trend(conn, adcode, start, end, levels=levels, principal=principal)
    return JSONResponse({"adcode": trend.adcode, "name": trend.name, "months": trend.months})
