"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import Engine

from api.settings import Settings
from api.usecases.four_colour import ZONE_DESCRIPTIONS, FourColourParams, make_params
from geo.coords import InputCrs, parse_crs
from geo.errors import InvalidInput
from geo.four_colour import RULES


# async: they only read the app's state, so no hop to the thread pool for them (a sync dependency takes one)
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
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


def four_colour_params(
    adcode: Annotated[str, Query(description="行政区划代码 of the jurisdiction mapped", examples=["350505"])],
    zones: Annotated[
        str | None, Query(description="; ".join(f"{k}: {v}" for k, v in ZONE_DESCRIPTIONS.items()))
    ] = None,
    cell_m: Annotated[float, Query(description="grid cell size in metres (100–50,000), zones=grid")] = 1000,
    h3_res: Annotated[int, Query(description="H3 resolution (4–10), zones=h3")] = 8,
    rule: Annotated[str, Query(description=" ".join(f"{k}: {v}" for k, v in RULES.items()))] = "max",
    weights: Annotated[
        str | None, Query(description="rule=weighted or density: weights of levels 1–4, e.g. 100,30,10,1")
    ] = None,
    breaks: Annotated[
        str | None,
        Query(
            description="rule=weighted: index thresholds of levels 1–3, e.g. 100,30,10; rule=density: per km², "
            "default 60,30,20 (data/four_colour_density.csv)"
        ),
    ] = None,
    levels: Annotated[
        str,
        Query(
            description="assessed: the register's levels; dynamic: a unit with open hidden hazards shown at the "
            "level they raise it to (data/dynamic_risk_rules.csv: an open 重大隐患 → 1, three open 一般隐患 → one "
            "up); each zone then says how many of its units were raised (raised_units)"
        ),
    ] = "assessed",
) -> FourColourParams:
    return make_params(adcode, zones, cell_m, h3_res, rule, weights, breaks, levels)
