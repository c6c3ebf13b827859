"""The register as OGC API – Features collections (Part 1 Core, Part 2 CRS by reference, Part 3 simple
filters): which tables are collections, their queryable properties and date property, and reading items
in the principal's scope through `repository.list_features` / `get_feature` (no scope logic here)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from geo.access import Principal
from geo.coords import InputCrs
from geo.errors import InvalidInput, NotFound
from geo.store import repository as repo

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
CRS_URIS = (CRS84, EPSG_4490, EPSG_4326)


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
    resource: repo.Resource
    queryables: tuple[str, ...]
    date_property: str | None
    fixed: Mapping[str, Any] = field(default_factory=dict)


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
        ),
    )
}

INT_PROPERTIES = frozenset({"level", "enterprise_id"})


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


def list_items(
    engine: Engine,
    principal: Principal,
    c: Collection,
    *,
    bbox: tuple[float, float, float, float] | None,
    filters: Mapping[str, Any],
    ranges: Mapping[str, tuple[Any, Any]],
    limit: int,
    offset: int,
) -> repo.Page:
    with engine.connect() as conn:
        return repo.list_features(
            conn, principal, c.resource, bbox=bbox, filters=filters, ranges=ranges, limit=limit, offset=offset
        )


def get_item(engine: Engine, principal: Principal, c: Collection, fid: str) -> dict[str, Any]:
    key: Any = fid
    if c.resource.key == "id":
        if not fid.isdigit() or len(fid) > 18:
            raise NotFound(f"no feature {fid!r} in {c.id}")
        key = int(fid)
    with engine.connect() as conn:
        row = repo.get_feature(conn, principal, c.resource, key)
    if any(row.get(k) != v for k, v in c.fixed.items()):
        raise NotFound(f"no feature {fid!r} in {c.id}")
    return row
