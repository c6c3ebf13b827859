"""Benchmark of the served four-colour map page (GET /maps/four-color) on the demo register.

For a county (泉港区 350505 on a 1 km grid and on H3 resolution 8) and the whole city (泉州市 350500 by
county), internal and public: the page's size, the time to generate it (database queries and the renderer,
median of --runs) and the time headless Chromium takes from navigation until the Leaflet map has drawn every
zone path (median of --runs). Needs the demo in the database (`riskmap demo`) and Debian's chromium.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import platform
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
import shapely
from common import machine, write_report
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

import api.usecases.four_colour
from api.settings import DatabaseSettings, Settings
from api.usecases.four_colour import FourColourParams, four_colour_folium
from geo.store.engine import make_engine
from maps.assets import PACKAGES, mount

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/ is not installed: the headless-Chromium helper of the tests
from tests.maps.browser import Browser, chromium_path, serve_app  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "map_page.md"
COMMAND = ".venv/bin/python bench/map_page.py"


@dataclass(frozen=True)
class Case:
    label: str
    params: FourColourParams
    public: bool


CASES = [
    Case(label, params, public)
    for label, params in (
        ("泉港区 350505, 1 km grid", FourColourParams("350505", "grid", cell_m=1000)),
        ("泉港区 350505, H3 res 8", FourColourParams("350505", "h3", h3_res=8)),
        ("泉州市 350500, by county", FourColourParams("350500", "children")),
    )
    for public in (False, True)
]


@dataclass
class Result:
    case: Case
    zones: int
    size: int
    gzipped: int
    generate: list[float]
    renderer: list[float]
    drawn: list[float]
    load: list[float]
    errors: list[str]


# --- generation ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def timed_renderer(spent: list[float], renderer: Callable[..., folium.Map] | None) -> Iterator[None]:
    """Time every call of the renderer the API uses (api.usecases.four_colour.four_colour_map), or of another one."""
    original = api.usecases.four_colour.four_colour_map
    inner = renderer or original

    def timed(*args: Any, **kwargs: Any) -> folium.Map:
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    api.usecases.four_colour.four_colour_map = timed
    try:
        yield
    finally:
        api.usecases.four_colour.four_colour_map = original


def renderer_at(rev: str) -> Callable[..., folium.Map]:
    """four_colour_map of maps/four_colour.py as it was at git revision rev (to measure before a change)."""
    source = subprocess.run(
        ["git", "show", f"{rev}:maps/four_colour.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    module = types.ModuleType(f"four_colour_at_{rev.replace('-', '_').replace('~', '_')}")
    module.__file__ = str(ROOT / "maps" / "four_colour.py")
    sys.modules[module.__name__] = module  # pydantic resolves the module's annotations through it
    exec(compile(source, f"{rev}:maps/four_colour.py", "exec"), module.__dict__)  # our own file, from git
    renderer: Callable[..., folium.Map] = module.four_colour_map
    return renderer


def generate(
    engine: Engine, settings: Settings, case: Case, renderer: Callable[..., folium.Map] | None
) -> tuple[str, int, float, float]:
    """The page as GET /maps/four-color makes it: (html, zones, seconds in all, seconds in the renderer:
    four_colour_map and the folium map's render())."""
    spent: list[float] = []
    started = time.perf_counter()
    with timed_renderer(spent, renderer), engine.connect() as conn:
        m, zones = four_colour_folium(conn, case.params, settings, public=case.public)
        rendering = time.perf_counter()
        page = m.get_root().render()
    done = time.perf_counter()
    return page, len(zones), done - started, sum(spent) + (done - rendering)


# --- the browser ---------------------------------------------------------------------------------------------

# Put at the top of the page (for the benchmark only): notes when the last zone path appears and the first
# frame after it, in ms since navigation started.
_PROBE = """<script>
(function () {
  var wanted = %d;
  window.__errors = [];
  window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
  new MutationObserver(function (_, observer) {
    if (document.querySelectorAll("path.rm-zone").length < wanted) { return; }
    observer.disconnect();
    window.__zonesDrawn = performance.now();
    requestAnimationFrame(function () { setTimeout(function () { window.__painted = performance.now(); }, 0); });
  }).observe(document, {childList: true, subtree: true});
})();
</script>"""
_MEASURE = """(() => {
  const nav = performance.getEntriesByType("navigation")[0];
  return {drawn: window.__zonesDrawn, painted: window.__painted, load: nav.loadEventEnd,
          zones: document.querySelectorAll("path.rm-zone").length, errors: window.__errors};
})()"""


def render_times(
    browser: Browser, base_url: str, pages: dict[str, str], key: str, zones: int, runs: int
) -> tuple[list[float], list[float], list[str]]:
    """(ms to the first frame with every zone path drawn, ms to the load event, page errors) per run."""
    pages[key] = pages[key].replace("<head>", "<head>" + _PROBE % zones, 1)
    drawn: list[float] = []
    load: list[float] = []
    errors: list[str] = []
    for _ in range(runs):
        report = browser.open(
            f"{base_url}/page/{key}", wait_for="window.__painted", evaluate=_MEASURE, timeout=180, settle=0.2
        )
        if not report.ready:
            raise RuntimeError(f"{key}: the page did not draw its {zones} zones within 180 s")
        value = report.value
        if value["zones"] != zones:
            raise RuntimeError(f"{key}: {value['zones']} zone paths drawn, {zones} expected")
        drawn.append(float(value["painted"]))
        load.append(float(value["load"]))
        found = [*value["errors"], *(f"blocked {url}" for url in report.blocked)]
        errors.extend(e for e in found if e not in errors)
    return drawn, load, errors


def page_server(pages: dict[str, str]) -> FastAPI:
    """The generated pages and the map assets, so that a load measures the browser, not the generation."""
    app = FastAPI()
    mount(app)
    app.add_api_route("/page/{key}", lambda key: HTMLResponse(pages[key]))
    app.add_api_route("/favicon.ico", lambda: Response(status_code=204))
    return app


# --- report --------------------------------------------------------------------------------------------------


def _versions(engine: Engine, chromium: str) -> str:
    with engine.connect() as conn:
        pg = conn.execute(text("SHOW server_version")).scalar()
        postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar()
    browser = subprocess.run([chromium, "--version"], capture_output=True, text=True).stdout.strip()
    leaflet = next(p.version for p in PACKAGES if p.npm == "leaflet")
    cluster = next(p.version for p in PACKAGES if p.npm == "leaflet.markercluster")
    return (
        f"PostgreSQL {pg}, PostGIS {postgis}; Python {platform.python_version()}, folium {folium.__version__}, "
        f"shapely {shapely.__version__} (GEOS {shapely.geos_version_string}); Leaflet {leaflet}, "
        f"Leaflet.markercluster {cluster}; {browser or chromium}"
    )


def _git() -> str:
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "maps", "api"], cwd=ROOT, capture_output=True, text=True
    )
    return rev.stdout.strip() + (" + uncommitted changes in maps/ or api/" if dirty.stdout.strip() else "")


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ms"


def _s(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s"


def table(results: list[Result]) -> str:
    lines = [
        "| map | variant | zones | page | gzip | generate | of which map + HTML | Chromium: zones drawn | load event |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        lines.append(
            f"| {r.case.label} | {'public' if r.case.public else 'internal'} | {r.zones} "
            f"| {r.size / 1e6:.2f} MB | {r.gzipped / 1e6:.2f} MB | {_s(r.generate)} | {_s(r.renderer)} "
            f"| {_ms(r.drawn) if r.drawn else '—'} | {_ms(r.load) if r.load else '—'} |"
        )
    errors = [
        f"- {r.case.label}, {'public' if r.case.public else 'internal'}: {e}"
        for r in results
        for e in r.errors
    ]
    if errors:
        lines += ["", "Errors in the pages (uncaught exceptions, blocked requests):", "", *errors]
    return "\n".join(lines)


def measure(
    engine: Engine,
    settings: Settings,
    runs: int,
    browser: Browser | None,
    renderer: Callable[..., folium.Map] | None,
    tag: str,
) -> list[Result]:
    pages: dict[str, str] = {}
    results: list[Result] = []
    app = page_server(pages)
    with serve_app(app) as base_url:
        for i, case in enumerate(CASES):
            generate_s: list[float] = []
            renderer_s: list[float] = []
            for _ in range(runs):
                page, zones, total, spent = generate(engine, settings, case, renderer)
                generate_s.append(total)
                renderer_s.append(spent)
            body = page.encode("utf-8")
            result = Result(
                case, zones, len(body), len(gzip.compress(body, 6)), generate_s, renderer_s, [], [], []
            )
            if browser is not None:
                key = f"{tag}{i}"
                pages[key] = page
                result.drawn, result.load, result.errors = render_times(
                    browser, base_url, pages, key, zones, runs
                )
                del pages[key]
            results.append(result)
            print(
                f"{tag or 'now'} {case.label} {'public' if case.public else 'internal'}: {zones} zones, "
                f"{result.size / 1e6:.2f} MB, generate {_s(generate_s)} (renderer {_s(renderer_s)})"
                + (f", drawn {_ms(result.drawn)}, load {_ms(result.load)}" if result.drawn else ""),
                flush=True,
            )
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--database-url", help="the database holding the demo (default: DATABASE_URL or `db up`'s)"
    )
    ap.add_argument("--runs", type=int, default=3, help="runs per figure; the table shows the median")
    ap.add_argument("--no-browser", action="store_true", help="size and generation time only")
    ap.add_argument(
        "--compare", metavar="REV", help="also measure maps/four_colour.py as it was at git revision REV"
    )
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args()

    settings = (
        Settings(db=DatabaseSettings(DATABASE_URL=args.database_url)) if args.database_url else Settings()
    )
    url = settings.db.sqlalchemy_url
    engine = make_engine(url, statement_timeout_ms=settings.db.statement_timeout_ms)
    with engine.connect() as conn:
        enterprises = conn.execute(
            text("SELECT count(*) FROM enterprises WHERE jurisdiction_adcode LIKE '3505%'")
        ).scalar()
    if not enterprises:
        raise SystemExit(
            f"no demo register under 350500 in {make_url(url).render_as_string()}: run `riskmap demo`"
        )
    chromium = chromium_path()
    if chromium is None and not args.no_browser:
        raise SystemExit(
            "headless Chromium is not installed: `apt-get install chromium`, or pass --no-browser"
        )

    load_before = " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    with contextlib.ExitStack() as stack:
        browser = (
            None
            if args.no_browser
            else stack.enter_context(Browser(window=(1400, 1000), executable=chromium))
        )
        after = measure(engine, settings, args.runs, browser, None, "")
        before = (
            measure(engine, settings, args.runs, browser, renderer_at(args.compare), f"{args.compare} ")
            if args.compare
            else None
        )
    load = " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    command = COMMAND + "".join(
        f" {flag}"
        for flag, on in (("--no-browser", args.no_browser), (f"--compare {args.compare}", args.compare))
        if on
    )
    out = [
        "# Four-colour map page (GET /maps/four-color)",
        "",
        f"- date: {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"- machine: {machine()}; load average (1, 5, 15 min) before the run {load_before}, after {load}",
        f"- versions: {_versions(engine, chromium or 'no browser')}",
        f"- code: riskmap {_git()}",
        f"- data: the demo in {make_url(url).render_as_string()} ({enterprises:,} enterprises under 350500)",
        f"- reproduce: `{command}`",
        "",
        "**generate**: the page as the endpoint makes it (the analysis and register queries and the renderer, "
        f"`four_colour_folium` + `render()`), median of {args.runs}; **of which map + HTML**: in "
        "`maps.four_colour.four_colour_map` and the map's `render()`, the rest is the database. **Chromium: zones drawn**: from navigation to the first frame after "
        "the last zone path is in the page (the page served ready-made from 127.0.0.1, so generation is not in "
        f"it), median of {args.runs} loads; **load event**: to the end of the load event (all scripts run, "
        "markers clustered). gzip: the page compressed at level 6 (the app serves it uncompressed).",
        "",
        "## Now" if before else "## Results",
        "",
        table(after),
    ]
    if before is not None:
        out += ["", f"## Before: `maps/four_colour.py` at {args.compare}", "", table(before)]
    write_report(args.output, "\n".join(out))  # what was written by hand below the notes marker stays
    print(f"wrote {args.output}")
    engine.dispose()


if __name__ == "__main__":
    main()
