"""Protection targets (防护目标): schools, hospitals, housing… classed per GB 36894-2018."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import Connection

from api.features import Properties, ResourceRoutes, crud_router
from geo.coords import InputCrs
from geo.errors import InvalidInput
from geo.geometry import POINT_OR_POLYGON, parse_geometry
from geo.register import clean_protection_target
from geo.store import repository as repo
from geo.vocab import GBClass


class ProtectionTargetProperties(Properties):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    type: Annotated[str, Field(description="a code or Chinese name from data/target_types.csv, e.g. school")]
    gb_class: GBClass | None = Field(
        None, description="GB 36894 class; derived from type and people or households when absent"
    )
    population: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    households: Annotated[int, Field(ge=0, le=5_000_000)] | None = None
    address: Annotated[str, Field(max_length=500)] | None = None
    jurisdiction: Annotated[str, Field(max_length=12)] | None = None


def prepare(
    conn: Connection,
    props: dict[str, Any],
    geometry: dict[str, Any] | None,
    crs: InputCrs,
    existing: dict[str, Any] | None,
) -> dict[str, Any]:
    if (
        existing is not None
        and existing["gb_class_derived"]
        and props.get("gb_class") == existing["gb_class"]
    ):
        # A derived class follows the counts it came from; only a class a user set stays fixed.
        props = {k: v for k, v in props.items() if k != "gb_class"}
    values = clean_protection_target(props)
    if geometry is None and existing is None:
        raise InvalidInput.one(
            "geometry", "a protection target needs a Point or Polygon", "须提供防护目标位置"
        )
    geom = parse_geometry(geometry, allowed=POINT_OR_POLYGON, crs=crs) if geometry is not None else None
    if geom is not None:
        values["geometry"] = geom
    declared = values.pop("jurisdiction", None)
    if existing is None or geom is not None or declared is not None:
        values["jurisdiction_adcode"] = repo.assign_jurisdiction(
            conn,
            geom if geom is not None else existing["geometry"],  # type: ignore[index]
            declared,
            field_name="properties.jurisdiction",
        )
    return values


router = crud_router(
    ResourceRoutes(
        resource=repo.PROTECTION_TARGETS,
        path="/api/v1/protection-targets",
        tag="protection targets",
        schema=ProtectionTargetProperties,
        prepare=prepare,
        filters=("type", "gb_class"),
    )
)
