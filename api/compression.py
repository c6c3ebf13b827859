"""gzip for JSON, GeoJSON, HTML and other text answers (RFC 9110 §8.4, §8.8.3), as a pure ASGI middleware.

What is compressed: a whole answer (one body message) of a text type (`text/*`, JSON and `+json`,
JavaScript, SVG) of at least `minimum_size` bytes, to a request whose `Accept-Encoding` takes gzip.
What is not:

- a streamed answer (a body sent in several messages, such as a large export): it passes untouched,
  keeping its own framing, rather than being held in memory or losing its declared length;
- binary formats that are compressed already or small (vector tiles, images, zip, xlsx, pdf);
- a partial answer (206, or any request with `Range`), a HEAD, and answers with no body;
- an answer to a request carrying a cookie whose body holds a CSRF token (the signed-in pages, and
  `GET /api/v1/auth/session`): compressing a secret beside text an attacker can make the page repeat lets
  a site that can make the browser send the cookie read the secret from the lengths (BREACH). Bearer-token
  and API-key clients are not driven by another site, so their answers are compressed.

ETags: a strong ETag names one representation, and the gzip one is another, so it gets its own tag —
`"<tag>-gzip"` — and a cache never serves the one for the other. The suffix is removed from
`If-None-Match` and `If-Match` before the application sees them (the application knows only its own
tags), and put back on a 304 answering a tag that had it. A weak tag (`W/`) is kept: a weak validator may
be shared by representations that differ only in their content coding. Every answer of a compressible
type says `Vary: Accept-Encoding`.
"""

from __future__ import annotations

import gzip
import re
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SUFFIX = "-gzip"
MINIMUM_SIZE = 1024
LEVEL = 5

_COMPRESSIBLE = re.compile(
    r"^(text/[a-z0-9.+-]+|application/(json|[a-z0-9.-]+\+json|javascript|ecmascript|xml|[a-z0-9.-]+\+xml)"
    r"|image/svg\+xml)\s*(;|$)"
)
_TAG = re.compile(r'(W/)?"([^"]*)"')


def accepts_gzip(value: str) -> bool:
    """Whether an Accept-Encoding value takes gzip (named, or `*`, with a q-value above 0)."""
    named: dict[str, float] = {}
    for item in value.split(","):
        coding, _, params = item.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k.strip().lower() == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        if coding.strip():
            named[coding.strip().lower()] = q
    if "gzip" in named or "x-gzip" in named:
        return max(named.get("gzip", 0.0), named.get("x-gzip", 0.0)) > 0
    return named.get("*", 0.0) > 0


def strip_suffix(value: str) -> tuple[str, set[str]]:
    """An If-Match/If-None-Match value with `-gzip` removed from its strong tags, and the tags it had
    it on (as the application will see them)."""
    stripped: set[str] = set()

    def one(m: re.Match[str]) -> str:
        weak, tag = m.group(1), m.group(2)
        if weak is None and tag.endswith(SUFFIX):
            stripped.add(f'"{tag.removesuffix(SUFFIX)}"')
            return f'"{tag.removesuffix(SUFFIX)}"'
        return m.group(0)

    return _TAG.sub(one, value), stripped


def gzip_etag(etag: str) -> str:
    """The tag of the gzip representation: a strong tag gets `-gzip`, a weak one stays."""
    etag = etag.strip()
    if etag.startswith("W/") or not (etag.startswith('"') and etag.endswith('"')):
        return etag
    return f'"{etag[1:-1]}{SUFFIX}"'


def compressible(content_type: str) -> bool:
    return bool(_COMPRESSIBLE.match(content_type.strip().lower()))


class GZip:
    """The middleware (see the module's doc). Install it inside the request-id/logging middleware and
    outside whatever writes into bodies (the CSP nonces of SecurityHeaders)."""

    def __init__(self, app: ASGIApp, minimum_size: int = MINIMUM_SIZE, level: int = LEVEL) -> None:
        self.app = app
        self.minimum_size = minimum_size
        self.level = level

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope["headers"]}
        restored: set[str] = set()
        new_headers = []
        for k, v in scope["headers"]:
            if k.lower() in (b"if-none-match", b"if-match"):
                text_, stripped = strip_suffix(v.decode("latin-1"))
                restored |= stripped
                v = text_.encode("latin-1")
            new_headers.append((k, v))
        scope["headers"] = new_headers  # in place: outer middleware reads what routing adds to the scope
        wanted = (
            scope["method"] != "HEAD"
            and b"range" not in headers
            and accepts_gzip(headers.get(b"accept-encoding", b"").decode("latin-1"))
        )
        responder = _Responder(self, send, wanted=wanted, restored=restored, cookie=b"cookie" in headers)
        await self.app(scope, receive, responder.send)


class _Responder:
    def __init__(self, mw: GZip, send: Send, *, wanted: bool, restored: set[str], cookie: bool) -> None:
        self.mw, self._send, self.wanted, self.restored, self.cookie = mw, send, wanted, restored, cookie
        self.start: Message | None = None
        self.passthrough = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(raw=list(message["headers"]))
            status = message["status"]
            etag = headers.get("etag")
            if status == 304 and etag is not None and etag.strip() in self.restored:
                headers["etag"] = gzip_etag(etag)  # the client validated its gzip copy
            kind = headers.get("content-type", "")
            if compressible(kind):
                headers.add_vary_header("Accept-Encoding")
            eligible = (
                self.wanted
                and compressible(kind)
                and status not in (204, 206, 304)
                and status >= 200
                and "content-encoding" not in headers
            )
            message = {**message, "headers": headers.raw}
            if not eligible:
                self.passthrough = True
                await self._send(message)
                return
            self.start = message  # held until the body shows whether it comes whole
            return
        if message["type"] != "http.response.body" or self.passthrough:
            await self._send(message)
            return
        start, self.start = self.start, None
        if start is None:  # a later part of a streamed answer
            await self._send(message)
            return
        body: bytes = message.get("body", b"")
        if message.get("more_body", False) or not self._worth(body):
            self.passthrough = True
            await self._send(start)
            await self._send(message)
            return
        compressed = gzip.compress(body, compresslevel=self.mw.level, mtime=0)
        headers = MutableHeaders(raw=list(start["headers"]))
        headers["content-encoding"] = "gzip"
        headers["content-length"] = str(len(compressed))
        etag = headers.get("etag")
        if etag is not None:
            headers["etag"] = gzip_etag(etag)
        await self._send({**start, "headers": headers.raw})
        await self._send({"type": "http.response.body", "body": compressed, "more_body": False})

    def _worth(self, body: bytes) -> bool:
        if len(body) < self.mw.minimum_size:
            return False
        return not (self.cookie and b"csrf" in body.lower())


def install(app: Any, minimum_size: int = MINIMUM_SIZE) -> None:
    app.add_middleware(GZip, minimum_size=minimum_size)
