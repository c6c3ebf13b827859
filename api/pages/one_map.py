"""The one map (风险一张图), the workspace's home page: the jurisdiction's map with every layer its user may
see, a navigation bar, a search box and a side panel that shows what was clicked (register fields, level
and why, links to its history, register and analyses). Thin: parse → use case → respond."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import PrincipalDep
from api.deps import EngineDep, SettingsDep
from api.pages import STATIC_PREFIX, templates
from api.pages.signin import ROLE_ZH, _session_csrf
from api.usecases import one_map as usecase
from geo.access import Role, Unauthenticated
from geo.store import users
from maps.four_colour import _Text
from maps.one_map import legend_html

router = APIRouter(include_in_schema=False)
MAP = "/map"


@router.get(MAP, response_class=HTMLResponse)
def one_map_page(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    adcode: Annotated[str | None, Query(max_length=12, pattern=r"^\d{6,12}$")] = None,
    public: Annotated[bool, Query(description="the published map (zones and counts only)")] = False,
) -> Response:
    """`adcode` defaults to the user's first area. The public (no sign-in) may open the published map of
    any jurisdiction (`public=true&adcode=…`); everything else needs a sign-in."""
    if principal.is_public and not (public and adcode):
        raise Unauthenticated("sign in to open the map")
    with engine.connect() as conn:
        areas = users.workspace(conn, principal)["areas"] if not principal.is_public else []
        if adcode is None:
            if not areas:
                raise Unauthenticated("no area to show: sign in with an account that has a jurisdiction")
            adcode = str(areas[0]["adcode"])
        data = usecase.gather(conn, principal, adcode, settings, public=public or principal.is_public)
    m = usecase.draw(data, settings)
    figure = m.get_root()
    csrf = _session_csrf(request)
    chrome = templates.get_template("one_map.html").render(
        static=STATIC_PREFIX,
        csrf=csrf,
        user=None if principal.is_public else principal.username,
        role_zh=ROLE_ZH.get(principal.role, "公众"),
        public=data.public,
        adcode=adcode,
        name=data.name,
        zones_kind=data.zones_kind,
        zones_label=data.zones_label,
        notes=data.notes,
        areas=[a for a in areas if str(a["adcode"]) != adcode],
        legend_more=legend_html(settings.maps.palette_map()),
        regulator=principal.role in (Role.admin, Role.regulator),
    )
    head = (
        f'<link rel="stylesheet" href="{STATIC_PREFIX}/onemap.css">'
        f'<script src="{STATIC_PREFIX}/onemap.js"></script>'
    )
    if csrf:
        head += f'<meta name="csrf-token" content="{csrf}">'
    figure.header.add_child(_Text(head), name="riskmap_workspace_head")  # type: ignore[attr-defined]
    figure.html.add_child(_Text(chrome), name="riskmap_workspace_chrome")  # type: ignore[attr-defined]
    response = HTMLResponse(figure.render())
    response.headers["Cache-Control"] = "no-store"
    return response
