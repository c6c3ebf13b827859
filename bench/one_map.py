"""Benchmark of the one map (风险一张图, GET /map) on the demo register: for the county 泉港区 (350505) and the
city 泉州市 (350500), as an admin sees them, the page's size (raw and gzipped), the time to make it (median
of --runs, over HTTP on loopback) and the time headless Chromium takes from navigation until the map has
drawn its zones and painted the vector tiles it shows (median of --runs). The targets: a county under 2 MB,
the city under 3 MB, each loading in under 3 s.

    .venv/bin/riskmap demo && .venv/bin/python bench/one_map.py [--runs 3]

Needs the demo in the configured database and Debian's chromium. The bench signs in as an admin it makes
for itself (a random password) and removes afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import secrets
import statistics
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's code (before bench.common imports it), the tests' browser
from common import machine  # noqa: E402

from api.app import create_app  # noqa: E402
from api.settings import Settings  # noqa: E402
from geo.access import SYSTEM  # noqa: E402
from geo.store import users  # noqa: E402
from geo.store.engine import make_engine  # noqa: E402
from tests.maps.browser import Browser, serve_app  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "one_map.md"
CASES = (("泉港区 350505 (county)", "350505", 2_000_000), ("泉州市 350500 (city)", "350500", 3_000_000))
READY = (
    "window.riskmapMap && document.querySelector('.leaflet-overlay-pane path') && "
    "Array.from(document.querySelectorAll('canvas.leaflet-tile')).every(c => c.classList.contains('leaflet-tile-loaded'))"
)  # the zones drawn, and the vector tiles shown (a layer of many features is tiled) painted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args()
    settings = Settings()
    engine = make_engine(settings.db.sqlalchemy_url)
    name, password = f"bench-onemap-{secrets.token_hex(3)}", secrets.token_urlsafe(18)
    with engine.begin() as conn:
        users.create_user(conn, SYSTEM, name, password, "admin")
    app = create_app(settings)
    app.state.engine = engine
    rows = []
    try:
        with serve_app(app) as base, Browser(window=(1400, 900)) as browser:
            data = urllib.parse.urlencode({"username": name, "password": password}).encode()
            token = json.load(urllib.request.urlopen(base + "/api/v1/auth/token", data))["access_token"]
            headers = {"Authorization": f"Bearer {token}", "Accept": "text/html"}
            for label, adcode, target in CASES:
                url = f"{base}/map?adcode={adcode}"
                made, size, zipped = [], 0, 0
                for _ in range(args.runs):
                    t = time.perf_counter()
                    body = urllib.request.urlopen(urllib.request.Request(url, headers=headers)).read()
                    made.append(time.perf_counter() - t)
                    size, zipped = len(body), len(gzip.compress(body))
                loads = []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    report = browser.open(
                        url, wait_for=READY, headers={"Authorization": headers["Authorization"]}, timeout=120
                    )
                    loads.append(time.perf_counter() - t)
                    assert report.ready, report.console_errors
                    assert report.external_requests == []
                rows.append((label, size, zipped, made, loads, target))
                print(
                    f"{label}: {size / 1e6:.2f} MB ({zipped / 1e6:.2f} MB gzipped), made in "
                    f"{statistics.median(made):.2f} s, loaded in {statistics.median(loads):.2f} s",
                    flush=True,
                )
    finally:
        with engine.begin() as conn:
            users.remove_user(conn, SYSTEM, name)
        engine.dispose()

    def s(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} ({', '.join(f'{v:.2f}' for v in values)})"

    lines = [
        "# The one map (风险一张图, GET /map)",
        "",
        f"Command: `.venv/bin/python bench/one_map.py --runs {args.runs}` on the demo register "
        f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC). {machine()}",
        "",
        "Made: the page over HTTP on loopback (database, analyses, the Folium render), signed in as an admin. "
        "Loaded: headless Chromium from navigation until the map has drawn its zones and painted the vector "
        "tiles it shows (includes the request and the tiles' requests).",
        "",
        "| page | size (MB) | gzipped (MB) | target (MB) | made (s, median of runs) | loaded in Chromium (s) |",
        "|---|---:|---:|---:|---|---|",
        *(
            f"| {label} | {size / 1e6:.2f} | {zipped / 1e6:.2f} | {target / 1e6:.0f} | {s(made)} | {s(loads)} |"
            for label, size, zipped, made, loads, target in rows
        ),
        "",
    ]
    args.output.write_text("\n".join(lines), encoding="utf-8")
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
