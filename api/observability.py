"""Observability: a request id on every request, one JSON log line per request, Prometheus metrics, health.

- Request id: the `X-Request-ID` a proxy sent (letters, digits, `._-`, at most 64), else a new random one;
  returned in the `X-Request-ID` header of every response and as `request_id` in every JSON error body.
- Logs: logger `riskmap.access` writes one JSON object per request (`request_id`, method, path, route
  template, status, `duration_ms`, the principal's username and role, the client address) to standard error;
  `configure_logging` makes every `riskmap.*` logger write JSON lines.
- Metrics (prometheus-client): requests by route template, method and status, latency histograms by route,
  the database pool (checked out, idle, overflow), imports by outcome and conditional answers (304, 412).
  `GET /metrics` is for operators only: an admin, or `Authorization: Bearer <RISKMAP_METRICS_TOKEN>` when
  that token is set (for Prometheus). With several worker processes set `PROMETHEUS_MULTIPROC_DIR` (an
  empty folder, cleared at each start) and every worker's counts are summed.
- Health: `/api/v1/health/live` answers without the database (the process is up);
  `/api/v1/health/ready` is 200 only when the database answers and its schema is at this release's head.
"""

from __future__ import annotations

import gzip
import hmac
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.schemas import Liveness, Readiness
from geo.access import Forbidden, Principal, Role, Unauthenticated

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

access_log = logging.getLogger("riskmap.access")

REQUESTS = Counter(
    "riskmap_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "riskmap_http_request_duration_seconds",
    "Time to answer a request, by route template and method",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2.5, 5, 10, 30),
)
IMPORTS = Counter(
    "riskmap_imports", "Register file imports, by outcome (written, rejected, failed)", ["outcome"]
)
CONDITIONAL = Counter(
    "riskmap_conditional_responses",
    "Answers decided by ETags: not_modified (304, a client's cache was fresh) or precondition_failed (412)",
    ["result"],
)


class MetricsSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    token: SecretStr | None = Field(default=None, validation_alias="RISKMAP_METRICS_TOKEN")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """Every `riskmap.*` logger writes JSON lines to standard error (once per process)."""
    logger = logging.getLogger("riskmap")
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path is not None else "unmatched"  # unknown paths do not each make a series


class Observe:
    """ASGI middleware (outermost): request id, timing, the access log line and the HTTP metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        sent = dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
        request_id = sent if _VALID_ID.match(sent) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        held: Message | None = None  # the start of a JSON error, held until its body has the request id

        async def send_with_id(message: Message) -> None:
            nonlocal status, held
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
                content_type = dict(headers).get(b"content-type", b"")
                if status >= 400 and content_type.startswith(b"application/json"):
                    held = message
                    return
            elif message["type"] == "http.response.body" and held is not None:
                body = message.get("body", b"")
                if message.get("more_body"):  # an error body in pieces: pass it on as it is
                    await send(held)
                    held = None
                else:
                    gzipped = dict(held["headers"]).get(b"content-encoding", b"").strip() == b"gzip"
                    body = _with_request_id(body, request_id, gzipped=gzipped)
                    headers = [(k, v) for k, v in held["headers"] if k.lower() != b"content-length"]
                    headers.append((b"content-length", str(len(body)).encode()))
                    await send({**held, "headers": headers})
                    held = None
                    message = {**message, "body": body}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_of(scope)
            method = scope["method"]
            REQUESTS.labels(route, method, str(status)).inc()
            LATENCY.labels(route, method).observe(elapsed)
            if status == 304:
                CONDITIONAL.labels("not_modified").inc()
            elif status == 412:
                CONDITIONAL.labels("precondition_failed").inc()
            if route == "/api/v1/imports" and method == "POST":
                IMPORTS.labels("written" if status < 300 else "rejected" if status < 500 else "failed").inc()
            principal = state.get("principal")
            client = scope.get("client")
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "request_id": request_id,
                        "method": method,
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 1),
                        "principal": principal.username if isinstance(principal, Principal) else None,
                        "role": principal.role if isinstance(principal, Principal) else None,
                        "client": client[0] if client else None,
                    }
                },
            )


def _with_request_id(body: bytes, request_id: str, *, gzipped: bool = False) -> bytes:
    """The error body with `request_id` added; a gzipped one (api/compression.py, inside this middleware,
    compresses errors of 1 KB or more) is opened and compressed again."""
    try:
        parsed = json.loads(gzip.decompress(body) if gzipped else body)
    except (ValueError, OSError, EOFError):
        return body
    if not isinstance(parsed, dict):
        return body
    parsed["request_id"] = request_id
    out = json.dumps(parsed, ensure_ascii=False, separators=(",", ":")).encode()
    return gzip.compress(out, compresslevel=5) if gzipped else out


class PoolCollector(Collector):
    """The database pool of this process at scrape time."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        engine = getattr(self.app.state, "engine", None)
        pool = getattr(engine, "pool", None)
        gauge = GaugeMetricFamily(
            "riskmap_db_pool_connections",
            "Database connections of this process, by state",
            labels=["state", "pid"],
        )
        if pool is not None and hasattr(pool, "checkedout"):
            pid = str(os.getpid())
            gauge.add_metric(["checked_out", pid], pool.checkedout())
            gauge.add_metric(["idle", pid], pool.checkedin())
            gauge.add_metric(["overflow", pid], max(0, pool.overflow()))
            gauge.add_metric(["size", pid], pool.size())
        yield gauge


def _metrics_text(app: FastAPI) -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # every worker's counts, summed
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        shared = generate_latest(registry)
    else:
        shared = generate_latest(REGISTRY)  # this process's metrics and ours
    pool = CollectorRegistry()
    pool.register(PoolCollector(app))
    return shared + generate_latest(pool)


async def _operator(request: Request) -> None:
    """An admin, or the metrics token: anyone else is 401 (nobody signed in) or 403."""
    from api import auth

    token = MetricsSettings().token
    sent = request.headers.get("authorization", "")
    if token is not None and hmac.compare_digest(
        sent.encode(), f"Bearer {token.get_secret_value()}".encode()
    ):
        return
    principal = auth.current_principal(
        request,
        request.app.state.engine,
        await auth.bearer(request),
        await auth.api_key_header(request),
        await auth.session_cookie(request),
    )
    if principal.role is Role.public:
        raise Unauthenticated("sign in as an admin, or send the metrics token (RISKMAP_METRICS_TOKEN)")
    if not principal.is_admin:
        raise Forbidden("the metrics are for operators: admins, or the metrics token")


router = APIRouter(tags=["service"])


@router.get(
    "/metrics",
    summary="Prometheus metrics (admins, or `Authorization: Bearer` with RISKMAP_METRICS_TOKEN)",
    response_class=Response,
    responses={
        200: {
            "description": "the Prometheus text exposition format (version 0.0.4)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        401: {"description": "not signed in"},
        403: {"description": "not an operator"},
    },
)
async def metrics(request: Request) -> Response:
    await _operator(request)
    return Response(_metrics_text(request.app), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/health/live", summary="Is the process up? (no database needed)", response_model=Liveness)
def live() -> JSONResponse:
    return JSONResponse({"status": "live"})


@router.get(
    "/api/v1/health/ready",
    summary="May the process take traffic? The database answers and its schema is at this release's head",
    responses={503: {"description": "the database is down or its schema is not at head"}},
    response_model=Readiness,
)
def ready(request: Request) -> JSONResponse:
    from geo.store.migrate import head_revision

    head = head_revision()
    try:
        with request.app.state.engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # any failure to reach it means: not ready
        reason = f"database unreachable ({type(exc).__name__})"
        return JSONResponse(
            {
                "detail": reason,
                "errors": [{"field": "database", "reason": reason, "reason_zh": "数据库无法连接"}],
                "status": "not ready",
                "reason": reason,
                "schema_head": head,
            },
            status_code=503,
        )
    if revision != head:
        reason = "the schema is not at this release's head: run `riskmap db upgrade`"
        return JSONResponse(
            {
                "detail": reason,
                "errors": [
                    {
                        "field": "schema",
                        "reason": reason,
                        "reason_zh": "数据库结构不是本版本的最新版本，请运行 riskmap db upgrade",
                    }
                ],
                "status": "not ready",
                "reason": reason,
                "schema_revision": revision,
                "schema_head": head,
            },
            status_code=503,
        )
    return JSONResponse({"status": "ready", "schema_revision": revision})


def install(app: FastAPI) -> None:
    """The middleware (outermost: add it after every other middleware) and the routes."""
    configure_logging()
    app.include_router(router)
    app.add_middleware(Observe)
