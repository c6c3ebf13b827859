"""Served maps: the interactive four-colour map (HTML) and its print version (PNG, PDF)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection

from api import limits, response_cache
from api.auth import PrincipalDep
from api.deps import EngineDep, SettingsDep, four_colour_params
from api.limits import admit_four_colour as admit
from api.limits import four_colour_frame as within_limits
from api.schemas import PDF, file_response
from api.usecases.four_colour import FourColourParams, four_colour_folium, gather, print_map, resolve_zones
from geo import deadline
from geo.closeout import today as beijing_today  # the page marks overdue hazards: a new day, a new page

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
) -> Response:
    """`public=true` is the published map anyone may see; the full map (enterprises, risk areas, people,
    open hidden hazards) is for admins and the jurisdiction's regulators. Zones default to the children when
    loaded, else a grid that suits the area (the legend says which and why); zones are named on the map."""

    def make(conn: Connection) -> bytes:
        resolved = resolve_zones(conn, params)
        admit(conn, principal, resolved, settings)
        m, _ = four_colour_folium(conn, principal, resolved, settings, public=public)
        page = m.get_root().render()
        deadline.check()
        return page.encode()

    tables = response_cache.PUBLIC_PAGE_TABLES if public else response_cache.FULL_PAGE_TABLES
    return response_cache.respond(
        request, engine, settings, principal, ("four-colour page", params, public, beijing_today()), make,
        tables=tables, media_type="text/html; charset=utf-8", weak=True,
        frame=lambda: within_limits(request, settings, principal),
    )  # fmt: skip


def _print(
    request: Request,
    params: FourColourParams,
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    fmt: str,
) -> bytes:
    with within_limits(request, settings, principal):
        with engine.connect() as conn:
            params = resolve_zones(conn, params)
            admit(conn, principal, params, settings)
            data = gather(conn, principal, params, settings, public=True)  # zones only, as the published map
        deadline.check()
        return print_map(data, settings, fmt=fmt)


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
