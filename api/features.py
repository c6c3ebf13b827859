"""GeoJSON Features in and out, and the CRUD routes every register resource shares.

A resource module supplies its property schema and a `prepare` function (domain checks → column
values); this module does the HTTP: parse, paginate, link, version headers.
"""

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

import numpy as np
import shapely
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection

from api import schemas
from api.auth import PrincipalDep
from api.deps import BboxDep, CrsDep, EngineDep, SettingsDep
from geo.access import Principal
from geo.coords import InputCrs, from_storage, to_storage_xy
from geo.errors import InvalidInput, PreconditionFailed, PreconditionRequired
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


def _plain(value: Any) -> Any:
    """`jsonable_encoder(value)` with a fast path for what rows hold (text, numbers, dates, lists, dicts):
    the same output, a tenth of the time (it was half of a 50-row list's serialising)."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if type(value) in (dt.datetime, dt.date):
        return value.isoformat()
    if type(value) is list:
        return [_plain(v) for v in value]
    if type(value) is dict and all(type(k) is str for k in value):
        return {k: _plain(v) for k, v in value.items()}
    return jsonable_encoder(value)


def feature(row: Mapping[str, Any], res: repo.Resource, crs: InputCrs) -> dict[str, Any]:
    props = {k: v for k, v in row.items() if k != "geometry"}
    for g in res.geometries_in_properties:
        props[g] = to_geojson(props.get(g), crs=crs)
    return {
        "type": "Feature",
        "id": row[res.key],
        "geometry": to_geojson(row["geometry"], crs=crs),
        "properties": _plain(props),
    }


def _geojson_texts(values: list[Any], crs: InputCrs) -> list[str]:
    """GeoJSON text of geometries: as given (PostGIS made it) in CGCS2000/WGS 84; from WKB converted to
    `crs` in one vectorised pass over every coordinate, rounded as `to_geojson` rounds ('null' for None)."""
    if crs in (InputCrs.cgcs2000, InputCrs.wgs84):
        return [v if v is not None else "null" for v in values]
    wkb = np.array([bytes(v) if v is not None else None for v in values], dtype=object)
    geoms: Any = shapely.from_wkb(wkb)
    # from_storage is typed for one geometry; shapely.transform converts an array of them in one call
    converted: Any = from_storage(geoms, crs)
    rounded = shapely.set_precision(converted, 1e-7, mode="pointwise")
    return [t if t is not None else "null" for t in shapely.to_geojson(rounded).tolist()]


def feature_collection(page: repo.JsonPage, crs: InputCrs, tail: dict[str, Any]) -> bytes:
    """The FeatureCollection of a page made by `repo.list_features_json`: the same members as `feature`
    gives each row (properties, then the geometries kept in properties), then `tail`'s."""
    geometries = _geojson_texts(page.geometries, crs)
    extras = {name: _geojson_texts(values, crs) for name, values in page.extra.items()}
    parts = []
    for i, (key, props) in enumerate(zip(page.keys, page.properties, strict=True)):
        for name, texts in extras.items():
            props = f'{props[:-1]}{"," if len(props) > 2 else ""}"{name}":{texts[i]}}}'
        parts.append(f'{{"type":"Feature","id":{key},"geometry":{geometries[i]},"properties":{props}}}')
    rest = json.dumps(tail, ensure_ascii=False, separators=(",", ":"))
    return f'{{"type":"FeatureCollection","features":[{",".join(parts)}],{rest[1:]}'.encode()


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


# --- conditional requests (RFC 9110 §8.8.3, §13) ---------------------------------------------------------------
#
# A row's ETag is strong: a digest of everything its answer holds (computed values too, such as an enterprise's
# level or a unit's `overdue`), taken in storage coordinates, so it is the same whatever `crs` the answer is in
# (each `crs` is its own URL, and its answer is a function of the row). A list's ETag is a digest of its body.
# PATCH and DELETE need `If-Match` (428 without): a strong ETag of the stored row, or `*` (whatever is stored);
# a weak tag never matches (strong comparison). GETs take `If-None-Match` (weak comparison, or `*`) → 304.

_ETAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')
STAR = "*"
IF_MATCH_REQUIRED = (
    "PATCH and DELETE need If-Match: the ETag of the version you read (GET the row), or * to change "
    "whatever is stored; this keeps two people's edits from overwriting each other"
)
IF_MATCH_REQUIRED_ZH = "修改和删除须带 If-Match 请求头（先读取该记录得到的 ETag，或 *），以免覆盖他人的修改"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


def row_etag(row: Mapping[str, Any], res: repo.Resource, answer: dict[str, Any] | None = None) -> str:
    """The strong ETag of a row: its version (when it has one) and a digest of its whole answer in
    CGCS2000 (`answer`, when the caller has made it already)."""
    return _version_tag(row, answer if answer is not None else feature(row, res, InputCrs.cgcs2000))


def record_etag(row: Mapping[str, Any]) -> str:
    """The strong ETag of a record that is not a register feature (an inspection): its version and a
    digest of its JSON, as `row_etag`."""
    return _version_tag(row, jsonable_encoder(row))


def _version_tag(row: Mapping[str, Any], answer: Any) -> str:
    text_ = json.dumps(answer, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = _digest(text_.encode())
    return f'"{row["version"]}-{digest}"' if "version" in row else f'"{digest}"'


def _entity_tags(header: str, value: str) -> list[tuple[bool, str]] | None:
    """The (weak, tag) pairs of an If-Match/If-None-Match value; None for `*`. Malformed → 422."""
    if value.strip() == STAR:
        return None
    tags: list[tuple[bool, str]] = []
    pos, text_ = 0, value.strip()
    while pos < len(text_):
        m = _ETAG.match(text_, pos)
        if m is None or m.end() == pos:
            raise InvalidInput.one(
                header,
                'expected *, or ETags from previous responses separated by commas, like "3-5f2c…"',
                "应为 * 或此前响应中的 ETag（以逗号分隔）",
            )
        tags.append((m.group(1) is not None, f'"{m.group(2)}"'))
        pos = m.end()
    return tags


def require_if_match(if_match: str | None) -> list[tuple[bool, str]] | None:
    """The parsed If-Match of a write; 428 when it is missing."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(IF_MATCH_REQUIRED, "If-Match", IF_MATCH_REQUIRED_ZH)
    return _entity_tags("If-Match", if_match)


def check_if_match(tags: list[tuple[bool, str]] | None, current: str, res: repo.Resource | str) -> None:
    """Strong comparison: a weak tag never matches; `*` matches any stored row. 412 otherwise. `res` is
    the resource, or the name of a record that is not one (an inspection)."""
    if tags is None or any(not weak and tag == current for weak, tag in tags):
        return
    name = res if isinstance(res, str) else res.name
    raise PreconditionFailed(
        f"the {name} is not the version If-Match names (its ETag is now {current}; "
        "weak W/ tags never match): fetch it again",
        "If-Match",
        "If-Match 所指的已不是当前版本（弱 ETag W/ 不算匹配），请重新获取后再改",
    )


def none_match(if_none_match: str | None, current: str) -> bool:
    """Whether If-None-Match names the current answer (weak comparison, or `*`): then GET is 304."""
    if if_none_match is None or not if_none_match.strip():
        return False
    try:
        tags = _entity_tags("If-None-Match", if_none_match)
    except InvalidInput:
        return False  # RFC 9110 §13.1.2: a recipient may ignore a malformed precondition of a GET
    return tags is None or any(tag == current.removeprefix("W/") for _, tag in tags)


def conditional(request: Request, body: Any, *, etag: str | None = None, status_code: int = 200) -> Response:
    """A GeoJSON answer with its ETag (a digest of the body unless given), or 304 when If-None-Match
    names it. The answer depends on who asks (scope): caches must keep it per credentials."""
    return _conditional(request, JSONResponse(body, status_code=status_code, media_type=GEOJSON), etag)


def conditional_bytes(request: Request, content: bytes) -> Response:
    """`conditional` for a GeoJSON body already serialised (a list made by the database)."""
    return _conditional(request, Response(content, media_type=GEOJSON), None)


def _conditional(request: Request, response: Response, etag: str | None) -> Response:
    status_code = response.status_code
    headers = {"ETag": etag or f'"{_digest(bytes(response.body))}"', "Vary": "Authorization, X-API-Key"}
    if status_code == 200 and none_match(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return response


def _existing(
    conn: Connection, principal: Principal, res: repo.Resource, key: Any, what: str
) -> dict[str, Any]:
    """The row a write names: 401 for the anonymous, 404 out of scope; then the preconditions apply (the
    role's right to write is checked by the write itself: 403)."""
    if principal.is_public:
        raise repo.deny(principal, what)
    return repo.get_feature(conn, principal, res, key)


def _check_owner(
    conn: Connection, principal: Principal, res: repo.Resource, props: Mapping[str, Any]
) -> None:
    """A row filed under an enterprise the principal may not write for is 403 before anyone looks the
    enterprise up: an unknown id and another enterprise's id get the same answer, so the error does not
    tell an enterprise user which ids exist."""
    if props.get("enterprise_id") is not None:
        repo.check_write(conn, principal, res, {"enterprise_id": props["enterprise_id"]})


NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "If-None-Match names the current ETag: not modified, no body"}
}
PRECONDITIONS: dict[int | str, dict[str, Any]] = {
    412: {"description": "If-Match names no current version of the row (it changed, or the tag is weak)"},
    428: {"description": "If-Match is missing: send the ETag you read, or *"},
}


IfMatchDep = Annotated[
    str | None,
    Header(
        description="required: the ETag of the version you read (412 if the row changed since; a weak W/ "
        "tag never matches), or * for whatever is stored; 428 without it"
    ),
]
IfNoneMatchDep = Annotated[
    str | None, Header(description="ETags you hold: 304 Not Modified when one is the current answer's")
]


def crud_router(
    spec: ResourceRoutes, *, methods: tuple[str, ...] = ("list", "get", "create", "patch", "delete")
) -> APIRouter:
    res = spec.resource
    router = APIRouter(prefix=spec.path, tags=[spec.tag])
    key_type: type = str if res.key == "adcode" else int
    feature_in = FeatureIn[spec.schema]  # type: ignore[name-defined]
    noun = "".join(w.capitalize() for w in res.name.split())
    one, many = schemas.feature_models(res, spec.schema, noun)
    singular, plural = res.name.replace(" ", "_"), res.name.replace(" ", "_") + "s"

    @router.get(
        "",
        name=f"list_{plural}",
        summary=f"List {res.name}s as a GeoJSON FeatureCollection",
        response_model=many,
        response_class=schemas.GeoJSONResponse,
        responses=NOT_MODIFIED,
    )
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
        if_none_match: IfNoneMatchDep = None,
    ) -> Response:
        size = limit or settings.api.default_page_size
        if size > settings.api.max_page_size:
            raise InvalidInput.one("limit", f"at most {settings.api.max_page_size}", "每页数量超出上限")
        filters = {name: request.query_params.get(name) for name in spec.filters}
        with engine.connect() as conn:
            page = repo.list_features_json(
                conn,
                principal,
                res,
                geojson=crs in (InputCrs.cgcs2000, InputCrs.wgs84),
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
        tail = {
            "numberMatched": page.total,
            "numberReturned": len(page.keys),
            "links": links,
            "next": links[1]["href"] if len(links) > 1 and links[1]["rel"] == "next" else None,
        }
        return conditional_bytes(request, feature_collection(page, crs, tail))

    @router.get(
        "/{key}",
        name=f"get_{singular}",
        summary=f"One {res.name} as a GeoJSON Feature",
        response_model=one,
        response_class=schemas.GeoJSONResponse,
        responses=NOT_MODIFIED,
    )
    def get(
        request: Request,
        key: key_type,  # type: ignore[valid-type]
        engine: EngineDep,
        principal: PrincipalDep,
        crs: CrsDep,
        if_none_match: IfNoneMatchDep = None,
    ) -> Response:
        with engine.connect() as conn:
            row = repo.get_feature(conn, principal, res, key)
        body = feature(row, res, crs)
        return conditional(request, body, etag=row_etag(row, res, body if crs == InputCrs.cgcs2000 else None))

    @router.post(
        "",
        status_code=201,
        name=f"create_{singular}",
        summary=f"Create a {res.name} from a GeoJSON Feature",
        response_model=one,
        response_class=schemas.GeoJSONResponse,
    )
    def create(body: feature_in, engine: EngineDep, principal: PrincipalDep, crs: CrsDep) -> JSONResponse:
        props = body.properties.model_dump(exclude_unset=True)
        with engine.begin() as conn:
            _check_owner(conn, principal, res, props)
            values = spec.prepare(conn, props, body.geometry, crs, None)
            row = repo.create_feature(conn, principal, res, values)
        return JSONResponse(
            feature(row, res, crs), status_code=201, media_type=GEOJSON, headers={"ETag": row_etag(row, res)}
        )

    @router.patch(
        "/{key}",
        name=f"update_{singular}",
        summary=f"Change some properties (and/or the geometry) of a {res.name}",
        response_model=one,
        response_class=schemas.GeoJSONResponse,
        responses=PRECONDITIONS,
    )
    def patch(
        key: key_type,  # type: ignore[valid-type]
        body: FeaturePatch,
        engine: EngineDep,
        principal: PrincipalDep,
        crs: CrsDep,
        if_match: IfMatchDep = None,
    ) -> JSONResponse:
        with engine.begin() as conn:
            existing = _existing(conn, principal, res, key, f"change {res.name}s")
            check_if_match(require_if_match(if_match), row_etag(existing, res), res)
            # Geometries in properties (an enterprise's site) stay as stored unless the patch sends them.
            merged = {
                k: v
                for k, v in existing.items()
                if k in spec.schema.model_fields and k not in res.geometries_in_properties
            }
            merged.update(body.properties)
            props = _validate_properties(spec.schema, merged)
            _check_owner(conn, principal, res, props)
            values = spec.prepare(conn, props, body.geometry, crs, existing)
            # the version read above: a write in between makes this 412 rather than a lost update
            row = repo.update_feature(
                conn, principal, res, key, values, expected_version=existing["version"], existing=existing
            )
        return JSONResponse(feature(row, res, crs), media_type=GEOJSON, headers={"ETag": row_etag(row, res)})

    @router.delete(
        "/{key}",
        status_code=204,
        name=f"delete_{singular}",
        summary=f"Delete a {res.name}",
        responses=PRECONDITIONS,
    )
    def delete(
        key: key_type,  # type: ignore[valid-type]
        engine: EngineDep,
        principal: PrincipalDep,
        if_match: IfMatchDep = None,
    ) -> Response:
        with engine.begin() as conn:
            existing = _existing(conn, principal, res, key, f"change {res.name}s")
            check_if_match(require_if_match(if_match), row_etag(existing, res), res)
            repo.delete_feature(conn, principal, res, key, expected_version=existing.get("version"))
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
