"""The one map (风险一张图), the workspace's home page: the jurisdiction's map with every layer its user may
see, a navigation bar, a search box and a side panel that shows what was clicked (register fields, level
and why, links to its history, register and analyses). Thin: parse → use case → respond.

The map (everything but the navigation bar and the panel, which name the user and carry the session's
CSRF token) is kept in the answer cache (`geo.store.answer_cache`) under the data's epochs, the user's
scope and the day: a write to any register table shows at the next request."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection, Engine

from api import response_cache
from api.auth import PrincipalDep
from api.deps import EngineDep, SettingsDep
from api.pages import STATIC_PREFIX, templates
from api.pages.signin import ROLE_ZH, _session_csrf
from api.settings import Settings
from api.usecases import one_map as usecase
from geo.access import Principal, Role, Unauthenticated
from geo.closeout import today as beijing_today
from geo.store import users
from geo.store.answer_cache import CACHE
from geo.store.tiles import scope_key
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
    published, code = public or principal.is_public, adcode

    def make(conn: Connection) -> bytes:
        data = usecase.gather(conn, principal, code, settings, public=published)
        said = {k: getattr(data, k) for k in ("name", "public", "zones_kind", "zones_label", "notes")}
        page = usecase.draw(data, settings).get_root().render()
        return json.dumps(said, ensure_ascii=False).encode() + b"\n" + page.encode()

    what = ("one map page", adcode, published, beijing_today())
    body = _cached(engine, settings, principal, what, make)
    said_line, page = body.split(b"\n", 1)
    said = json.loads(said_line)
    csrf = _session_csrf(request)
    chrome = templates.get_template("one_map.html").render(
        static=STATIC_PREFIX,
        csrf=csrf,
        user=None if principal.is_public else principal.username,
        role_zh=ROLE_ZH.get(principal.role, "公众"),
        adcode=adcode,
        areas=[a for a in areas if str(a["adcode"]) != adcode],
        legend_more=legend_html(settings.maps.palette_map()),
        regulator=principal.role in (Role.admin, Role.regulator),
        **said,
    )
    head = (
        f'<link rel="stylesheet" href="{STATIC_PREFIX}/onemap.css">'
        f'<script src="{STATIC_PREFIX}/onemap.js"></script>'
    )
    if csrf:
        head += f'<meta name="csrf-token" content="{csrf}">'
    # The head's links after the map's own, the chrome at the end of the body (Folium's page: head, body
    # with the map and its data (escaped), then the map's script).
    at_head = page.index(b"</head>")
    at_body = page.rindex(b"</body>")
    text = page[:at_head] + head.encode() + page[at_head:at_body] + chrome.encode() + page[at_body:]
    response = HTMLResponse(text)
    response.headers["Cache-Control"] = "no-store"
    return response


def _cached(
    engine: Engine,
    settings: Settings,
    principal: Principal,
    what: tuple[object, ...],
    make: Callable[[Connection], bytes],
) -> bytes:
    """The map's bytes from the answer cache, or made (and authorised) by `make`: an answer is kept only
    after `make` returned, under the principal's scope; every register table's writes move its epoch."""
    shown = hashlib.sha256((settings.maps.model_dump_json() + settings.analysis.model_dump_json()).encode())
    key = ("answer", response_cache.VERSION, shown.hexdigest()[:16], what, scope_key(principal))
    answer = CACHE.answer(engine, key, make)
    if answer.body is None:  # only an If-None-Match gets none, and none is asked
        raise RuntimeError("the answer cache gave no body")
    return answer.body
