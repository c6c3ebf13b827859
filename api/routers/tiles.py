"""Vector tiles (Mapbox Vector Tile, from PostGIS `ST_AsMVT`) and a TileJSON per layer.

`GET /tiles/{layer}/{z}/{x}/{y}.pbf`: the register layers as the caller may see them (`geo.store.tiles`),
and `zones`: the four-colour zones of `adcode` (its children, parks or grids) with level, colour and
counts, public like every aggregate. Strong ETags (304 on If-None-Match); tiles are cached in the
process until a write of a mapped table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Connection, Engine

from api import auth
from api.auth import CredentialsDep, PrincipalDep
from api.deps import EngineDep, SettingsDep
from api.schemas import BINARY_OF, TileJSON
from api.usecases.four_colour import FourColourParams, compute
from geo.errors import InvalidInput, NotFound
from geo.store import repository as repo
from geo.store import tiles as store
from geo.store.repository import get_jurisdiction_row

router = APIRouter(prefix="/tiles", tags=["tiles"])

MVT = "application/vnd.mapbox-vector-tile"
ZONE_KINDS = ("children", "parks", "grids")  # zones that are stored jurisdictions
LAYER_NAMES = (*store.LAYERS, "zones")
LayerName = Annotated[str, Path(description="one of " + ", ".join(LAYER_NAMES))]
Adcode = Annotated[
    str | None,
    Query(
        max_length=12,
        description="layer=zones: the jurisdiction whose zones are drawn; other layers: only the rows filed "
        "under this jurisdiction (its whole subtree)",
    ),
]
Zones = Annotated[str, Query(description="layer=zones: " + ", ".join(ZONE_KINDS))]


def _layer(name: str) -> store.Layer | None:
    if name == "zones":
        return None
    if name not in store.LAYERS:
        raise NotFound(f"no tile layer {name!r}; layers: {', '.join(LAYER_NAMES)}")
    return store.LAYERS[name]


def _check_tile(z: int, x: int, y: int) -> None:
    if not 0 <= z <= store.MAX_ZOOM:
        raise InvalidInput.one(
            "z", f"zoom must be 0–{store.MAX_ZOOM}", f"缩放级别应在 0–{store.MAX_ZOOM} 之间"
        )
    n = 2**z - 1
    for name, value in (("x", x), ("y", y)):
        if not 0 <= value <= n:
            raise InvalidInput.one(name, f"must be 0–{n} at zoom {z}", f"缩放级别 {z} 下应在 0–{n} 之间")


def _zone_args(conn: Connection, adcode: str | None, zones: str) -> str:
    if adcode is None:
        raise InvalidInput.one(
            "adcode", "the zones layer needs the adcode of a jurisdiction", "分区图层需要行政区划代码"
        )
    if zones not in ZONE_KINDS:
        raise InvalidInput.one(
            "zones",
            f"tiles draw zones {', '.join(ZONE_KINDS)}, not {zones!r}",
            f"瓦片不支持分区方式 {zones!r}",
        )
    return str(get_jurisdiction_row(conn, adcode)["adcode"])  # 404 when unknown


def _zone_table(frame: Any) -> store.ZoneTable:
    levels: list[int | None] = [None if pd.isna(v) else int(v) for v in frame["level"]]
    counts = [[int(c.get(k, c.get(str(k), 0))) for k in (1, 2, 3, 4)] for c in frame["counts"]]
    return store.ZoneTable(
        codes=[str(c) for c in frame["code"]],
        levels=levels,
        colors=[str(c) if lv else None for c, lv in zip(frame["color"], levels, strict=True)],
        counts=counts,
        unit_counts=[int(n) for n in frame["unit_count"]],
    )


@contextmanager
def _autocommit(engine: Engine) -> Iterator[Connection]:
    """A connection in autocommit, by psycopg2's own flag (client side: no round trip; SQLAlchemy's
    `isolation_level="AUTOCOMMIT"` cost one more when the level was reset at the connection's return)."""
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        if raw is None or not hasattr(raw, "autocommit"):  # another driver
            yield conn.execution_options(isolation_level="AUTOCOMMIT")
            return
        raw.autocommit = True
        try:
            yield conn
        finally:
            if not raw.closed:  # as the pool expects it back (a closed one is discarded)
                raw.autocommit = False


@router.get(
    "/{layer}/{z}/{x}/{y}.pbf",
    summary="A vector tile (MVT) of a layer",
    response_class=Response,
    responses={200: {"content": {MVT: BINARY_OF}}, 304: {"description": "not modified"}},
)
def tile(
    request: Request,
    engine: EngineDep,
    given: CredentialsDep,
    settings: SettingsDep,
    layer: LayerName,
    z: int,
    x: int,
    y: int,
    adcode: Adcode = None,
    zones: Zones = "children",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Web-Mercator XYZ tile of `layer`, extent 4096: risk units, enterprises, protection targets and open
    hidden hazards as the caller may read them (the public: none; 401), boundaries (`jurisdictions`) and
    four-colour `zones` of `adcode` (level, colour, counts n1–n4 and unit_count) for everyone."""
    _check_tile(z, x, y)
    chosen = _layer(layer)
    # One connection for the whole request: authentication, the jurisdiction of `adcode`, the cache's epoch
    # and the tile (a tile's own work is a few milliseconds at z12–z14: every round trip and checkout counts;
    # bench/results/tiles.md). A layer's tile reads in autocommit (each of its statements is read-only and
    # stands alone: no BEGIN and COMMIT round trips); the zones' four-colour answer in a transaction.
    with engine.begin() if chosen is None else _autocommit(engine) as conn:
        principal = auth.principal_on(conn, request, given)
        key: tuple[Any, ...]
        make: Callable[[Connection], Any]
        if chosen is None:
            code = _zone_args(conn, adcode, zones)
            key = ("zones", code, zones, z, x, y)
            params = FourColourParams(code, zones)

            def make(conn: Connection) -> bytes:
                table = _zone_table(compute(conn, principal, params, settings))
                return store.zones_tile(conn, table, z, x, y)

            public = True
        else:
            store.scope(principal, chosen)  # 401/403 before the cache is looked at
            public = chosen.resource is repo.JURISDICTIONS  # boundaries: the same rows for everyone
            within: str | None = None
            if adcode is not None:
                within = str(get_jurisdiction_row(conn, adcode)["adcode"])  # 404 when unknown
            key = (chosen.name, ("any",) if public else store.scope_key(principal), within, z, x, y)
            layer_def: store.Layer = chosen

            def make(conn: Connection) -> store.Made:
                return store.layer_tile_at(conn, principal, layer_def, z, x, y, adcode=within)

        body, tag, not_modified = store.cached(conn, key, make, if_none_match=if_none_match)
    headers = _cache_headers(tag, public=public)
    if not_modified:
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type=MVT, headers=headers)


def _cache_headers(tag: str | None, *, public: bool) -> dict[str, str]:
    if tag is None:
        return {"Cache-Control": "no-store"}
    # Revalidate every time (a write changes tiles at once); the ETag makes that a 304 without a body.
    return {
        "ETag": tag,
        "Cache-Control": ("public" if public else "private") + ", no-cache",
        "Vary": "Authorization, Cookie, X-API-Key",
    }


@router.get("/{layer}.json", summary="TileJSON 3.0 of a layer", response_model=TileJSON)
def tilejson(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    layer: LayerName,
    adcode: Adcode = None,
    zones: Zones = "children",
) -> JSONResponse:
    """The tile URL template, zoom range and attribute names of `layer` (for MapLibre, Leaflet plugins)."""
    chosen = _layer(layer)
    query = ""
    bounds = [-180.0, -85.05112878, 180.0, 85.05112878]
    if chosen is None:
        with engine.connect() as conn:
            code = _zone_args(conn, adcode, zones)
            box = conn.exec_driver_sql(
                "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM "
                "(SELECT ST_Extent(geom) AS b FROM jurisdictions WHERE adcode = %(a)s) e",
                {"a": code},
            ).first()
        if box is not None and box[0] is not None:
            bounds = [round(float(v), 7) for v in box]
        query = f"?adcode={code}&zones={zones}"
        fields = dict.fromkeys(store.ZONE_ATTRIBUTES, "")
        name = "zones"
    else:
        store.scope(principal, chosen)
        fields = dict.fromkeys([c.name for c in store.columns(chosen, chosen.table)], "")
        if chosen.cells:  # a cell of small features at low zooms (geo.store.tiles.layer_tile)
            fields.update(dict.fromkeys(("count", *(("n1", "n2", "n3", "n4") if chosen.graded else ())), ""))
        name = chosen.name
        if adcode is not None:
            with engine.connect() as conn:
                query = "?adcode=" + str(get_jurisdiction_row(conn, adcode)["adcode"])
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "tilejson": "3.0.0",
            "name": name,
            "scheme": "xyz",
            "tiles": [f"{base}/tiles/{name}/{{z}}/{{x}}/{{y}}.pbf{query}"],
            "minzoom": 0,
            "maxzoom": store.MAX_ZOOM,
            "bounds": bounds,
            "vector_layers": [{"id": name, "fields": fields, "minzoom": 0, "maxzoom": store.MAX_ZOOM}],
        }
    )
