"""The app factory: wires settings, the database engine, error handlers and routers together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import text

from api import auth, errors, limits
from api.deps import EngineDep
from api.routers import (
    analysis,
    closeouts,
    enterprises,
    exports,
    history,
    imports,
    joint_prevention,
    jurisdictions,
    maps,
    protection_targets,
    risk_units,
    safety,
    vocabularies,
)
from api.settings import Settings
from geo.store.engine import make_engine
from maps import assets

DESCRIPTION = """
Regional 红橙黄蓝 safety-risk register and maps for the dual prevention mechanism
(安全风险分级管控和隐患排查治理双重预防机制).

Geometries are GeoJSON in CGCS2000 lon/lat (EPSG:4490) unless a request names another `crs`
(`wgs84`, `gcj02` for AMap/Tencent, `bd09` for Baidu); they are converted on the way in and out.
Errors are JSON `{"detail": …, "errors": [{"field": …, "reason": …}]}`.

Sign in with **Authorize**: a username and password (OAuth2 password flow; `riskmap users add`, or the
demo users `riskmap demo` prints) or an API key (`X-API-Key`, from `riskmap users key`). Without
credentials you are the public: published maps (`public=true`) and aggregated statistics only.
Regulators see and edit their jurisdictions; enterprise users their own enterprise and risk units.
Rows outside your scope are 404; actions your role may not take are 403 (401 when not signed in).
Too many failed sign-ins for a username or from an address are 429, with `Retry-After`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = make_engine(
            settings.db.sqlalchemy_url,
            pool_size=settings.db.pool_size,
            statement_timeout_ms=settings.db.statement_timeout_ms,
        )
        try:
            yield
        finally:
            app.state.engine.dispose()

    app = FastAPI(title=settings.api.title, description=DESCRIPTION, version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.signing_key = settings.auth.signing_key()  # production refuses to start with a weak secret
    app.state.login_limiter = auth.login_limiter(settings.auth)  # failed sign-ins, in this process
    errors.install(app)
    limits.install(app, settings)  # body size, cost and time limits (docs/security.md)
    if settings.api.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.api.cors_origins, allow_methods=["*"])
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
        imports,
        exports,
    ):
        app.include_router(module.router)
    # Leaflet and its plugins come from our own server: government networks are often closed.
    assets.mount(app, settings.maps.asset_prefix)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/api/v1/health", tags=["service"], summary="Is the service up and the database reachable?")
    def health(engine: EngineDep) -> JSONResponse:
        with engine.connect() as conn:
            postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar()
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        body: dict[str, Any] = {"status": "ok", "postgis": postgis, "schema_revision": revision}
        return JSONResponse(body)

    return app
