"""One table from domain error to HTTP status, and the JSON every error response has."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from geo.access import Forbidden, Unauthenticated
from geo.errors import (
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    RateLimited,
    RiskmapError,
    SetupError,
    TooLarge,
)

log = logging.getLogger("riskmap.api")

STATUS: dict[type[RiskmapError], int] = {
    InvalidInput: 422,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    PreconditionFailed: 412,  # before Conflict, its base
    PreconditionRequired: 428,
    Conflict: 409,
    DatabaseUnavailable: 503,
    SetupError: 503,
    TooLarge: 413,
    RateLimited: 429,
}


def _body(message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"detail": message, "errors": errors or []}


def _riskmap_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RiskmapError)
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    errors = [p.as_dict() for p in getattr(exc, "problems", [])]  # InvalidInput, and 404/409s naming a field
    # RFC 6750: a 401 says how to authenticate (a bearer token, or an API key in X-API-Key).
    headers = {"WWW-Authenticate": 'Bearer realm="riskmap"'} if isinstance(exc, Unauthenticated) else None
    if isinstance(exc, RateLimited):  # RFC 9110: how many seconds until the next try may succeed
        headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse(_body(exc.message, errors), status_code=status, headers=headers)


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        where = parts.pop(0)
        if where != "body" and parts:
            return parts[0]
    # Pydantic puts the union branch or model name in the path for some errors; users don't need it.
    parts = [p for p in parts if not p.startswith(("function-", "FeatureIn", "json-or-python"))]
    return ".".join(parts) or "body"


# The reason in Chinese of the checks pydantic makes on a request (by its error type); our own checks
# (`InvalidInput`) carry theirs.
REASONS_ZH = {
    "missing": "缺少必填项",
    "extra_forbidden": "不认识的字段（请检查拼写）",
    "json_invalid": "不是有效的 JSON",
    "string_type": "应为文本",
    "string_too_short": "文本过短",
    "string_too_long": "文本过长",
    "string_pattern_mismatch": "格式不符合要求",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "greater_than": "数值过小",
    "greater_than_equal": "数值过小",
    "less_than": "数值过大",
    "less_than_equal": "数值过大",
    "enum": "不是允许的取值",
    "literal_error": "不是允许的取值",
    "date_type": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "dict_type": "应为对象",
    "list_type": "应为数组",
    "too_short": "项目过少",
    "too_long": "项目过多",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "union_tag_invalid": "类型不符",
}
REASON_ZH_OTHER = "输入无效"


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for e in exc.errors():
        msg = str(e.get("msg", "invalid"))
        if msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        # A body that is not JSON at all has loc ("body", <character position>): name the body.
        field = "body" if e.get("type") == "json_invalid" else _field_of(tuple(e.get("loc", ())))
        reason_zh = REASONS_ZH.get(str(e.get("type")), REASON_ZH_OTHER)
        errors.append({"field": field, "reason": msg, "reason_zh": reason_zh})
    message = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
    return JSONResponse(_body(message, errors), status_code=422)


def _database_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        log.warning("database unavailable: %s", exc.orig)
        return JSONResponse(
            _body("the database is unavailable; try again shortly"),
            status_code=503,
            headers={"Retry-After": "5"},
        )
    log.error("database error: %s", exc.orig, exc_info=exc)  # a handler runs outside the except block
    return JSONResponse(_body("internal database error"), status_code=500)


BODY_UNPARSED = "There was an error parsing the body"  # FastAPI's 400 for a body it cannot read
BODY_REASON = "could not be read: send JSON in UTF-8 (or the form the route documents) with its Content-Type"
BODY_REASON_ZH = "请求体无法解析：请按接口说明发送 UTF-8 编码的 JSON（或表单）并注明 Content-Type"


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:  # a body FastAPI or Starlette could not parse: bad input, 422 naming it
        reason = (
            BODY_REASON if exc.detail == BODY_UNPARSED else f"{str(exc.detail).rstrip('.')}: {BODY_REASON}"
        )
        problem = {"field": "body", "reason": reason, "reason_zh": BODY_REASON_ZH}
        return JSONResponse(_body(f"body: {reason}", [problem]), status_code=422)
    return JSONResponse(_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers)


NUL_REASON = "contains a NUL character (0x00), which cannot be stored"
NUL_REASON_ZH = "含有 NUL 字符（0x00），无法保存"


class RefuseNul:
    """ASGI guard: a NUL in a query parameter or the path is 422 naming it (PostgreSQL cannot hold one in
    text and psycopg2 refuses to send it). It reads only the request line, and leaves the response alone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query: bytes = scope.get("query_string", b"")
            raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
            if b"%00" in query or b"\x00" in query or b"%00" in raw_path or "\x00" in scope["path"]:
                pairs = parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True)
                fields = [name for name, value in pairs if "\x00" in name or "\x00" in value] or ["path"]
                errors = [{"field": f, "reason": NUL_REASON, "reason_zh": NUL_REASON_ZH} for f in fields]
                message = "; ".join(f"{f}: {NUL_REASON}" for f in fields)
                await JSONResponse(_body(message, errors), status_code=422)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _nul_in_value(_: Request, exc: Exception) -> JSONResponse:
    """The same for a value of a JSON body that reached the database (psycopg2's ValueError)."""
    if "NUL (0x00)" not in str(exc):
        raise exc
    return JSONResponse(
        _body(
            f"body: a value {NUL_REASON}",
            [{"field": "body", "reason": NUL_REASON, "reason_zh": NUL_REASON_ZH}],
        ),
        422,
    )


def install(app: FastAPI) -> None:
    app.add_middleware(RefuseNul)
    app.add_exception_handler(ValueError, _nul_in_value)
    app.add_exception_handler(RiskmapError, _riskmap_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
