"""Limits of one request (docs/security.md, Limits): a body-size cap before authentication, a cost
checked before an expensive request starts work, a time limit on that work (Python and SQL), at most
`max_concurrent` expensive requests at once per process, and work stopped when the client leaves.

Routers use it as::

    with limits.expensive(request, settings, principal, hint=..., hint_zh=...):   # 429, time limit
        with engine.connect() as conn:
            limits.refuse_over(settings, principal, estimate, field=..., ...)   # 422 before work
            deadline.apply(conn)          # the time left becomes the transaction's statement_timeout
            ...                           # long Python loops call geo.deadline.check()
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import anyio.from_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.settings import Settings
from geo import deadline
from geo.access import Principal
from geo.deadline import ClientGone, TimedOut
from geo.errors import InvalidInput, Problem, RateLimited
from geo.store.limits import Estimate, estimate
from geo.store.repository import require_area

log = logging.getLogger("riskmap.api")

# --- request bodies ---------------------------------------------------------------------------------------


def _too_large(limit: int) -> JSONResponse:
    reason = f"the request body is larger than the limit of {limit} bytes ({limit / 2**20:.0f} MB)"
    return JSONResponse(
        {
            "detail": f"body: {reason}; send large registers as a file to POST /api/v1/imports",
            "errors": [
                {"field": "body", "reason": reason, "reason_zh": "请求体超过大小限制，大批数据请用文件导入"}
            ],
        },
        status_code=413,
    )


class LimitBody:
    """ASGI guard: a request body over the limit is 413 before anything reads it whole, and so before
    authentication: a declared Content-Length over it at once, a streamed one as soon as it passes it.
    Multipart uploads (POST /api/v1/imports) have the import limit (`RISKMAP_IMPORT_MAX_UPLOAD_BYTES`),
    every other body `RISKMAP_LIMIT_MAX_BODY_BYTES`."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes + 64 * 1024  # the multipart envelope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data")
        limit = self.max_upload if multipart else self.max_body
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        over = False  # the body passed the limit: whatever the app answers, the client gets 413
        replaced = False

        async def counted() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True  # read no further: the app sees the client leave
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal replaced
            if not over:
                await send(message)
            elif not replaced and message["type"] == "http.response.start":
                replaced = True
                await _too_large(limit)(scope, receive, send)

        try:
            await self.app(scope, counted, watched)
        except Exception:
            if not over:
                raise
        if over and not replaced:
            await _too_large(limit)(scope, receive, send)


# --- expensive requests -----------------------------------------------------------------------------------

# The answers of an expensive route beyond its own, for its OpenAPI entry (`responses=limits.RESPONSES`).
RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"description": "over the role's cost caps (or invalid): the error names the field and what to ask"},
    429: {"description": "the process runs as many expensive requests as it may; try again (Retry-After)"},
    503: {"description": "the request took longer than the role's time limit and was stopped"},
}


def _role(principal: Principal) -> str:
    return str(principal.role)


@contextmanager
def expensive(
    request: Request, settings: Settings, principal: Principal, *, hint: str = "", hint_zh: str = ""
) -> Iterator[deadline.Deadline]:
    """The frame of an expensive request, run in the endpoint (a sync endpoint's worker thread): a place
    among `max_concurrent` (429 when none is free), the role's time limit (503 naming `hint` when it
    passes, for SQL too once `deadline.apply(conn)` ran), the work stopped when the client leaves."""
    slots: threading.BoundedSemaphore = request.app.state.expensive_slots
    if not slots.acquire(blocking=False):
        raise RateLimited(
            f"the server is busy with {settings.limits.max_concurrent} large maps or analyses; try again "
            "shortly; 服务器正忙，请稍后再试",
            retry_after=5,
        )
    try:
        seconds = settings.limits.for_role("seconds", _role(principal))
        with deadline.deadline(seconds, hint=hint, hint_zh=hint_zh, gone=_disconnected(request)) as d:
            try:
                yield d
            except DBAPIError as exc:
                if type(exc.orig).__name__ == "QueryCanceled" or "statement timeout" in str(exc.orig):
                    raise d.timed_out() from None
                raise
    finally:
        slots.release()


def _disconnected(request: Request) -> Callable[[], bool] | None:
    """Whether the client left, asked of the event loop from the worker thread (None outside one)."""

    def gone() -> bool:
        try:
            return bool(anyio.from_thread.run(request.is_disconnected))
        except RuntimeError:  # not in a worker thread of the event loop (e.g. called directly)
            return False

    return gone


def refuse_over(
    settings: Settings,
    principal: Principal,
    cost: Estimate | None,
    *,
    field: str,
    instead: str,
    instead_zh: str,
) -> None:
    """422 before any work when `cost` is over the role's caps (zones; zones × units), naming `field` and
    what to ask instead. None (an unknown area) passes: the use case says 404."""
    if cost is None:
        return
    role = _role(principal)
    max_zones = int(settings.limits.for_role("max_zones", role))
    max_work = settings.limits.for_role("max_zone_units", role)
    if cost.zones <= max_zones and cost.work <= max_work:
        return
    if cost.zones > max_zones:
        why = f"about {cost.zones} zones, more than the {max_zones} a {role} request may have"
        why_zh = f"约 {cost.zones} 个分区，超过 {max_zones} 个的上限"
    else:
        why = (
            f"about {cost.zones} zones × {cost.units} risk units = {cost.work:.3g}, more than the "
            f"{max_work:.3g} a {role} request may cover"
        )
        why_zh = f"分区数 × 风险点数约 {cost.work:.3g}，超过 {max_work:.3g} 的上限"
    raise InvalidInput(
        [Problem(field, f"this request would make {why}; {instead}", f"{why_zh}；{instead_zh}")]
    )


def four_colour_cost(conn: Connection, settings: Settings, principal: Principal, params: Any) -> None:
    """The caps of a four-colour map or analysis (`api.usecases.four_colour.FourColourParams`), checked before work."""
    cost = estimate(conn, params.adcode, params.zones, cell_m=params.cell_m, h3_res=params.h3_res)
    if cost is None:
        return
    role = _role(principal)
    max_zones = settings.limits.for_role("max_zones", role)
    max_work = settings.limits.for_role("max_zone_units", role)
    allowed = min(max_zones, max_work / max(cost.units, 1))
    if params.zones == "h3":
        coarser = [r for r in range(params.h3_res - 1, 3, -1) if cost.h3_zones(r) <= allowed]
        field = "h3_res"
        instead = (
            f"ask for h3_res={coarser[0]} or coarser, " if coarser else ""
        ) + "a smaller area (adcode of a city or county), or zones=children"
        instead_zh = (
            f"请改用 h3_res={coarser[0]} 或更粗，" if coarser else "请"
        ) + "缩小范围或改用 zones=children"
    elif params.zones == "grid":
        sizes = (200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000)
        nice = next((c for c in sizes if c > params.cell_m and cost.grid_zones(c) <= allowed), None)
        field = "cell_m"
        instead = (f"ask for cell_m={nice} or larger, " if nice else "") + (
            "a smaller area (adcode of a city or county), or zones=children"
        )
        instead_zh = (f"请改用 cell_m={nice} 或更大，" if nice else "请") + "缩小范围或改用 zones=children"
    else:
        field = "adcode"
        instead = "ask for a smaller area (the adcode of a city or county)"
        instead_zh = "请缩小范围（市或县的行政区划代码）"
    refuse_over(settings, principal, cost, field=field, instead=instead, instead_zh=instead_zh)


def json_pieces(
    body: dict[str, Any], key: str = "features", media_type: str = "application/json"
) -> Response:
    """`body` as JSONResponse would encode it, but the list under `key` one item per json.dumps call: one
    call over tens of MB holds the GIL for a second and stalls every other request of the process (and the
    time limit is checked every 1,000 items)."""

    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))

    items = body[key]
    parts = [dumps({k: v for k, v in body.items() if k != key})[:-1], f',"{key}":[']
    for n, item in enumerate(items):
        if n % 1000 == 0:
            deadline.check()
        parts.append(("," if n else "") + dumps(item))
    parts.append("]}")
    return Response("".join(parts).encode("utf-8"), media_type=media_type)


# --- errors -----------------------------------------------------------------------------------------------


def _timed_out(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TimedOut)
    errors = (
        [{"field": "request", "reason": exc.hint, "reason_zh": exc.hint_zh or "请求超时"}] if exc.hint else []
    )
    return JSONResponse({"detail": exc.message, "errors": errors}, status_code=503)


def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    log.info("stopped %s: the client left", request.url.path)
    return JSONResponse({"detail": str(exc), "errors": []}, status_code=499)


def install(app: FastAPI, settings: Settings) -> None:
    app.state.expensive_slots = threading.BoundedSemaphore(settings.limits.max_concurrent)
    app.add_middleware(
        LimitBody,
        max_body_bytes=settings.limits.max_body_bytes,
        max_upload_bytes=settings.imports.max_upload_bytes,
    )
    app.add_exception_handler(TimedOut, _timed_out)
    app.add_exception_handler(ClientGone, _client_gone)


def four_colour_frame(
    request: Request, settings: Settings, principal: Principal
) -> AbstractContextManager[deadline.Deadline]:
    """The frame of a four-colour request (`api.limits.expensive`): a place among the expensive requests
    (429), the role's time limit (503), saying what to ask for instead."""
    return expensive(
        request,
        settings,
        principal,
        hint="ask for fewer zones: a coarser h3_res, a larger cell_m, a smaller adcode or zones=children",
        hint_zh="请减少分区：更粗的 h3_res、更大的 cell_m、更小的范围或 zones=children",
    )


def admit_four_colour(conn: Connection, principal: Principal, params: Any, settings: Settings) -> None:
    """The checks before work: the area exists and is visible (404), then the cost caps (422)."""
    require_area(conn, principal, params.adcode, detail=False)
    four_colour_cost(conn, settings, principal, params)
    deadline.apply(conn)
