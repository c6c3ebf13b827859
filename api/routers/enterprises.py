"""Enterprises (生产经营单位): the register header of 一企一册."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import Connection

from api.features import Properties, ResourceRoutes, crud_router
from geo.coords import InputCrs
from geo.errors import InvalidInput
from geo.geometry import POINT, POLYGONAL, as_multipolygon, parse_geometry
from geo.register import clean_enterprise
from geo.store import repository as repo

Text = Annotated[str, Field(min_length=1, max_length=500)]


class EnterpriseProperties(Properties):
    credit_code: Annotated[
        str, Field(description="统一社会信用代码 (18 characters, GB 32100-2015 check digit)")
    ]
    name: Annotated[str, Field(min_length=1, max_length=200, description="企业名称")]
    sector: Annotated[str, Field(description="行业领域: a code or Chinese name from data/sectors.csv")]
    business_type: Text | None = Field(None, description="业态, e.g. 危化品储存, 加油站")
    address: Text | None = None
    site: dict[str, Any] | None = Field(
        None, description="site boundary (厂区边界), a GeoJSON (Multi)Polygon"
    )
    employees: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    supervising_department: Text | None = Field(None, description="负有监管职责的部门")
    contact_person: Text | None = None
    contact_phone: Annotated[str, Field(max_length=40)] | None = None
    jurisdiction: Annotated[str, Field(max_length=12)] | None = Field(
        None,
        description="adcode of the jurisdiction it is registered in; derived from the location if absent",
    )


def prepare(
    conn: Connection,
    props: dict[str, Any],
    geometry: dict[str, Any] | None,
    crs: InputCrs,
    existing: dict[str, Any] | None,
) -> dict[str, Any]:
    values = clean_enterprise(props)
    if geometry is None and existing is None:
        raise InvalidInput.one(
            "geometry", "an enterprise needs its location as a GeoJSON Point", "须提供企业位置"
        )
    location = (
        parse_geometry(geometry, allowed=POINT, crs=crs) if geometry is not None else existing["geometry"]  # type: ignore[index]
    )
    if geometry is not None:
        values["geometry"] = location
    if "site" in props:
        site = props["site"]
        values["site"] = (
            None
            if site is None
            else as_multipolygon(parse_geometry(site, field="properties.site", allowed=POLYGONAL, crs=crs))
        )
    declared = values.pop("jurisdiction", None)
    if existing is None or geometry is not None or declared is not None:
        values["jurisdiction_adcode"] = repo.assign_jurisdiction(
            conn, location, declared, field_name="properties.jurisdiction"
        )
    return values


router = crud_router(
    ResourceRoutes(
        resource=repo.ENTERPRISES,
        path="/api/v1/enterprises",
        tag="enterprises",
        schema=EnterpriseProperties,
        prepare=prepare,
        filters=("sector",),
    )
)
