"""The register as OGC API – Features collections (Part 1 Core, Part 2 CRS by reference, Part 3 simple
filters): which tables are collections, their queryable properties and date property, and reading items
in the principal's scope through `repository.list_features` / `get_feature`, the hazard store's
`list_hazards` / `get_hazard` and the four-colour use case (no scope logic here)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import shapely
from fastapi.encoders import jsonable_encoder
from sqlalchemy import Connection, Engine

from api.settings import Settings
from api.usecases import four_colour
from api.usecases.four_colour import FourColourParams
from geo.access import SYSTEM, Principal
from geo.closeout import today as beijing_today
from geo.coords import InputCrs, from_storage_xy
from geo.errors import InvalidInput, NotFound
from geo.geometry import to_geojson
from geo.hazards import GRADE_ZH, STATUS_ZH, Grade, Status
from geo.store import hazards as hazard_store
from geo.store import repository as repo
from geo.store import users

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
CRS_URIS = (CRS84, EPSG_4490, EPSG_4326)
ZONES = "four-colour-zones"


@dataclass(frozen=True)
class OutputCrs:
    """A CRS by reference: the coordinates it is computed in, and whether its axis order is lat/lon
    (EPSG:4490 and EPSG:4326 are latitude first; CRS84 is longitude first)."""

    uri: str
    compute_in: InputCrs
    lat_first: bool


OUTPUT_CRS = {
    CRS84: OutputCrs(CRS84, InputCrs.wgs84, lat_first=False),
    EPSG_4490: OutputCrs(EPSG_4490, InputCrs.cgcs2000, lat_first=True),
    EPSG_4326: OutputCrs(EPSG_4326, InputCrs.wgs84, lat_first=True),
}


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    resource: repo.Resource | None  # a register table; None for the zones and hazards below
    queryables: tuple[str, ...]
    date_property: str | None
    fixed: Mapping[str, Any] = field(default_factory=dict)
    kind: str = (
        "register"  # register | zones (four-colour, public) | hazards (隐患, scoped as /api/v1/hazards)
    )
    key_is_int: bool = True


COLLECTIONS = {
    c.id: c
    for c in (
        Collection(
            "enterprises",
            "Enterprises 企业",
            "生产经营单位 with their register fields",
            repo.ENTERPRISES,
            ("sector", "jurisdiction_adcode"),
            "updated_at",
        ),
        Collection(
            "risk-units",
            "Risk units 风险点",
            "风险点 / 风险区域 of enterprises and public areas, with level 1 重大 … 4 低",
            repo.RISK_UNITS,
            ("level", "kind", "enterprise_id", "jurisdiction_adcode"),
            "assessed_on",
        ),
        Collection(
            "public-area-risks",
            "Public-area risks 公共区域风险",
            "risk units of public areas (kind = public_area)",
            repo.RISK_UNITS,
            ("level", "sector", "jurisdiction_adcode"),
            "assessed_on",
            fixed={"kind": "public_area"},
        ),
        Collection(
            "protection-targets",
            "Protection targets 防护目标",
            "防护目标 with their GB 36894 class",
            repo.PROTECTION_TARGETS,
            ("type", "gb_class", "jurisdiction_adcode"),
            "updated_at",
        ),
        Collection(
            "jurisdictions",
            "Jurisdictions 行政区划",
            "administrative units, parks and grids (public)",
            repo.JURISDICTIONS,
            ("level", "parent_adcode"),
            None,
            key_is_int=False,
        ),
        Collection(
            ZONES,
            "Four-colour zones 四色分区",
            "the regional 红橙黄蓝 map: the default zones of `adcode` (of your areas, or the top-level units, "
            "when absent) with level, colour and counts by level (public)",
            None,
            ("level",),
            None,
            kind="zones",
            key_is_int=False,
        ),
        Collection(
            "hazards",
            "Hidden hazards 隐患",
            "隐患 with their grade and state, as /api/v1/hazards shows them to you",
            None,
            ("status", "grade", "enterprise_id", "risk_unit_id"),
            None,
            kind="hazards",
        ),
    )
}

INT_PROPERTIES = frozenset({"level", "enterprise_id", "risk_unit_id"})


def collection(collection_id: str) -> Collection:
    found = COLLECTIONS.get(collection_id)
    if found is None:
        raise NotFound(f"no collection {collection_id!r}; the collections are {', '.join(COLLECTIONS)}")
    return found


def output_crs(value: str | None, name: str = "crs") -> OutputCrs:
    if value is None or not value.strip():
        return OUTPUT_CRS[CRS84]
    found = OUTPUT_CRS.get(value.strip().strip("[]<>"))
    if found is None:
        raise InvalidInput.one(name, f"expected one of {', '.join(CRS_URIS)}", "不支持的坐标参考系")
    return found


def property_filters(c: Collection, params: Mapping[str, str]) -> dict[str, Any]:
    """Equality filters from the query (Part 3 queryables); the collection's fixed filters on top."""
    out: dict[str, Any] = {}
    for name in c.queryables:
        value = params.get(name)
        if value is None:
            continue
        if name in INT_PROPERTIES and c.resource is not repo.JURISDICTIONS:
            if not value.lstrip("-").isdigit():
                raise InvalidInput.one(name, "expected an integer", "应为整数")
            out[name] = int(value)
        else:
            out[name] = value
    out.update(c.fixed)
    return out


def _instant(text: str, name: str) -> dt.date | None:
    if text in ("", ".."):
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise InvalidInput.one(
            name,
            "expected a date or interval like 2024-01-01/2024-12-31 (.. for an open end)",
            "日期格式无效",
        ) from None


def datetime_range(c: Collection, value: str | None) -> dict[str, tuple[Any, Any]]:
    """The `datetime` parameter as a closed interval on the collection's date property (days)."""
    if value is None:
        return {}
    if c.date_property is None:
        raise InvalidInput.one("datetime", f"collection {c.id} has no date property", "该集合无日期属性")
    if "/" in value:
        low_text, high_text = value.split("/", 1)
        low, high = _instant(low_text, "datetime"), _instant(high_text, "datetime")
    else:
        low = high = _instant(value, "datetime")
    if c.date_property.endswith("_at"):  # a timestamp: the whole of the last day
        high_ts = dt.datetime.combine(high + dt.timedelta(days=1), dt.time()) if high else None
        return {c.date_property: (low, high_ts)}
    return {c.date_property: (low, high)}


@dataclass
class Items:
    features: list[dict[str, Any]]  # GeoJSON, lon/lat in the page's CRS
    total: int


def _register_feature(row: Mapping[str, Any], res: repo.Resource, crs: InputCrs) -> dict[str, Any]:
    from api.features import feature

    return feature(row, res, crs)


def _hazard_feature(row: Mapping[str, Any], crs: InputCrs) -> dict[str, Any]:
    props = {k: v for k, v in row.items() if k not in ("lon", "lat")}
    props["status_zh"] = STATUS_ZH[Status(row["status"])]
    props["grade_zh"] = GRADE_ZH[Grade(row["grade"])]
    lon, lat = from_storage_xy(row["lon"], row["lat"], crs)
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": {"type": "Point", "coordinates": [round(float(lon), 7), round(float(lat), 7)]},
        "properties": jsonable_encoder(props),
    }


def _hazard_filters(filters: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: filters[k] for k in ("enterprise_id", "risk_unit_id") if k in filters}
    for name, enum in (("status", Status), ("grade", Grade)):
        if name in filters:
            try:
                out[name] = enum(filters[name])
            except ValueError:
                allowed = ", ".join(e.value for e in enum)
                raise InvalidInput.one(name, f"expected one of {allowed}", "取值无效") from None
    return out


def list_items(
    engine: Engine,
    principal: Principal,
    c: Collection,
    crs: InputCrs,
    *,
    bbox: tuple[float, float, float, float] | None,
    filters: Mapping[str, Any],
    ranges: Mapping[str, tuple[Any, Any]],
    limit: int,
    offset: int,
    adcode: str | None = None,
) -> Items:
    """A page of a register or hazards collection, in the principal's scope (`adcode`: only rows in that
    jurisdiction's subtree, as in /api/v1)."""
    with engine.connect() as conn:
        if c.kind == "hazards":
            rows, total = hazard_store.list_hazards(
                conn, principal, as_of=beijing_today(), adcode=adcode, bbox=bbox, limit=limit, offset=offset,
                **_hazard_filters(filters),
            )  # fmt: skip
            return Items([_hazard_feature(r, crs) for r in rows], total)
        assert c.resource is not None
        page = repo.list_features(
            conn, principal, c.resource, adcode=adcode, bbox=bbox, filters=filters, ranges=ranges,
            limit=limit, offset=offset,
        )  # fmt: skip
    return Items([_register_feature(r, c.resource, crs) for r in page.rows], page.total)


def get_item(engine: Engine, principal: Principal, c: Collection, fid: str, crs: InputCrs) -> dict[str, Any]:
    key: Any = fid
    if c.key_is_int:
        if not fid.isdigit() or len(fid) > 18:
            raise NotFound(f"no feature {fid!r} in {c.id}")
        key = int(fid)
    with engine.connect() as conn:
        if c.kind == "hazards":
            return _hazard_feature(hazard_store.get_hazard(conn, principal, key, as_of=beijing_today()), crs)
        assert c.resource is not None
        row = repo.get_feature(conn, principal, c.resource, key)
    if any(row.get(k) != v for k, v in c.fixed.items()):
        raise NotFound(f"no feature {fid!r} in {c.id}")
    return _register_feature(row, c.resource, crs)


# --- four-colour zones -----------------------------------------------------------------------------------------


def zone_areas(conn: Connection, principal: Principal, adcode: str | None) -> list[str]:
    """The jurisdictions whose default zones the collection shows: `adcode`, else the principal's areas that
    have child units (a regulator's jurisdictions, an enterprise's), else the top-level units loaded."""
    if adcode is not None:
        return [adcode]
    areas = users.workspace(conn, principal)["areas"] if not principal.is_public else []
    if not any(a["has_children"] for a in areas):
        areas = users.workspace(conn, SYSTEM)["areas"]  # the top-level units: public, like their zones
    return [a["adcode"] for a in areas if a["has_children"]]


def zone_parent(conn: Connection, principal: Principal, code: str) -> str | None:
    """The unit whose map has `code` as one of its (child) zones: its parent, when `code` is a stored unit."""
    try:
        row = repo.get_feature(conn, principal, repo.JURISDICTIONS, code)
    except NotFound:
        return None
    parent = row.get("parent_adcode")
    return str(parent) if parent else None


def zone_items(
    conn: Connection,
    principal: Principal,
    params: FourColourParams,
    settings: Settings,
    crs: InputCrs,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    filters: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The zones of one four-colour map as public features (level, colour, counts, area shares), those of
    `level` (a filter) crossing `bbox` (storage lon/lat) when given."""
    zones = four_colour.compute(conn, principal, params, settings)
    box = shapely.box(*bbox) if bbox is not None else None
    level = (filters or {}).get("level")
    out = []
    for f, geom in zip(four_colour.zone_features(zones, public=True), zones.geometry, strict=True):
        if level is not None and f["properties"]["level"] != level:
            continue
        if box is not None and not shapely.intersects(geom, box):
            continue
        f["geometry"] = to_geojson(geom, crs=crs)
        f["properties"]["adcode"] = params.adcode
        out.append(f)
    return out
