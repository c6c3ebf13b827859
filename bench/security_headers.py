"""Benchmark of api/security_headers.py: what the headers and the nonces cost a served page.

A map page as large as the city's internal four-colour map (3.5 MB: a few script tags and one big
application/json data block, as maps.four_colour writes it) and a small one (0.16 MB, the county's public
map), each answered by a bare FastAPI app with and without the SecurityHeaders middleware through the ASGI
interface (no network: the middleware's share, not the socket's), and add_nonce alone on the body; and a
small JSON answer, where the middleware only adds three headers. Medians of --runs after a warm-up.
No database.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's api/, before an installed one

from common import machine, write_report  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.responses import HTMLResponse, JSONResponse  # noqa: E402

from api.security_headers import SecurityHeaders, add_nonce  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "security_headers.md"
COMMAND = ".venv/bin/python bench/security_headers.py"


def page(megabytes: float) -> str:
    """A page shaped like a served map: head scripts, a data block of `megabytes`, the inline map script."""
    feature = {
        "type": "Feature",
        "properties": {"n": "泉港石化储运有限公司", "l": 2, "c": "91350505MA2XY0123"},
    }
    feature["geometry"] = {"type": "Point", "coordinates": [118.881234, 25.112345]}
    one = json.dumps(feature, ensure_ascii=False)
    count = int(megabytes * 1e6 / len(one.encode()))
    data = '{"type":"FeatureCollection","features":[' + ",".join([one] * count) + "]}"
    head = "".join(f'<script src="/static/vendor/leaflet/dist/plugin{i}.js"></script>\n' for i in range(6))
    return (
        f"<!DOCTYPE html><html><head>{head}<style>.rm{{}}</style></head><body><div id='map'></div>"
        f'<script type="application/json" id="layer_data">{data}</script>'
        "<script>var map = L.map('map'); riskmap.zones(JSON.parse(document.getElementById('layer_data')"
        ".textContent)).addTo(map);</script></body></html>"
    )


def app(body: str, *, html: bool, secured: bool) -> FastAPI:
    a = FastAPI()
    if secured:
        a.add_middleware(SecurityHeaders)
    payload = body.encode()

    @a.get("/")
    def answer() -> Any:
        if html:
            return HTMLResponse(payload)
        return JSONResponse({"status": "ok"})

    return a


LOOP = asyncio.new_event_loop()


def call(asgi: FastAPI) -> float:
    """Seconds for one GET / through the ASGI interface, the body read to its end."""

    async def run() -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            return None

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/",
            "raw_path": b"/",
            "query_string": b"",
            "headers": [(b"host", b"bench")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        await asgi(scope, receive, send)

    started = time.perf_counter()
    LOOP.run_until_complete(run())
    return time.perf_counter() - started


def median(fn: Callable[[], float], runs: int) -> float:
    fn()
    return statistics.median(fn() for _ in range(runs))


def timed(fn: Callable[[], object]) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    load_before = os.getloadavg()
    rows = []
    for label, body, html in (
        ("map page 3.5 MB (HTML)", page(3.5), True),
        ("map page 0.16 MB (HTML)", page(0.16), True),
        ("JSON answer", "", False),
    ):
        plain_app, secured_app = app(body, html=html, secured=False), app(body, html=html, secured=True)
        bare = median(lambda a=plain_app: call(a), args.runs)
        secured = median(lambda a=secured_app: call(a), args.runs)
        nonce = (
            median(timed(lambda b=body.encode(): add_nonce(b, "x" * 24)), args.runs) if html else float("nan")
        )
        rows.append((label, len(body.encode()), bare, secured, nonce))
    load_after = os.getloadavg()
    lines = [
        "# Security headers (api/security_headers.py)",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}; load average before {' / '.join(f'{v:.2f}' for v in load_before)}, "
        f"after {' / '.join(f'{v:.2f}' for v in load_after)}",
        f"- versions: Python {platform.python_version()}",
        f"- reproduce: `{COMMAND} --runs {args.runs}`",
        "",
        "One GET through the ASGI interface of a bare FastAPI app answering the body, without and with the"
        " middleware, median of "
        f"{args.runs} after a warm-up; **add_nonce** alone on the body. The pages are synthetic but shaped"
        " like the served maps (scripts in the head, one big application/json data block, an inline script).",
        "",
        "| answer | body | without | with SecurityHeaders | extra | add_nonce alone |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for label, size, bare, secured, nonce in rows:
        nonce_ms = "–" if nonce != nonce else f"{nonce * 1e3:.2f} ms"
        lines.append(
            f"| {label} | {size / 1e6:.2f} MB | {bare * 1e3:.2f} ms | {secured * 1e3:.2f} ms | "
            f"{(secured - bare) * 1e3:+.2f} ms | {nonce_ms} |"
        )
    text = "\n".join(lines) + "\n"
    write_report(RESULTS, text)
    print(text)


if __name__ == "__main__":
    main()
