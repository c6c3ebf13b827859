"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import Engine

from api.settings import Settings
from geo.coords import InputCrs, parse_crs
from geo.errors import InvalidInput


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]


def crs_param(
    crs: Annotated[
        str,
        Query(
            description="Coordinate system of the geometries sent and returned: cgcs2000 (EPSG:4490, "
            "stored), wgs84, gcj02 (AMap/Tencent) or bd09 (Baidu)."
        ),
    ] = "cgcs2000",
) -> InputCrs:
    return parse_crs(crs, "crs")


CrsDep = Annotated[InputCrs, Depends(crs_param)]


def bbox_param(
    bbox: Annotated[
        str | None,
        Query(
            description="minlon,minlat,maxlon,maxlat in the request's crs", examples=["118.7,25.0,119.1,25.3"]
        ),
    ] = None,
) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    try:
        parts = [float(v) for v in bbox.split(",")]
    except ValueError:
        raise InvalidInput.one(
            "bbox", "expected four numbers minlon,minlat,maxlon,maxlat", "bbox 应为四个数"
        ) from None
    if len(parts) != 4:
        raise InvalidInput.one("bbox", "expected four numbers minlon,minlat,maxlon,maxlat", "bbox 应为四个数")
    minx, miny, maxx, maxy = parts
    if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
        raise InvalidInput.one(
            "bbox", "needs -180 ≤ minlon < maxlon ≤ 180 and -90 ≤ minlat < maxlat ≤ 90", "bbox 范围无效"
        )
    return minx, miny, maxx, maxy


BboxDep = Annotated[tuple[float, float, float, float] | None, Depends(bbox_param)]
