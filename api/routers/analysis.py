"""Analyses of a jurisdiction's register: the four-colour map, enterprise levels, statistics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Connection

from api import limits, response_cache
from api.auth import PrincipalDep
from api.deps import EngineDep, SettingsDep, four_colour_params
from api.features import GEOJSON
from api.limits import admit_four_colour as admit
from api.limits import four_colour_frame as within_limits
from api.schemas import GEOJSON_ENTERPRISE_LEVELS, GEOJSON_FOUR_COLOUR, Summary
from api.usecases import dynamic_levels
from api.usecases.four_colour import (
    UNIT_COUNTS_DESCRIPTION,
    FourColourParams,
    add_deciding_units,
    compute,
    enterprises_with_levels,
    resolve_zones,
    unit_counts,
    zone_features,
)
from geo.four_colour import RULES
from geo.geometry import to_geojson
from geo.store.repository import get_jurisdiction_row, may_see_detail
from geo.vocab import LEVEL_NAMES_ZH

router = APIRouter(prefix="/api/v1/analysis", tags=["analysis"])
ParamsDep = Annotated[FourColourParams, Depends(four_colour_params)]


@router.get(
    "/four-color",
    summary="The regional 红橙黄蓝 four-colour map: one feature per zone",
    responses=limits.RESPONSES,
    **GEOJSON_FOUR_COLOUR,
)
def four_colour(
    request: Request, params: ParamsDep, engine: EngineDep, settings: SettingsDep, principal: PrincipalDep
) -> Response:
    """Each zone's `level` (1–4, null with no risk), `color`, `counts` and `area_share` by level,
    computed in PostGIS. The default rule is 就高 (a zone takes the highest level among the risk units
    that intersect it); `rule=weighted` is the documented alternative. Public: the zones' ids of
    enterprises are given only to admins and the jurisdiction's regulators. A request over the role's
    caps is 422 naming what to ask instead; one over its time limit 503 (docs/security.md, Limits)."""

    def make(conn: Connection) -> bytes:
        resolved = resolve_zones(conn, params)
        admit(conn, principal, resolved, settings)
        j = get_jurisdiction_row(conn, resolved.adcode)
        zones = compute(conn, principal, resolved, settings)
        public = not may_see_detail(conn, principal, resolved.adcode)
        add_deciding_units(conn, principal, zones, resolved, public=public)
        features = zone_features(zones, public=public)
        counted = unit_counts(conn, principal, resolved.adcode)
        return bytes(_four_colour_response(resolved, j, features, counted).body)

    public_caller = principal.is_public
    tables = response_cache.FOUR_COLOUR_TABLES if public_caller else response_cache.FOUR_COLOUR_DETAIL_TABLES
    return response_cache.respond(
        request, engine, settings, principal, ("four-colour", params), make,
        tables=tables, media_type=GEOJSON,
        frame=lambda: within_limits(request, settings, principal),
    )  # fmt: skip


def _four_colour_response(
    params: FourColourParams, j: Any, features: list[dict[str, Any]], counted: dict[int, int]
) -> Response:
    totals = {str(lv): sum(1 for f in features if f["properties"]["level"] == lv) for lv in (1, 2, 3, 4)}
    body = {
        "type": "FeatureCollection",
        "adcode": params.adcode,
        "name": j["name"],
        "zones": params.zones,
        "zones_used": params.zones_used(),
        "rule": params.rule,
        "rule_description": RULES[params.rule],
        "levels": params.levels,
        "zone_counts": totals | {"none": sum(1 for f in features if f["properties"]["level"] is None)},
        "unit_counts": {str(k): v for k, v in counted.items()},
        "unit_counts_description": UNIT_COUNTS_DESCRIPTION,
        "numberReturned": len(features),
        "features": features,
    }
    return limits.json_pieces(body, media_type=GEOJSON)  # encoded now: within the time limit


@router.get(
    "/enterprise-levels",
    summary="Enterprises with their level (就高 by default) and unit counts",
    **GEOJSON_ENTERPRISE_LEVELS,
)
def enterprise_levels(
    adcode: Annotated[str, Query(description="行政区划代码", examples=["350505"])],
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    levels: Annotated[str, Query(description=dynamic_levels.LEVELS_DESCRIPTION)] = "assessed",
) -> JSONResponse:
    """Under `levels=dynamic` each enterprise's units count at their dynamic levels and `raised` lists its
    raised units with the hazards that raised them (id, grade, rule)."""
    dynamic_levels.check_levels(levels)
    with engine.connect() as conn:
        frame = enterprises_with_levels(conn, principal, adcode, settings, dynamic=levels == "dynamic")
    features: list[dict[str, Any]] = []
    for row in frame.to_dict("records"):
        level = None if row["level"] is None or row["level"] != row["level"] else int(row["level"])
        features.append(
            {
                "type": "Feature",
                "id": int(row["id"]),
                "geometry": to_geojson(row["geometry"]),
                "properties": jsonable_encoder(
                    {
                        "id": int(row["id"]),
                        "name": row["name"],
                        "credit_code": row["credit_code"],
                        "sector": row["sector"],
                        "jurisdiction_adcode": row["jurisdiction_adcode"],
                        "level": level,
                        "level_name": LEVEL_NAMES_ZH.get(level) if level else None,
                        "color": row["color"] if level else None,
                        "counts": row["counts"],
                        "risk_unit_count": int(row["risk_unit_count"]),
                        "level_rule": row["level_rule"],
                        **({"raised": row["raised"]} if levels == "dynamic" else {}),
                    }
                ),
            }
        )
    counts = {str(lv): sum(1 for f in features if f["properties"]["level"] == lv) for lv in (1, 2, 3, 4)}
    body = {
        "type": "FeatureCollection",
        "adcode": adcode,
        "level_rule": settings.analysis.enterprise_level_rule,
        "levels": levels,
        "counts": counts | {"none": sum(1 for f in features if f["properties"]["level"] is None)},
        "numberReturned": len(features),
        "features": features,
    }
    return JSONResponse(body, media_type=GEOJSON)


@router.get(
    "/summary",
    summary="Counts per level, per sector and per zone; overdue re-assessments",
    response_model=None,
    responses={200: {"model": Summary}},
)
def summary(
    adcode: Annotated[str, Query(description="行政区划代码", examples=["350500"])],
    engine: EngineDep,
    principal: PrincipalDep,
    overdue_limit: Annotated[int, Query(ge=0, le=10_000, description="how many overdue units to list")] = 100,
    levels: Annotated[str, Query(description=dynamic_levels.LEVELS_DESCRIPTION)] = "assessed",
) -> dict[str, Any]:
    """Counts are public; overdue units are listed by name only for admins and the area's regulators.
    Under `levels=dynamic` the counts take the dynamic levels; `raised_units` says how many units were
    raised and `raised` (admins and the area's regulators) which, by which hazards (id, grade, rule)."""
    with engine.connect() as conn:
        return dynamic_levels.summary(conn, principal, adcode, levels=levels, overdue_limit=overdue_limit)
