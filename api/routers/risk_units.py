"""Risk units (风险点 / 风险区域) of enterprises, and public-area risks (公共区域风险)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import Connection

from api.features import Properties, ResourceRoutes, crud_router
from geo.coords import InputCrs
from geo.errors import InvalidInput
from geo.geometry import ANY_SIMPLE, parse_geometry
from geo.register import clean_risk_unit
from geo.safety_distance import check_capacity, hazard_kind_code
from geo.store import repository as repo
from geo.vocab import AssessmentMethod, ControlLevel, RiskUnitKind

Text = Annotated[str, Field(max_length=2000)]


class RiskUnitProperties(Properties):
    enterprise_id: int | None = Field(None, description="owning enterprise; absent for a public-area risk")
    kind: RiskUnitKind | None = Field(None, description="enterprise or public_area; follows enterprise_id")
    name: Annotated[str, Field(min_length=1, max_length=200, description="风险点名称")]
    sector: str | None = Field(
        None, description="行业领域 of a public-area risk (enterprise units take their enterprise's)"
    )
    level: Annotated[int, Field(ge=1, le=4, strict=True)] | None = Field(
        None, description="1 重大/红, 2 较大/橙, 3 一般/黄, 4 低/蓝; required for a direct assessment"
    )
    assessment_method: AssessmentMethod | None = Field(None, description="LEC, LS, MES or direct (default)")
    assessment_inputs: dict[str, float] | None = Field(
        None, description='factors, e.g. {"L": 3, "E": 6, "C": 15}'
    )
    assessment_table: Annotated[str, Field(max_length=32)] | None = None
    accident_types: list[str] | None = Field(None, description="GB 6441 codes (01–20) or names")
    hazards: Text | None = Field(None, description="存在的主要危险有害因素")
    control_measures: Text | None = Field(None, description="管控措施")
    control_level: ControlLevel | None = Field(None, description="管控层级: company/workshop/team/post")
    responsible_department: Annotated[str, Field(max_length=200)] | None = None
    responsible_person: Annotated[str, Field(max_length=100)] | None = None
    responsible_phone: Annotated[str, Field(max_length=40)] | None = None
    assessed_on: dt.date | None = None
    next_assessment_due: dt.date | None = None
    max_occupancy: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    hazard_kind: Annotated[str, Field(max_length=80)] | None = Field(
        None,
        description="危险源类型 for safety distances: a code or name from data/safety_distance_rules.csv",
    )
    capacity_m3: Annotated[float, Field(gt=0, le=1e7)] | None = Field(
        None,
        description="total storage volume in m³ (needed for volume-banded kinds such as LPG supply bases)",
    )
    jurisdiction: Annotated[str, Field(max_length=12)] | None = None


def prepare(
    conn: Connection,
    props: dict[str, Any],
    geometry: dict[str, Any] | None,
    crs: InputCrs,
    existing: dict[str, Any] | None,
) -> dict[str, Any]:
    owner = None
    if props.get("enterprise_id") is not None:
        owner = repo.enterprise_owner(conn, props["enterprise_id"], field_name="properties.enterprise_id")
    method = props.get("assessment_method") or AssessmentMethod.direct
    if existing is not None and method != AssessmentMethod.direct and props.get("level") == existing["level"]:
        # The stored level came from the factors; after an edit the factors decide again.
        props = {k: v for k, v in props.items() if k != "level"}
    if (
        existing is not None
        and props.get("assessed_on") != existing["assessed_on"]
        and props.get("next_assessment_due") == existing["next_assessment_due"]
    ):
        # A new assessment date: the stored due date belonged to the old one, so derive it again.
        props = {k: v for k, v in props.items() if k != "next_assessment_due"}
    values = clean_risk_unit(props, owner_sector=owner["sector"] if owner else None)
    if values.get("hazard_kind") is not None:
        # 安全防护距离: a known kind, and the storage volume where its distances depend on it.
        values["hazard_kind"] = hazard_kind_code(values["hazard_kind"], "properties.hazard_kind")
        check_capacity(values["hazard_kind"], values.get("capacity_m3"), "properties.capacity_m3")
    if geometry is not None:
        geom = parse_geometry(geometry, allowed=ANY_SIMPLE, crs=crs)
    elif existing is not None:
        geom = existing["geometry"]
    else:
        raise InvalidInput.one(
            "geometry", "a risk unit needs a Point, LineString or Polygon", "须提供风险点位置"
        )
    if geometry is not None:
        values["geometry"] = geom
    declared = values.pop("jurisdiction", None)
    if owner is not None and declared is None:
        values["jurisdiction_adcode"] = owner["jurisdiction_adcode"]
    elif existing is None or geometry is not None or declared is not None:
        values["jurisdiction_adcode"] = repo.assign_jurisdiction(
            conn, geom, declared, field_name="properties.jurisdiction"
        )
    return values


router = crud_router(
    ResourceRoutes(
        resource=repo.RISK_UNITS,
        path="/api/v1/risk-units",
        tag="risk units",
        schema=RiskUnitProperties,
        prepare=prepare,
        filters=("level", "kind", "enterprise_id"),
    )
)
