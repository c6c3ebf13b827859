"""Security headers on every response, and a Content-Security-Policy with a fresh nonce on every HTML page.

Every response gets `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin` and
`X-Frame-Options: DENY`. An HTML response (Content-Type text/html) also gets a Content-Security-Policy
whose scripts are this server's files and the inline scripts carrying this response's nonce: the middleware
adds `nonce="…"` to every `<script` tag of the page but data blocks (application/json), as Folium's
pages and Swagger UI run inline scripts. A script that a user's text might smuggle into the page in the
browser (an `onerror=` attribute, a `javascript:` link, a `<script>` put in with innerHTML) does not run. Text from users never reaches the
HTML the server writes as markup: it is escaped on the way (geo.escape), which this policy backs up.

A plain ASGI middleware (no BaseHTTPMiddleware): other responses pass through with three headers added;
HTML bodies are collected (a streamed page too) and sent once, with its new Content-Length. See
docs/security.md.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["COMMON_HEADERS", "SecurityHeaders", "content_security_policy"]

COMMON_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

# A <script start tag ("<script" then a space, "/" or ">": not "</script", not "<scripts") and its attributes.
_SCRIPT_TAG: Final = re.compile(rb"<script(?=[\s/>])([^>]*)>", re.IGNORECASE)
_TYPE: Final = re.compile(rb"""\stype\s*=\s*["']?([^"'\s>]*)""", re.IGNORECASE)
# Types a browser runs; any other (application/json map data, for one) is data and needs no nonce.
_SCRIPT_TYPES: Final = frozenset(
    {
        b"",
        b"module",
        b"text/javascript",
        b"application/javascript",
        b"text/ecmascript",
        b"application/ecmascript",
    }
)


def content_security_policy(nonce: str) -> str:
    """The policy of an HTML page: everything from this server; inline scripts only with the nonce; inline
    styles allowed (Leaflet positions its panes and markers with style attributes); images also as data: and
    blob: URLs (Leaflet's and Swagger UI's icons); no plugins, no framing, no form or <base> elsewhere."""
    return (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; "
        "font-src 'self' data:; "
        "connect-src 'self'; "
        "object-src 'none'; "
        "base-uri 'self'; "
        "form-action 'self'; "
        "frame-ancestors 'none'"
    )


def add_nonce(body: bytes, nonce: str) -> bytes:
    """body with nonce="…" on every <script start tag of a script (data blocks are left as they are)."""
    attribute = b' nonce="' + nonce.encode("ascii") + b'"'

    def tag(match: re.Match[bytes]) -> bytes:
        declared = _TYPE.search(match.group(1))
        if declared is not None and declared.group(1).lower() not in _SCRIPT_TYPES:
            return match.group(0)
        return b"<script" + attribute + match.group(0)[len(b"<script") :]

    return _SCRIPT_TAG.sub(tag, body)


class SecurityHeaders:
    """ASGI middleware: COMMON_HEADERS on every HTTP response; on HTML, the nonce and the CSP as well."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None  # the start of an HTML response, sent with its rewritten body
        chunks: list[bytes] = []
        nonce = ""

        async def send_with_headers(message: Message) -> None:
            nonlocal held, nonce
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON_HEADERS.items():
                    headers.setdefault(name, value)
                media = headers.get("content-type", "").split(";")[0].strip().lower()
                if media != "text/html":
                    await send(message)
                    return
                nonce = secrets.token_urlsafe(18)
                headers["Content-Security-Policy"] = content_security_policy(nonce)
                # A HEAD answer has no body to change, and a compressed one cannot be read here: both are
                # sent as they are (a compressed page's inline scripts would then be refused, not run).
                if scope.get("method") == "HEAD" or "content-encoding" in headers:
                    await send(message)
                    return
                held = message
                return
            if held is None:
                await send(message)
                return
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = add_nonce(b"".join(chunks), nonce)
                MutableHeaders(scope=held)["Content-Length"] = str(len(body))
                start, held = held, None
                await send(start)
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            # Anything else (a server extension such as pathsend) goes on after the start, unchanged.
            start, held = held, None
            await send(start)
            await send(message)

        await self.app(scope, receive, send_with_headers)
