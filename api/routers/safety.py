"""Safety distances (安全防护距离): existing violations of a jurisdiction, the siting check for planners
(一票否决), exposure bands around a risk unit, risk contours, and their maps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection

from api.auth import PrincipalDep
from api.deps import CrsDep, EngineDep, SettingsDep
from api.features import GEOJSON
from api.schemas import GEOJSON_COLLECTION, Exposure
from api.usecases import safety as usecase
from geo import safety_distance as sd
from geo.access import Principal
from geo.coords import InputCrs, parse_crs
from geo.errors import InvalidInput, Problem
from geo.geometry import POINT_OR_POLYGON, POLYGONAL, parse_geometry, to_geojson
from geo.store import safety_distance as store
from geo.vocab import GB_CLASS_NAMES_ZH, GBClass

api = APIRouter(prefix="/api/v1", tags=["safety distances"])
maps = APIRouter(prefix="/maps", tags=["maps"])


def _rounded(value: Any, digits: int = 1) -> float | None:
    if value is None or pd.isna(value):
        return None
    return round(float(value), digits)


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _rule(rule_id: Any) -> dict[str, Any] | None:
    rule = next((r for r in sd.distance_rules() if r.rule_id == rule_id), None)
    return rule.as_dict() if rule else None


def _zone(level: Any) -> dict[str, Any] | None:
    zone = sd.consultation_zone(level)
    return zone.as_dict() if zone else None


def _class(value: Any) -> dict[str, str]:
    c = GBClass(str(value))
    return {"gb_class": str(c), "gb_class_zh": GB_CLASS_NAMES_ZH[c], "gb_class_en": sd.GB_CLASS_NAMES_EN[c]}


# --- existing violations ------------------------------------------------------------------------------------


def _violation_feature(row: Mapping[Any, Any], crs: InputCrs) -> dict[str, Any]:
    kind = sd.hazard_kinds().get(str(row["hazard_kind"]))
    crit = row.get("criterion_per_year")
    props = {
        "hazard": {
            "risk_unit_id": int(row["hazard_id"]),
            "name": row["hazard_name"],
            "hazard_kind": _text(row["hazard_kind"]),  # None: a level-1/2 unit of no kind (screened by level)
            "hazard_kind_zh": kind.name_zh if kind else None,
            "capacity_m3": _rounded(row["capacity_m3"]),
            "enterprise_id": _int(row["enterprise_id"]),
            "level": _int(row["hazard_level"]),
            "jurisdiction_adcode": row["hazard_adcode"],
        },
        "target": {
            "protection_target_id": int(row["target_id"]),
            "name": row["target_name"],
            "type": row["target_type"],
            **_class(row["gb_class"]),
            "population": _int(row["population"]),
            "households": _int(row["households"]),
            "jurisdiction_adcode": row["target_adcode"],
        },
        "basis": list(row["basis"]),
        "distance_m": _rounded(row["distance_m"]),
        "required_m": _rounded(row["required_m"]),
        "shortfall_m": _rounded(row["shortfall_m"]),
        "rule": _rule(row["rule_id"]),
        "consultation": _zone(row["hazard_level"]) if "consultation_inner" in row["basis"] else None,
        "inner_m": _rounded(row["inner_m"]),
        "contour_risk_per_year": None if pd.isna(row["contour_risk"]) else float(row["contour_risk"]),
        "criterion_per_year": None if crit is None or pd.isna(crit) else float(crit),
        "people_exposed": int(row["people"]),
        "population_estimated": bool(row["population_estimated"]),
        "population_rule": _text(row["population_rule"]),  # None: the register's own figure
        "situation": row["situation"],
        "side": _text(row.get("side")),
        "metric_crs": f"EPSG:{int(row['epsg'])}",
        "explanation_zh": row["explanation_zh"],
        "explanation_en": row["explanation_en"],
    }
    line = row.get("line")
    return {
        "type": "Feature",
        "id": f"{int(row['hazard_id'])}-{int(row['target_id'])}",
        "geometry": to_geojson(line, crs=crs) if isinstance(line, BaseGeometry) else None,
        "properties": props,
    }


def _summary(found: pd.DataFrame) -> dict[str, Any]:
    targets = found.drop_duplicates("target_id")
    return {
        "violations": len(found),
        "hazards": int(found["hazard_id"].nunique()),
        "targets": len(targets),
        "people_exposed": int(targets["people"].sum()) if len(targets) else 0,
        "people_estimated_in": int(targets["population_estimated"].sum()) if len(targets) else 0,
        "by_gb_class": {str(c): int((targets["gb_class"] == str(c)).sum()) for c in GBClass},
        "by_hazard_kind": {str(k): int(n) for k, n in found["hazard_kind"].value_counts().items()},
        "by_basis": {
            b: int(sum(b in x for x in found["basis"]))
            for b in ("distance", "consultation_inner", "risk_contour")
        },
        "by_situation": {str(k): int(n) for k, n in found["situation"].value_counts().items()},
    }


@api.get(
    "/analysis/safety-distance",
    summary="Existing safety-distance violations (安全防护距离) of a jurisdiction, both directions",
    **GEOJSON_COLLECTION,
)
def safety_distance(
    adcode: Annotated[str, Query(description="行政区划代码 (or a park's code)", examples=["350505"])],
    engine: EngineDep,
    principal: PrincipalDep,
    crs: CrsDep,
) -> JSONResponse:
    """Every (hazard, protection target) pair where either is filed in the jurisdiction and the target is
    closer than the required distance (edge to edge, metres, in the hazard's CGCS2000 Gauss–Krüger zone) or
    inside a risk contour its GB 36894 class may not be in, or a highly sensitive target inside the inner
    consultation zone of a level-1 unit (data/consultation_distances.csv; every level-1/2 unit is screened,
    whatever its kind). Each feature is the shortest line between the two,
    with the rule and its source, the people exposed and explanations in Chinese and English. `unchecked`
    lists hazards whose distances cannot be checked (no tabulated distance, no storage volume)."""
    with engine.connect() as conn:
        report = store.violations_sql(conn, principal, adcode)
    found = report.violations
    advice = report.pairs[report.pairs["status"] == "advise"]
    body = {
        "type": "FeatureCollection",
        "adcode": adcode,
        "name": report.name,
        "summary": {
            **_summary(found),
            "hazards_checked": report.hazards_checked,
            "unchecked": len(report.unchecked),
            # Pairs inside a level-1/2 unit's consultation zone with no tabulated distance broken: each
            # needs a quantitative risk assessment (GB 36894) — not violations, never ok.
            "needs_assessment": int((advice["basis"] == "consultation").sum()),
            "within_advice_band": int((advice["basis"] == "distance").sum()),
        },
        "rules": {
            "distances": "data/safety_distance_rules.csv",
            "individual_risk": "data/individual_risk_criteria.csv",
            "consultation_zones": "data/consultation_distances.csv",
            "population": "data/population_rules.csv",
            "installation": "existing (在役): GB 36894 criteria for existing installations",
        },
        "unchecked": report.unchecked,
        "numberReturned": len(found),
        "features": [_violation_feature(r, crs) for r in found.to_dict("records")],
    }
    return JSONResponse(jsonable_encoder(body), media_type=GEOJSON)


# --- siting check ---------------------------------------------------------------------------------------------


# The hazard kinds as an enum in the OpenAPI schema, so a client can find them (names are accepted too).
HazardKindText = Annotated[str, Field(max_length=80, json_schema_extra={"enum": list(sd.hazard_kinds())})]


class SitingRequest(BaseModel):
    """A proposed plant (hazard_kind, capacity_m3) or a proposed school, housing estate… (target_type with
    population or households), at a GeoJSON geometry."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    geometry: dict[str, Any] = Field(description="GeoJSON Point, Polygon or MultiPolygon, in `crs`")
    crs: str = Field("cgcs2000", description="cgcs2000 (EPSG:4490), wgs84, gcj02 or bd09")
    name: Annotated[str, Field(max_length=200)] | None = None
    hazard_kind: HazardKindText | None = Field(
        None,
        description="a proposed plant: one of the hazard kinds (GET /api/v1/vocabularies, `hazard_kinds`); "
        "its Chinese or English name is accepted too",
    )
    capacity_m3: float | None = Field(None, description="total storage volume, m³ (LPG supply bases need it)")
    level: Annotated[int, Field(ge=1, le=4)] | None = Field(
        None,
        description="a proposed plant's expected risk level: 1 or 2 screens every target in its consultation "
        "zone (data/consultation_distances.csv)",
    )
    target_type: Annotated[str, Field(max_length=80)] | None = Field(
        None, description="a proposed protection target: a code or name from data/target_types.csv"
    )
    population: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    households: Annotated[int, Field(ge=0, le=5_000_000)] | None = None
    gb_class: GBClass | None = Field(
        None, description="GB 36894 class; else from the type, people or households"
    )
    advise_factor: Annotated[float, Field(ge=1, le=5)] = Field(
        sd.ADVISE_FACTOR, description="advice within this many times a required distance"
    )


def _parse_siting(body: SitingRequest) -> tuple[BaseGeometry, sd.Proposal, InputCrs]:
    """Geometry and proposal, with every problem of the request reported at once (422)."""
    problems: list[Problem] = []
    crs: InputCrs = InputCrs.cgcs2000
    geom: BaseGeometry | None = None
    proposal: sd.Proposal | None = None
    try:
        crs = parse_crs(body.crs, "crs")
    except InvalidInput as exc:
        problems.extend(exc.problems)
    if not problems:
        try:
            geom = parse_geometry(body.geometry, field="geometry", allowed=POINT_OR_POLYGON, crs=crs)
        except InvalidInput as exc:
            problems.extend(exc.problems)
    if body.level is not None and body.target_type is not None:
        problems.append(
            Problem("level", "a level is given for a proposed plant only", "风险等级仅适用于拟建危险源")
        )
    if (body.hazard_kind is None) == (body.target_type is None):
        problems.append(
            Problem(
                "hazard_kind",
                "give either hazard_kind (a proposed plant) or target_type (a proposed school, housing estate…)"
                + (", not both" if body.hazard_kind is not None else ""),
                "须且只能填写 hazard_kind（拟建危险源）或 target_type（拟建防护目标）之一",
            )
        )
    else:
        try:
            if body.hazard_kind is not None:
                proposal = sd.hazard_proposal(
                    body.hazard_kind, body.capacity_m3, name=body.name, level=body.level
                )
            else:
                assert body.target_type is not None
                area = None
                if geom is not None and geom.geom_type in POLYGONAL:
                    area = float(sd.target_area_m2(np.array([geom], dtype=object))[0])
                proposal = sd.target_proposal(
                    body.target_type,
                    population=body.population,
                    households=body.households,
                    gb_class=str(body.gb_class) if body.gb_class is not None else None,
                    area_m2=area,
                    name=body.name,
                )
        except InvalidInput as exc:
            problems.extend(exc.problems)
    if problems:
        raise InvalidInput(problems)
    assert geom is not None
    assert proposal is not None
    return geom, proposal, crs


def _conflict_feature(c: sd.Conflict, crs: InputCrs) -> dict[str, Any]:
    props = {
        "existing": c.existing,
        "status": c.status,
        "basis": c.basis,
        "distance_m": _rounded(c.distance_m),
        "required_m": _rounded(c.required_m),
        "advise_m": _rounded(c.advise_m),
        "move_m": _rounded(c.move_m),
        "clear_advise_m": _rounded(c.clear_advise_m),
        "rule": c.rule,
        "contour_risk_per_year": c.contour_risk,
        "criterion_per_year": c.criterion_per_year,
        "people": c.people,
        "population_estimated": c.population_estimated,
        "explanation_zh": c.explanation_zh,
        "explanation_en": c.explanation_en,
    }
    return {
        "type": "Feature",
        "id": f"{c.existing['kind']}-{c.existing['id']}-{c.basis}",
        "geometry": to_geojson(c.line, crs=crs) if c.line is not None else None,
        "properties": props,
    }


def _proposal_dict(p: sd.Proposal) -> dict[str, Any]:
    if isinstance(p, sd.HazardProposal):
        kind = sd.hazard_kinds()[p.hazard_kind]
        return {
            "kind": "hazard",
            "name": p.name,
            "hazard_kind": p.hazard_kind,
            "hazard_kind_zh": kind.name_zh,
            "capacity_m3": p.capacity_m3,
            "level": p.level,
            "reach_m": sd.reach_m(p.hazard_kind, p.capacity_m3),
            "consultation_m": sd.consultation_m(p.level) or None,
        }
    return {
        "kind": "protection_target",
        "name": p.name,
        "target_type": p.target_type,
        **_class(p.gb_class),
        "population": p.population,
        "households": p.households,
        "people": p.people,
        "population_estimated": p.population_estimated,
    }


def siting_body(result: sd.SitingResult, proposal: sd.Proposal, crs: InputCrs) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "verdict": result.verdict,
        "verdict_zh": sd.VERDICT_NAMES_ZH[result.verdict],
        "explanation_zh": result.explanation_zh,
        "explanation_en": result.explanation_en,
        "proposal": _proposal_dict(proposal),
        "advise_factor": result.advise_factor,
        "metric_crs": f"EPSG:{result.epsg}",
        "max_move_m": round(result.max_move_m, 1),
        "conflict_counts": {
            "veto": sum(c.status == "veto" for c in result.conflicts),
            "advise": sum(c.status == "advise" for c in result.conflicts),
        },
        "unchecked": result.unchecked,
        "outside_scope": sum(bool(c.existing.get("outside_scope")) for c in result.conflicts)
        + sum(u["risk_unit_id"] is None for u in result.unchecked),
        "notes": result.notes,
        "numberReturned": len(result.conflicts),
        "features": [_conflict_feature(c, crs) for c in result.conflicts],
    }


def _run_siting(
    conn: Connection, principal: Principal, body: SitingRequest
) -> tuple[BaseGeometry, sd.Proposal, sd.SitingResult, InputCrs]:
    geom, proposal, crs = _parse_siting(body)
    result = usecase.siting_check(conn, principal, geom, proposal, advise_factor=body.advise_factor)
    return geom, proposal, result, crs


@api.post(
    "/analysis/siting-check",
    summary="Siting check of a proposed plant, school or housing estate (一票否决)",
    **GEOJSON_COLLECTION,
)
def siting_check(body: SitingRequest, engine: EngineDep, principal: PrincipalDep) -> JSONResponse:
    """`veto` when a required distance (or a GB 36894 risk criterion) is broken, or a highly sensitive target
    would lie inside the inner consultation zone of a level-1 unit (一票否决, seed 000 (四)); `advise` when the
    proposal comes within `advise_factor` (1.5) times a required distance, inside the consultation zone of
    any level-1/2 unit (a quantitative risk assessment is needed), or near a unit that cannot be checked
    (`unchecked`); `ok` only when everything within reach was checked and nothing conflicts. Each conflict
    gives the rule or zone and its source, the distance and how far the proposal would have to move.
    Regulators: the site must lie wholly inside their jurisdictions (403 naming the geometry); units and
    targets across the border count for the verdict but are not named (`outside_scope`)."""
    with engine.connect() as conn:
        _, proposal, result, crs = _run_siting(conn, principal, body)
    return JSONResponse(jsonable_encoder(siting_body(result, proposal, crs)), media_type=GEOJSON)


# --- exposure -------------------------------------------------------------------------------------------------


@api.get(
    "/analysis/exposure",
    summary="People in distance bands around a risk unit",
    response_model=None,
    responses={200: {"model": Exposure}},
)
def exposure(
    risk_unit_id: Annotated[int, Query(ge=1, le=2**63 - 1, description="the risk unit (风险点) id")],
    engine: EngineDep,
    principal: PrincipalDep,
    bands: Annotated[
        str | None, Query(description="outer band edges in metres, ascending", examples=["100,300,1000"])
    ] = None,
) -> dict[str, Any]:
    """Protection targets, people (estimated where the population is missing, and flagged) and households
    whose nearest edge lies in each band [from, to) around the risk unit, edge to edge in metres."""
    edges = sd.parse_bands(bands)
    with engine.connect() as conn:
        out = store.exposure_sql(conn, principal, risk_unit_id, edges)
    out.pop("geometry")
    out["metric_crs"] = f"EPSG:{out.pop('epsg')}"
    out["total_people"] = sum(b["people"] for b in out["bands"])
    return jsonable_encoder(out)


# --- risk contours --------------------------------------------------------------------------------------------


class ContourProperties(BaseModel):
    model_config = ConfigDict(extra="forbid")
    individual_risk: Annotated[float, Field(gt=0, lt=1, description="per year, e.g. 3e-6")]
    source: Annotated[str, Field(max_length=500)] | None = Field(None, description="e.g. the QRA report")


class ContourFeature(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = "Feature"
    geometry: dict[str, Any]
    properties: ContourProperties


class ContourCollection(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = "FeatureCollection"
    features: Annotated[list[ContourFeature], Field(max_length=20)]


def _contour_body(risk_unit_id: int, rows: list[dict[str, Any]], crs: InputCrs) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "risk_unit_id": risk_unit_id,
        "features": [
            {
                "type": "Feature",
                "id": int(r["id"]),
                "geometry": to_geojson(r["geometry"], crs=crs),
                "properties": {"individual_risk": float(r["individual_risk"]), "source": r["source"]},
            }
            for r in rows
        ],
    }


RiskUnitId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@api.put(
    "/risk-units/{risk_unit_id}/risk-contours",
    summary="Replace a risk unit's individual-risk contours (个人风险等值线, from its QRA)",
    **GEOJSON_COLLECTION,
)
def put_contours(
    risk_unit_id: RiskUnitId,
    body: ContourCollection,
    engine: EngineDep,
    principal: PrincipalDep,
    crs: CrsDep,
) -> JSONResponse:
    problems: list[Problem] = []
    contours: list[tuple[float, BaseGeometry, str | None]] = []
    for i, f in enumerate(body.features):
        try:
            geom = parse_geometry(f.geometry, field=f"features[{i}].geometry", allowed=POLYGONAL, crs=crs)
            contours.append((f.properties.individual_risk, geom, f.properties.source))
        except InvalidInput as exc:
            problems.extend(exc.problems)
    if problems:
        raise InvalidInput(problems)
    with engine.begin() as conn:
        rows = store.replace_risk_contours(conn, principal, risk_unit_id, contours)
    return JSONResponse(_contour_body(risk_unit_id, rows, crs), media_type=GEOJSON)


@api.get(
    "/risk-units/{risk_unit_id}/risk-contours",
    summary="A risk unit's individual-risk contours",
    **GEOJSON_COLLECTION,
)
def get_contours(
    risk_unit_id: RiskUnitId, engine: EngineDep, principal: PrincipalDep, crs: CrsDep
) -> JSONResponse:
    with engine.connect() as conn:
        rows = store.risk_contours(conn, principal, risk_unit_id)  # 404 for a unit unknown or out of scope
    return JSONResponse(_contour_body(risk_unit_id, rows, crs), media_type=GEOJSON)


# --- maps ---------------------------------------------------------------------------------------------------------


@maps.get(
    "/safety-distance", response_class=HTMLResponse, summary="The safety-distance map of a jurisdiction"
)
def safety_distance_html(
    adcode: Annotated[str, Query(description="行政区划代码", examples=["350505"])],
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> HTMLResponse:
    """Hazards with their required-distance rings per target class, protection targets coloured by status
    (violation / within 1.5× / ok), violation lines labelled with the distance, and risk contours."""
    with engine.connect() as conn:
        m = usecase.violations_map(conn, principal, adcode, settings)
    return HTMLResponse(m.get_root().render())


@maps.post("/siting-check", response_class=HTMLResponse, summary="The map of a siting check")
def siting_check_html(
    body: SitingRequest, engine: EngineDep, settings: SettingsDep, principal: PrincipalDep
) -> HTMLResponse:
    """The proposal, its required-distance rings (a proposed plant) or the rings of the hazards it conflicts
    with (a proposed target), what it conflicts with, labelled lines and the verdict."""
    with engine.connect() as conn:
        geom, proposal, result, _ = _run_siting(conn, principal, body)
        m = usecase.siting_map(conn, principal, geom, proposal, result, settings)
    return HTMLResponse(m.get_root().render())


router = APIRouter()
router.include_router(api)
router.include_router(maps)
