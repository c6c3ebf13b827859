"""Served maps: the interactive four-colour map (HTML) and its print version (PNG, PDF)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api import limits
from api.auth import PrincipalDep
from api.deps import EngineDep, SettingsDep, four_colour_params
from api.limits import admit_four_colour as admit
from api.limits import four_colour_frame as within_limits
from api.schemas import PDF, file_response
from api.usecases.four_colour import FourColourParams, compute, four_colour_folium, title
from geo import deadline
from geo.store.summary import map_boundaries
from maps.print import four_colour_print

router = APIRouter(prefix="/maps", tags=["maps"])
ParamsDep = Annotated[FourColourParams, Depends(four_colour_params)]
PublicDep = Annotated[
    bool, Query(description="the public (上网) version: zones and counts only, no names, people or phones")
]


@router.get(
    "/four-color",
    response_class=HTMLResponse,
    summary="The interactive four-colour map",
    responses=limits.RESPONSES,
)
def four_colour_html(
    request: Request,
    params: ParamsDep,
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    public: PublicDep = False,
) -> HTMLResponse:
    """`public=true` is the published map anyone may see; the full map (enterprises, risk areas, people)
    is for admins and the jurisdiction's regulators."""
    with within_limits(request, settings, principal):
        with engine.connect() as conn:
            admit(conn, principal, params, settings)
            m, _ = four_colour_folium(conn, principal, params, settings, public=public)
        page = m.get_root().render()
        deadline.check()
    return HTMLResponse(page)


def _zones_zh(params: FourColourParams) -> str:
    return {
        "children": "下级行政区",
        "grid": f"{params.cell_m / 1000:g} 千米网格"
        if params.cell_m >= 1000
        else f"{params.cell_m:g} 米网格",
        "h3": f"H3 {params.h3_res} 级六边形",
        "parks": "园区",
        "grids": "网格",
    }[params.zones]


def _print(
    request: Request,
    params: FourColourParams,
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    fmt: str,
) -> bytes:
    with within_limits(request, settings, principal):
        return _print_within_limits(params, engine, settings, principal, fmt)


def _print_within_limits(
    params: FourColourParams, engine: EngineDep, settings: SettingsDep, principal: PrincipalDep, fmt: str
) -> bytes:
    with engine.connect() as conn:
        admit(conn, principal, params, settings)
        zones = compute(conn, principal, params, settings)  # zones only: public, as the published map
        boundaries = map_boundaries(conn, params.adcode)
        heading = title(conn, params)
        synthetic = bool(conn.exec_driver_sql("SELECT bool_or(synthetic) FROM enterprises").scalar())
    deadline.check()
    return four_colour_print(
        zones,
        boundaries=boundaries,
        title=heading,
        subtitle=f"分区：{_zones_zh(params)}　规则：{'就高' if params.rule == 'max' else '加权指数'}",
        data_source=settings.maps.data_source,
        date=dt.date.today(),
        palette=settings.maps.palette_map(),
        synthetic=synthetic,
        fmt=fmt,  # type: ignore[arg-type]
    )


@router.get(
    "/four-color.png",
    summary="The four-colour map for printing (上墙), PNG",
    response_class=Response,
    responses={**limits.RESPONSES, **file_response("image/png")},
)
def four_colour_png(
    request: Request, params: ParamsDep, engine: EngineDep, settings: SettingsDep, principal: PrincipalDep
) -> Response:
    return Response(_print(request, params, engine, settings, principal, "png"), media_type="image/png")


@router.get(
    "/four-color.pdf",
    summary="The four-colour map for printing (上墙), PDF",
    response_class=Response,
    responses={**limits.RESPONSES, **file_response(PDF)},
)
def four_colour_pdf(
    request: Request, params: ParamsDep, engine: EngineDep, settings: SettingsDep, principal: PrincipalDep
) -> Response:
    return Response(
        _print(request, params, engine, settings, principal, "pdf"),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="four-color-{params.adcode}.pdf"'},
    )
