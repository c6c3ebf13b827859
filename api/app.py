"""The app factory: wires settings, the database engine, error handlers and routers together."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api import auth, compression, errors, limits, observability, openapi, pages
from api.deps import EngineDep
from api.routers import (
    analysis,
    closeouts,
    enterprises,
    exports,
    hazards,
    history,
    imports,
    joint_prevention,
    jurisdictions,
    maps,
    ogc,
    protection_targets,
    reports,
    risk_units,
    roster,
    safety,
    search,
    tiles,
    vocabularies,
)
from api.schemas import Health
from api.security_headers import SecurityHeaders
from api.settings import Settings
from geo.boundaries import china_outline
from geo.io.tempfiles import sweep_stale
from geo.store import calendar
from geo.store.engine import make_engine
from maps import assets

log = logging.getLogger("riskmap.api")

DESCRIPTION = """
Regional 红橙黄蓝 safety-risk register and maps for the dual prevention mechanism
(安全风险分级管控和隐患排查治理双重预防机制).

Geometries are GeoJSON in CGCS2000 lon/lat (EPSG:4490) unless a request names another `crs`
(`wgs84`, `gcj02` for AMap/Tencent, `bd09` for Baidu); they are converted on the way in and out.
Errors are JSON `{"detail": …, "errors": [{"field": …, "reason": …, "reason_zh": …}], "request_id": …}`
(schema `ErrorBody`).

Sign in with **Authorize**: a username and password (OAuth2 password flow; `riskmap users add`, or the
demo users `riskmap demo` prints) or an API key (`X-API-Key`, from `riskmap users key`). In a browser,
sign in at [/login](/login): the session cookie then signs in the pages and the API, and a write signed in
by the cookie alone needs the session's CSRF token in `X-CSRF-Token` (`GET /api/v1/auth/session`; this
page adds it by itself). Without
credentials you are the public: published maps (`public=true`) and aggregated statistics only.
Regulators see and edit their jurisdictions; enterprise users their own enterprise and risk units.
Rows outside your scope are 404; actions your role may not take are 403 (401 when not signed in).
Too many failed sign-ins for a username from one address, or from one address, are 429, with `Retry-After`.

Conditional requests (RFC 9110): every row and list answer has a strong `ETag`; `GET` with `If-None-Match`
naming it is 304. `PATCH` and `DELETE` **require** `If-Match` (428 without): the `ETag` you read, or `*` for
whatever is stored; a changed row (or a weak `W/` tag, which never matches) is 412 and nothing is written.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The national outline every geometry is checked against takes seconds to make: made now, beside the
        # start, rather than by the first requests that need it (geo.boundaries.china_outline).
        threading.Thread(target=china_outline, name="china-outline", daemon=True).start()
        # Sync endpoints run in the thread pool of this event loop: at most this many at once (docs/operations.md).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api.worker_threads
        removed = sweep_stale()  # upload folders a killed process could not remove
        if removed:
            log.info("removed %d stale temporary folders of riskmap", len(removed))
        app.state.engine = make_engine(
            settings.db.sqlalchemy_url,
            pool_size=settings.db.pool_size,
            statement_timeout_ms=settings.db.statement_timeout_ms,
        )
        try:
            calendar.install(app.state.engine)  # holiday notices loaded after this release
        except SQLAlchemyError as exc:  # the database may be down at start: deadlines use the packaged table
            log.warning("working-day calendar: loaded notices not read (%s)", type(exc).__name__)
        try:
            yield
        finally:
            app.state.engine.dispose()

    # /docs and /redoc are our own pages (api/pages/docs.py): FastAPI's would load Swagger UI from a CDN.
    app = FastAPI(
        title=settings.api.title,
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        generate_unique_id_function=openapi.operation_id,  # listRiskUnits, createRiskUnit, …
    )
    app.state.settings = settings
    app.state.signing_key = settings.auth.signing_key()  # production refuses to start with a weak secret
    # Failed sign-ins, counted in the database: the limits hold across workers and restarts.
    app.state.login_limiter = auth.login_limiter(settings.auth, lambda: app.state.engine)
    errors.install(app)
    limits.install(app, settings)  # body size, cost and time limits (docs/security.md)
    if settings.api.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.api.cors_origins, allow_methods=["*"])
    app.add_middleware(SecurityHeaders)  # nosniff, referrer, framing; CSP with a nonce on HTML
    compression.install(app)  # gzip for text answers of 1 KB or more (outside the nonces, inside the log)
    observability.install(app)  # request id, JSON access log, /metrics, live and ready (outermost)
    for module in (
        auth,
        jurisdictions,
        enterprises,
        risk_units,
        protection_targets,
        vocabularies,
        analysis,
        maps,
        safety,
        joint_prevention,
        history,
        closeouts,
        hazards,
        roster,
        search,
        imports,
        exports,
        tiles,
        reports,
        ogc,
    ):
        app.include_router(module.router)
    app.include_router(hazards.inspections)
    app.include_router(hazards.analysis)
    # Leaflet and its plugins come from our own server: government networks are often closed.
    # Sign-in, sign-out, home and the API docs in the browser; a browser sent to /login instead of a 401.
    pages.install(app)
    # Leaflet and its plugins, Swagger UI and Redoc come from our own server: government networks are often
    # closed.
    assets.mount(app, settings.maps.asset_prefix)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(
            pages.LANDING
        )  # the one map, which sends a browser without a session to /login

    @app.get(
        "/api/v1/health",
        tags=["service"],
        summary="Is the service up and the database reachable?",
        response_model=Health,
    )
    def health(engine: EngineDep) -> JSONResponse:
        with engine.connect() as conn:
            postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar()
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        body: dict[str, Any] = {"status": "ok", "postgis": postgis, "schema_revision": revision}
        return JSONResponse(body)

    openapi.install(app)  # our error body on every error status, request examples
    return app
