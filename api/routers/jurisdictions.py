"""Jurisdictions (行政区划) and zones (园区, 网格) with their boundaries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi.responses import JSONResponse
from pydantic import Field

from api.auth import PrincipalDep
from api.deps import CrsDep, EngineDep
from api.features import GEOJSON, FeatureIn, Properties, ResourceRoutes, crud_router, feature
from api.schemas import GeoJSONResponse, feature_models
from geo.codes import validate_adcode
from geo.errors import InvalidInput
from geo.geometry import POLYGONAL, as_multipolygon, parse_geometry
from geo.store import repository as repo
from geo.vocab import ADMIN_LEVELS, JurisdictionLevel


class JurisdictionProperties(Properties):
    adcode: Annotated[
        str,
        Field(
            pattern=r"^[0-9A-Za-z_-]{2,12}$",
            description="行政区划代码: 6 digits (9 or 12 for townships and villages); parks and grids: "
            "any code of up to 12 letters and digits",
        ),
    ]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    level: JurisdictionLevel
    parent_adcode: Annotated[str, Field(max_length=12)] | None = None
    source: Annotated[str, Field(max_length=500)] | None = None


JURISDICTION_FEATURE, _ = feature_models(repo.JURISDICTIONS, JurisdictionProperties, "Jurisdiction")


def _refuse(*_: Any) -> dict[str, Any]:
    raise AssertionError("jurisdictions are created by their own route, never patched")


router = crud_router(
    ResourceRoutes(
        resource=repo.JURISDICTIONS,
        path="/api/v1/jurisdictions",
        tag="jurisdictions",
        schema=JurisdictionProperties,
        prepare=_refuse,
        filters=("level", "parent_adcode"),
    ),
    methods=("list", "get", "delete"),
)


@router.post(
    "",
    status_code=201,
    name="create_jurisdiction",
    summary="Load a jurisdiction, park or grid boundary",
    response_model=JURISDICTION_FEATURE,
    response_class=GeoJSONResponse,
)
def create(
    body: FeatureIn[JurisdictionProperties], engine: EngineDep, principal: PrincipalDep, crs: CrsDep
) -> JSONResponse:
    props = body.properties.model_dump()
    if props["level"] in ADMIN_LEVELS:
        validate_adcode(props["adcode"], "properties.adcode")
    if body.geometry is None:
        raise InvalidInput.one(
            "geometry", "a jurisdiction needs its boundary as a (Multi)Polygon", "须提供边界"
        )
    geom = as_multipolygon(parse_geometry(body.geometry, allowed=POLYGONAL, crs=crs))
    props["level"] = str(props["level"])
    with engine.begin() as conn:
        row = repo.create_jurisdiction(conn, principal, props, geom)
    return JSONResponse(feature(row, repo.JURISDICTIONS, crs), status_code=201, media_type=GEOJSON)
