"""Benchmark of the one map (风险一张图, GET /map): for each page (by default the demo's county 泉港区 350505
and city 泉州市 350500), as an admin sees it, the page's size (raw and gzipped), the time to make it (median
of --runs, over HTTP on loopback), and in headless Chromium (median of --runs; times from the page's
navigation start, `performance.now()`): the first paint (the zones drawn and the vector tiles shown
painted) and when the analyses the page fetches after it (violations, clusters) have all answered, and
the wall time of the whole load (until the network is quiet: includes the analyses). The targets: a county
under 2 MB, a city under 3 MB, a province under 5 MB, each painted in under 3 s.

    .venv/bin/riskmap demo && .venv/bin/python bench/one_map.py [--runs 3]
    .venv/bin/python bench/one_map.py --database riskmap_bench_province \
        --page "350000:福建省（合成） 350000 (province):5" --page "359100:合成1市 359100 (city):3"

(`bench/province.py generate` makes riskmap_bench_province.) Needs Debian's chromium. The bench signs in as
an admin it makes for itself (a random password) and removes afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
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
from sqlalchemy.engine import make_url  # noqa: E402

from api.app import create_app  # noqa: E402
from api.settings import DatabaseSettings, Settings  # noqa: E402
from geo.access import SYSTEM  # noqa: E402
from geo.store import users  # noqa: E402
from geo.store.engine import make_engine  # noqa: E402
from tests.maps.browser import Browser, serve_app  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "one_map.md"
CASES = ("350505:泉港区 350505 (county):2", "350500:泉州市 350500 (city):3")
READY = (
    "window.riskmapMap && document.querySelector('.leaflet-overlay-pane path') && "
    "Array.from(document.querySelectorAll('canvas.leaflet-tile')).every(c => c.classList.contains('leaflet-tile-loaded'))"
)  # the zones drawn, and the vector tiles shown (a layer of many features is tiled) painted
# Polled by the browser every 0.1 s: the first time the map is drawn, the page's clock is kept; then it waits
# for every overlay to have answered (or been refused).
SETTLED = "!document.querySelector('#rm-overlays li[data-state=loading]')"
FIRST_PAINT = f"({READY}) && (window.benchPainted = window.benchPainted || performance.now()) && {SETTLED}"
# After the network is quiet: the first paint and when the last analysis answered (ms from navigation
# start; each overlay's status line keeps its time), and the states of the overlays.
# A map whose units start at a zoom of their own (a province: #rm-zoom-note) is then zoomed there by the
# box's link, about a city's view at the map's centre: `zoomed` = seconds until every tile in view is painted.
TIMES = """(async () => {
    const items = Array.from(document.querySelectorAll('#rm-overlays li[data-overlay]'));
    const settled = items.map(li => Number(li.dataset.settled || 0));
    const out = {painted: window.benchPainted || null, overlays: items.map(li => li.dataset.overlay + ':' + li.dataset.state),
                 answered: items.length ? Math.max(...settled) : null, zoomed: null};
    const note = document.getElementById('rm-zoom-note');
    if (note && note.dataset.state === 'hidden') {
        const t = performance.now(), sleep = ms => new Promise(r => setTimeout(r, ms));
        note.querySelector('a').click();
        const painted = () => { const c = Array.from(document.querySelectorAll('canvas.leaflet-tile'));
                                return c.length > 0 && c.every(x => x.classList.contains('leaflet-tile-loaded')); };
        for (let i = 0; i < 1200 && !painted(); i++) { await sleep(50); }
        out.zoomed = painted() ? (performance.now() - t) / 1000 : null;
    }
    return out;
})()"""


def page_case(text: str) -> tuple[str, str, int]:
    """ADCODE:LABEL:TARGET_MB as (label, adcode, target bytes)."""
    try:
        adcode, label, target = text.split(":")
        if not adcode.isdigit():
            raise ValueError(adcode)
        return label, adcode, int(float(target) * 1_000_000)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ADCODE:LABEL:TARGET_MB, got {text!r}") from None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--output", type=Path, default=RESULTS)
    ap.add_argument("--database", help="the database to read (default: the configured one, with the demo)")
    ap.add_argument(
        "--page",
        dest="pages",
        action="append",
        type=page_case,
        help="ADCODE:LABEL:TARGET_MB, once per page (default: the demo's county and city)",
    )
    args = ap.parse_args()
    cases = args.pages or [page_case(c) for c in CASES]
    settings = Settings()
    if args.database:
        url = make_url(settings.db.sqlalchemy_url).set(database=args.database)
        settings = Settings(db=DatabaseSettings(DATABASE_URL=url.render_as_string(hide_password=False)))
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
            for label, adcode, target in cases:
                url = f"{base}/map?adcode={adcode}"
                made, size, zipped = [], 0, 0
                for _ in range(args.runs):
                    t = time.perf_counter()
                    body = urllib.request.urlopen(urllib.request.Request(url, headers=headers)).read()
                    made.append(time.perf_counter() - t)
                    size, zipped = len(body), len(gzip.compress(body))
                painted, answered, walls, states, zoomed = [], [], [], [], []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    report = browser.open(
                        url,
                        wait_for=FIRST_PAINT,
                        evaluate=TIMES,
                        headers={"Authorization": headers["Authorization"]},
                        timeout=180,
                    )
                    # the zooming in (after the network was quiet) is not part of the page's load
                    walls.append(time.perf_counter() - t - ((report.value or {}).get("zoomed") or 0.0))
                    assert report.ready, report.console_errors
                    assert report.external_requests == []
                    assert report.console_errors == [], report.console_errors
                    painted.append(report.value["painted"] / 1000)
                    if report.value["answered"] is not None:
                        answered.append(report.value["answered"] / 1000)
                    states = report.value["overlays"]
                    if report.value["zoomed"] is not None:
                        zoomed.append(report.value["zoomed"])
                rows.append((label, size, zipped, made, painted, answered, walls, states, target, zoomed))
                print(
                    f"{label}: {size / 1e6:.2f} MB ({zipped / 1e6:.2f} MB gzipped), made in "
                    f"{statistics.median(made):.2f} s, painted in {statistics.median(painted):.2f} s, "
                    f"analyses {', '.join(states) or '-'} by "
                    f"{statistics.median(answered) if answered else float('nan'):.2f} s, "
                    f"loaded (network quiet) in {statistics.median(walls):.2f} s"
                    + (f", zoomed in and painted in {statistics.median(zoomed):.2f} s" if zoomed else ""),
                    flush=True,
                )
    finally:
        with engine.begin() as conn:
            users.remove_user(conn, SYSTEM, name)
        engine.dispose()

    def s(values: list[float]) -> str:
        if not values:
            return "–"
        return f"{statistics.median(values):.2f} ({', '.join(f'{v:.2f}' for v in values)})"

    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    lines = [
        "# The one map (风险一张图, GET /map)",
        "",
        f"Command: `.venv/bin/python bench/one_map.py --runs {args.runs}"
        f"{' --database ' + args.database if args.database else ''}` "
        f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load average {load} at the end). {machine()}",
        "",
        "Made: the page over HTTP on loopback, signed in as an admin. In Chromium, from navigation start: "
        "painted = the zones drawn and the vector tiles shown painted; analyses = the last overlay fetched "
        "after the paint has answered; quiet = the wall time until the network is quiet; zoomed = after that, a "
        "map whose units start at a zoom of their own (a province) zoomed there by its box's link, until every "
        "tile in view is painted.",
        "",
        "| page | size (MB) | gzipped (MB) | target (MB) | made (s) | painted (s) | analyses (s) | quiet (s) | "
        "overlays | zoomed (s) |",
        "|---|---:|---:|---:|---|---|---|---|---|---|",
        *(
            f"| {label} | {size / 1e6:.2f} | {zipped / 1e6:.2f} | {target / 1e6:g} | {s(made)} | {s(painted)} | "
            f"{s(answered)} | {s(walls)} | {', '.join(states) or '–'} | {s(zoomed)} |"
            for label, size, zipped, made, painted, answered, walls, states, target, zoomed in rows
        ),
        "",
    ]
    args.output.write_text("\n".join(lines), encoding="utf-8")
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
