"""OGC API – Features over the register at /ogc: a landing page, /conformance, /collections and their
items, for GDAL's OAPIF driver (`ogrinfo OAPIF:http://host/ogc`), QGIS and other OGC clients. The same
authentication (X-API-Key or bearer token or session), scopes and page-size limits as /api/v1.

The routes are left out of the app's OpenAPI schema (include_in_schema=False): the OGC API describes itself
through the landing page and /conformance, and its parameters (bbox-crs, datetime, crs URIs) follow the OGC
standard rather than /api/v1's conventions.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from api.auth import PrincipalDep
from api.deps import EngineDep, SettingsDep
from api.features import GEOJSON, _storage_bbox, conditional
from api.limits import admit_four_colour as admit
from api.limits import four_colour_frame as within_limits
from api.settings import Settings
from api.usecases import collections as uc
from api.usecases.four_colour import make_params
from geo.access import Principal
from geo.coords import InputCrs
from geo.errors import InvalidInput, NotFound

router = APIRouter(prefix="/ogc", include_in_schema=False)

JSON = "application/json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
]


def _base(request: Request) -> str:
    return str(request.url_for("ogc_landing")).rstrip("/")


def _json(body: Any) -> JSONResponse:
    return JSONResponse(body, media_type=JSON, headers={"Vary": "Authorization, X-API-Key"})


@router.get("", name="ogc_landing")
def landing(request: Request) -> JSONResponse:
    base = _base(request)
    return _json(
        {
            "title": "riskmap register 双重预防风险台账",
            "description": "OGC API – Features: enterprises, risk units, public-area risks, protection "
            "targets, jurisdictions, four-colour zones, hidden hazards",
            "links": [
                {"rel": "self", "href": base, "type": JSON, "title": "this document"},
                {"rel": "conformance", "href": f"{base}/conformance", "type": JSON},
                {"rel": "data", "href": f"{base}/collections", "type": JSON},
            ],
        }
    )


@router.get("/conformance")
def conformance() -> JSONResponse:
    return _json({"conformsTo": CONFORMANCE})


def _collection_doc(base: str, c: uc.Collection) -> dict[str, Any]:
    return {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "crs": list(uc.CRS_URIS),
        "storageCrs": uc.EPSG_4490,
        "extent": {"spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]], "crs": uc.CRS84}},
        "links": [
            {"rel": "self", "href": f"{base}/collections/{c.id}", "type": JSON},
            {"rel": "items", "href": f"{base}/collections/{c.id}/items", "type": GEOJSON},
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "href": f"{base}/collections/{c.id}/queryables",
                "type": "application/schema+json",
            },
        ],
    }


@router.get("/collections")
def collections(request: Request) -> JSONResponse:
    base = _base(request)
    return _json(
        {
            "links": [{"rel": "self", "href": f"{base}/collections", "type": JSON}],
            "collections": [_collection_doc(base, c) for c in uc.COLLECTIONS.values()],
        }
    )


@router.get("/collections/{collection_id}")
def one_collection(request: Request, collection_id: str) -> JSONResponse:
    return _json(_collection_doc(_base(request), uc.collection(collection_id)))


@router.get("/collections/{collection_id}/queryables")
def queryables(request: Request, collection_id: str) -> JSONResponse:
    c = uc.collection(collection_id)
    props: dict[str, Any] = {
        name: {"type": "integer" if name in uc.INT_PROPERTIES else "string"} for name in c.queryables
    }
    if c.date_property:
        props[c.date_property] = {"type": "string", "format": "date"}
    return JSONResponse(
        {
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": f"{_base(request)}/collections/{c.id}/queryables",
            "type": "object",
            "properties": props,
        },
        media_type="application/schema+json",
    )


def _swap(coords: Any) -> Any:
    if coords and isinstance(coords[0], (int, float)):
        return [coords[1], coords[0], *coords[2:]]
    return [_swap(c) for c in coords]


def _feature(f: dict[str, Any], c: uc.Collection, out: uc.OutputCrs, base: str) -> dict[str, Any]:
    if out.lat_first:
        in_properties = c.resource.geometries_in_properties if c.resource is not None else ()
        for geom in (f["geometry"], *(f["properties"].get(g) for g in in_properties)):
            if geom and "coordinates" in geom:
                geom["coordinates"] = _swap(geom["coordinates"])
    f["links"] = [{"rel": "self", "href": f"{base}/collections/{c.id}/items/{f['id']}", "type": GEOJSON}]
    return f


def _zones(
    request: Request,
    engine: Engine,
    settings: Settings,
    principal: Principal,
    adcode: str | None,
    fid: str | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """The four-colour zones of `adcode` (or of the default areas), within the four-colour limits; with `fid`
    only the zone of that code, looked for in its parent's map too."""
    out: list[dict[str, Any]] = []
    with within_limits(request, settings, principal), engine.connect() as conn:
        areas = uc.zone_areas(conn, principal, adcode)
        if fid is not None and adcode is None:
            parent = uc.zone_parent(conn, principal, fid)
            areas = [parent] if parent else areas
        for code in areas:
            params = make_params(code)
            admit(conn, principal, params, settings)
            out.extend(uc.zone_items(conn, principal, params, settings, **kwargs))
    return out


@router.get("/collections/{collection_id}/items")
def items(
    request: Request,
    collection_id: str,
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    limit: Annotated[int | None, Query(ge=1)] = None,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    bbox: str | None = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
    crs: str | None = None,
    datetime: str | None = None,
    adcode: Annotated[
        str | None, Query(max_length=12, description="only this jurisdiction's subtree; the zones of its map")
    ] = None,
) -> Response:
    c = uc.collection(collection_id)
    out = uc.output_crs(crs)
    # The server caps the page (OGC API – Features §7.15.3): a client asking for more gets next links.
    size = min(limit or settings.api.default_page_size, settings.api.max_page_size)
    storage_bbox = None
    if bbox is not None:
        storage_bbox = _parse_bbox(bbox, uc.output_crs(bbox_crs, "bbox-crs"))
    filters = uc.property_filters(c, request.query_params)
    ranges = uc.datetime_range(c, datetime)
    if c.kind == "zones":
        zones = _zones(
            request,
            engine,
            settings,
            principal,
            adcode,
            crs=out.compute_in,
            bbox=storage_bbox,
            filters=filters,
        )
        page = uc.Items(zones[offset : offset + size], len(zones))
    else:
        page = uc.list_items(
            engine,
            principal,
            c,
            out.compute_in,
            bbox=storage_bbox,
            filters=filters,
            ranges=ranges,
            limit=size,
            offset=offset,
            adcode=adcode,
        )
    base = _base(request)
    links = [{"rel": "self", "href": str(request.url), "type": GEOJSON}]
    if offset + size < page.total:
        nxt = request.url.include_query_params(offset=offset + size, limit=size)
        links.append({"rel": "next", "href": str(nxt), "type": GEOJSON})
    if offset > 0:
        prev = request.url.include_query_params(offset=max(0, offset - size), limit=size)
        links.append({"rel": "prev", "href": str(prev), "type": GEOJSON})
    links.append({"rel": "collection", "href": f"{base}/collections/{c.id}", "type": JSON})
    body = {
        "type": "FeatureCollection",
        "features": [_feature(f, c, out, base) for f in page.features],
        "numberMatched": page.total,
        "numberReturned": len(page.features),
        "links": links,
    }
    response = conditional(request, body)
    response.headers["Content-Crs"] = f"<{out.uri}>"
    return response


@router.get("/collections/{collection_id}/items/{fid}")
def item(
    request: Request,
    collection_id: str,
    fid: str,
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    crs: str | None = None,
    adcode: Annotated[str | None, Query(max_length=12)] = None,
) -> Response:
    c = uc.collection(collection_id)
    out = uc.output_crs(crs)
    if c.kind == "zones":
        zones = _zones(request, engine, settings, principal, adcode, fid, crs=out.compute_in)
        found = [z for z in zones if z["id"] == fid]
        if not found:
            raise NotFound(f"no feature {fid!r} in {c.id}")
        f = found[0]
    else:
        f = uc.get_item(engine, principal, c, fid, out.compute_in)
    response = conditional(request, _feature(f, c, out, _base(request)))
    response.headers["Content-Crs"] = f"<{out.uri}>"
    return response


def _parse_bbox(text: str, crs: uc.OutputCrs) -> tuple[float, float, float, float]:
    try:
        parts = [float(v) for v in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) == 6:  # 3D bbox: drop the heights
        parts = [parts[0], parts[1], parts[3], parts[4]]
    if len(parts) != 4:
        raise InvalidInput.one(
            "bbox", "expected four numbers (lower corner, upper corner)", "bbox 应为四个数"
        )
    if crs.lat_first:
        parts = [parts[1], parts[0], parts[3], parts[2]]
    minx, miny, maxx, maxy = parts
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidInput.one("bbox", "needs lower corner ≤ upper corner, in degrees", "bbox 范围无效")
    if crs.compute_in == InputCrs.cgcs2000:
        return minx, miny, maxx, maxy
    return _storage_bbox((minx, miny, maxx, maxy), crs.compute_in)
