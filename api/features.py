"""GeoJSON Features in and out, and the CRUD routes every register resource shares.

A resource module supplies its property schema and a `prepare` function (domain checks → column
values); this module does the HTTP: parse, paginate, link, version headers.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection

from api.auth import PrincipalDep
from api.deps import BboxDep, CrsDep, EngineDep, SettingsDep
from geo.coords import InputCrs, to_storage_xy
from geo.errors import InvalidInput
from geo.geometry import to_geojson
from geo.store import repository as repo
from geo.vocab import JurisdictionLevel

GEOJSON = "application/geo+json"

P = TypeVar("P", bound=BaseModel)

# Fields the server computes; a client may send them back (a fetched Feature, edited) and they're ignored.
READ_ONLY = frozenset(
    {
        "id",
        "version",
        "created_at",
        "updated_at",
        "synthetic",
        "level",  # an enterprise's (就高); kept where a schema declares it, as a risk unit's level
        "level_rule",
        "risk_unit_count",
        "jurisdiction_adcode",
        "gb_class_derived",
        "occupancy_exceeded",
        "overdue",
        "assessment_score",
    }
)


class Properties(BaseModel):
    """Base of the property schemas: unknown names are an error (a typo shouldn't vanish silently)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_read_only(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if k not in READ_ONLY or k in cls.model_fields}
        return data


class FeatureIn(BaseModel, Generic[P]):
    """A GeoJSON Feature sent by a client."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["Feature"]
    geometry: dict[str, Any] | None = Field(description="GeoJSON geometry, in the request's `crs`")
    properties: P


class FeaturePatch(BaseModel):
    """A partial update: properties to change, and optionally a new geometry."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any] | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


Prepare = Callable[
    [Connection, dict[str, Any], dict[str, Any] | None, InputCrs, dict[str, Any] | None], dict[str, Any]
]
"""(conn, properties, geometry or None to keep, crs, existing row or None) → column values."""


@dataclass(frozen=True)
class ResourceRoutes:
    resource: repo.Resource
    path: str
    tag: str
    schema: type[BaseModel]
    prepare: Prepare
    filters: tuple[str, ...] = ()
    geometry_output: Callable[[dict[str, Any], InputCrs], dict[str, Any]] | None = None


def feature(row: Mapping[str, Any], res: repo.Resource, crs: InputCrs) -> dict[str, Any]:
    props = {k: v for k, v in row.items() if k != "geometry"}
    for g in res.geometries_in_properties:
        props[g] = to_geojson(props.get(g), crs=crs)
    return {
        "type": "Feature",
        "id": row[res.key],
        "geometry": to_geojson(row["geometry"], crs=crs),
        "properties": jsonable_encoder(props),
    }


def _link(request: Request, offset: int, limit: int) -> str:
    return str(request.url.include_query_params(offset=offset, limit=limit))


def _storage_bbox(
    bbox: tuple[float, float, float, float], crs: InputCrs
) -> tuple[float, float, float, float]:
    if crs == InputCrs.cgcs2000:
        return bbox
    xs, ys = to_storage_xy([bbox[0], bbox[2], bbox[0], bbox[2]], [bbox[1], bbox[1], bbox[3], bbox[3]], crs)
    # plain floats: the database driver cannot bind numpy scalars
    return float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys))


def _etag(row: Mapping[str, Any]) -> dict[str, str]:
    return {"ETag": f'W/"{row["version"]}"'} if "version" in row else {}


def _version_from(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise InvalidInput.one("If-Match", 'expected an ETag from a previous response, like W/"3"')
    return int(tag)


def crud_router(
    spec: ResourceRoutes, *, methods: tuple[str, ...] = ("list", "get", "create", "patch", "delete")
) -> APIRouter:
    res = spec.resource
    router = APIRouter(prefix=spec.path, tags=[spec.tag])
    key_type: type = str if res.key == "adcode" else int
    feature_in = FeatureIn[spec.schema]  # type: ignore[name-defined]

    @router.get("", summary=f"List {res.name}s as a GeoJSON FeatureCollection")
    def list_(
        request: Request,
        engine: EngineDep,
        settings: SettingsDep,
        principal: PrincipalDep,
        crs: CrsDep,
        bbox: BboxDep,
        adcode: Annotated[
            str | None,
            Query(description="only rows in this jurisdiction's whole subtree (or inside this park)"),
        ] = None,
        limit: Annotated[int | None, Query(ge=1)] = None,
        offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # PostgreSQL OFFSET is a bigint
    ) -> JSONResponse:
        size = limit or settings.api.default_page_size
        if size > settings.api.max_page_size:
            raise InvalidInput.one("limit", f"at most {settings.api.max_page_size}", "每页数量超出上限")
        filters = {name: request.query_params.get(name) for name in spec.filters}
        with engine.connect() as conn:
            page = repo.list_features(
                conn,
                principal,
                res,
                adcode=adcode,
                bbox=_storage_bbox(bbox, crs) if bbox else None,
                filters=_typed_filters(filters, res),
                limit=size,
                offset=offset,
            )
        links = [{"rel": "self", "href": str(request.url), "type": GEOJSON}]
        if offset + size < page.total:
            links.append({"rel": "next", "href": _link(request, offset + size, size), "type": GEOJSON})
        if offset > 0:
            links.append(
                {"rel": "prev", "href": _link(request, max(0, offset - size), size), "type": GEOJSON}
            )
        body = {
            "type": "FeatureCollection",
            "features": [feature(r, res, crs) for r in page.rows],
            "numberMatched": page.total,
            "numberReturned": len(page.rows),
            "links": links,
            "next": links[1]["href"] if len(links) > 1 and links[1]["rel"] == "next" else None,
        }
        return JSONResponse(body, media_type=GEOJSON)

    @router.get("/{key}", summary=f"One {res.name} as a GeoJSON Feature")
    def get(key: key_type, engine: EngineDep, principal: PrincipalDep, crs: CrsDep) -> JSONResponse:  # type: ignore[valid-type]
        with engine.connect() as conn:
            row = repo.get_feature(conn, principal, res, key)
        return JSONResponse(feature(row, res, crs), media_type=GEOJSON, headers=_etag(row))

    @router.post("", status_code=201, summary=f"Create a {res.name} from a GeoJSON Feature")
    def create(body: feature_in, engine: EngineDep, principal: PrincipalDep, crs: CrsDep) -> JSONResponse:
        props = body.properties.model_dump(exclude_unset=True)
        with engine.begin() as conn:
            values = spec.prepare(conn, props, body.geometry, crs, None)
            row = repo.create_feature(conn, principal, res, values)
        return JSONResponse(feature(row, res, crs), status_code=201, media_type=GEOJSON, headers=_etag(row))

    @router.patch("/{key}", summary=f"Change some properties (and/or the geometry) of a {res.name}")
    def patch(
        key: key_type,  # type: ignore[valid-type]
        body: FeaturePatch,
        engine: EngineDep,
        principal: PrincipalDep,
        crs: CrsDep,
        if_match: Annotated[str | None, Header(description="ETag of the version you edited")] = None,
    ) -> JSONResponse:
        expected = _version_from(if_match)
        with engine.begin() as conn:
            existing = repo.get_feature(conn, principal, res, key)
            # Geometries in properties (an enterprise's site) stay as stored unless the patch sends them.
            merged = {
                k: v
                for k, v in existing.items()
                if k in spec.schema.model_fields and k not in res.geometries_in_properties
            }
            merged.update(body.properties)
            props = _validate_properties(spec.schema, merged)
            values = spec.prepare(conn, props, body.geometry, crs, existing)
            row = repo.update_feature(conn, principal, res, key, values, expected_version=expected)
        return JSONResponse(feature(row, res, crs), media_type=GEOJSON, headers=_etag(row))

    @router.delete("/{key}", status_code=204, summary=f"Delete a {res.name}")
    def delete(
        key: key_type,  # type: ignore[valid-type]
        engine: EngineDep,
        principal: PrincipalDep,
        if_match: Annotated[
            str | None, Header(description="ETag of the version you mean to delete (409 if it changed)")
        ] = None,
    ) -> Response:
        expected = _version_from(if_match) if res.key != "adcode" else None
        with engine.begin() as conn:
            repo.delete_feature(conn, principal, res, key, expected_version=expected)
        return Response(status_code=204)

    wanted = {
        "list": ("GET", ""),
        "get": ("GET", "/{key}"),
        "create": ("POST", ""),
        "patch": ("PATCH", "/{key}"),
        "delete": ("DELETE", "/{key}"),
    }
    keep = {wanted[m] for m in methods}
    router.routes[:] = [
        r
        for r in router.routes
        if any((m, getattr(r, "path", "").removeprefix(spec.path)) in keep for m in getattr(r, "methods", ()))
    ]
    return router


def _typed_filters(filters: Mapping[str, str | None], res: repo.Resource) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if name == "level" and res is repo.JURISDICTIONS:  # province, city… not a risk level
            levels = [str(lv) for lv in JurisdictionLevel]
            if value not in levels:
                raise InvalidInput.one("level", f"expected one of {', '.join(levels)}", "行政区划级别无效")
            out[name] = value
        elif name == "level":
            if value not in {"1", "2", "3", "4"}:
                raise InvalidInput.one("level", "expected 1, 2, 3 or 4", "风险等级应为 1–4")
            out[name] = int(value)
        elif name == "enterprise_id":
            if not value.isdigit():
                raise InvalidInput.one("enterprise_id", "expected an integer id")
            out[name] = int(value)
        else:
            out[name] = value
    return out


def _validate_properties(schema: type[BaseModel], props: dict[str, Any]) -> dict[str, Any]:
    from pydantic import ValidationError

    from geo.errors import Problem

    try:
        model = schema.model_validate(jsonable_encoder(props))
    except ValidationError as exc:
        raise InvalidInput(
            [
                Problem(
                    "properties." + ".".join(str(p) for p in e["loc"]),
                    str(e["msg"]).removeprefix("Value error, "),
                )
                for e in exc.errors()
            ]
        ) from None
    return model.model_dump(exclude_unset=True)
