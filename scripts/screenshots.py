"""Remake the screenshots in docs/screenshots/ from a running demo server (`riskmap demo`, then `riskmap serve`).

    python -m scripts.screenshots [--url http://127.0.0.1:8000] [--only four-colour,joint-prevention,white-paper]

(`bash docs/screenshots.sh` runs it from the checkout.) What it makes, each PNG a few hundred KB at most:

- four-colour-{city,county}-web.png: the interactive four-colour map of 泉州市 350500 and 泉港区 350505 with
  its default zones, in headless Chromium (tests/maps/browser.py: every request off this machine refused);
- four-colour-{city,county}-print.png: the print version (上墙), `/maps/four-color.png`, scaled down;
- joint-prevention-county.png, joint-prevention-park.png: the joint-prevention map of 泉港区 as it opens, and
  with its biggest cluster (the demo's park) clicked open;
- white-paper-{internal,public}-{1,2,3}.png: pages 1–3 of the demo city's risk white paper (风险白皮书) for
  last month, from `/api/v1/reports/white-paper`, rendered by pdftoppm (poppler-utils).

The internal pages need a signed-in caller: unless RISKMAP_API_KEY is set, the script makes an API key for
the demo's admin (`demo-admin`, or --user) in the configured database, as `riskmap users key` would, and
revokes it when done. Needs the dev install (`bash scripts/setup.sh --dev`: Chromium, websocket-client,
poppler-utils)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: tests.maps.browser comes from this checkout
    sys.path.insert(0, str(ROOT))

CITY, COUNTY = "350500", "350505"  # 泉州市, 泉港区 (the demo's regions)
WINDOW = (1400, 1000)
MAX_WIDTH = 1400  # print maps and pages are scaled down to this width
COLOURS = 256  # screenshots are stored with an adaptive palette: maps and text lose nothing visible
KINDS = ("four-colour", "joint-prevention", "white-paper")

_MAP = "Object.values(window).find((v) => v instanceof L.Map)"
_MAP_READY = (
    "window.L && document.querySelector('.leaflet-container')"
    " && document.querySelector('.leaflet-overlay-pane path, .leaflet-overlay-pane canvas')"
)
# Click the biggest cluster's count label, then wait until the map has flown to it and drawn its members.
_PARK_OPEN = (
    f"(() => {{ const map = window.L && {_MAP}; if (!map) return false;"
    " if (!window.__rmClicked) { const labels = [...document.querySelectorAll('.rm-jp-count-text')];"
    " if (!labels.length) return false;"
    " labels.sort((a, b) => parseInt(b.textContent) - parseInt(a.textContent))[0].click();"
    " window.__rmClicked = true; return false; }"
    " return map.getContainer().getAttribute('data-open-clusters') !== ''"
    " && !document.querySelector('.leaflet-zoom-anim'); })()"
)


class Failed(RuntimeError):
    """A page or file could not be made: the message says which and why."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("RISKMAP_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--user", default="demo-admin", help="whose API key the script makes (and revokes)")
    parser.add_argument(
        "--only", default=",".join(KINDS), help=f"comma-separated subset of {', '.join(KINDS)}"
    )
    parser.add_argument(
        "--period", default=None, help="the white paper's period YYYY-MM (default: last month)"
    )
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; expected some of {', '.join(KINDS)}")
    base = args.url.rstrip("/")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        _get(f"{base}/api/v1/health/live", {})
    except Failed as exc:
        print(f"no riskmap server at {base} ({exc}): start one with `riskmap serve`", file=sys.stderr)
        return 2
    made: list[Path] = []
    with _api_key(args.user) as key:
        headers = {"X-API-Key": key}
        if "four-colour" in kinds:
            made += four_colour(base, headers, args.out)
        if "joint-prevention" in kinds:
            made += joint_prevention(base, headers, args.out)
        if "white-paper" in kinds:
            made += white_paper(base, headers, args.out, args.period or _last_month())
    for path in made:
        print(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}\t{path.stat().st_size // 1024} KB"
        )
    return 0


# --- the pictures -------------------------------------------------------------------------------------------


def four_colour(base: str, headers: dict[str, str], out: Path) -> list[Path]:
    """The city's and the county's four-colour maps with their default zones, web and print."""
    made = []
    for place, adcode in (("city", CITY), ("county", COUNTY)):
        query = _default_or_grid(base, headers, adcode)
        made.append(_page(f"{base}/maps/four-color?{query}", headers, out / f"four-colour-{place}-web.png"))
        png = _get(f"{base}/maps/four-color.png?{query}", headers)
        made.append(_save(png, out / f"four-colour-{place}-print.png"))
    return made


def joint_prevention(base: str, headers: dict[str, str], out: Path) -> list[Path]:
    """The county's joint-prevention map as it opens (big clusters closed), and its park clicked open."""
    url = f"{base}/maps/joint-prevention?adcode={COUNTY}"
    return [
        _page(
            url,
            headers,
            out / "joint-prevention-county.png",
            wait_for=_MAP_READY + " && document.querySelector('.rm-jp-hull')",
        ),
        _page(url, headers, out / "joint-prevention-park.png", wait_for=_PARK_OPEN),
    ]


def white_paper(base: str, headers: dict[str, str], out: Path, period: str) -> list[Path]:
    """Pages 1–3 of the demo city's white paper, internal and public, rendered by pdftoppm."""
    if shutil.which("pdftoppm") is None:
        raise Failed(
            "pdftoppm is not installed: `apt-get install poppler-utils` (or `bash scripts/setup.sh --dev`)"
        )
    made = []
    with tempfile.TemporaryDirectory(prefix="riskmap-shots-") as tmp:
        for version in ("internal", "public"):
            query = urllib.parse.urlencode(
                {
                    "adcode": CITY,
                    "period": period,
                    "public": str(version == "public").lower(),
                    "format": "pdf",
                }
            )
            pdf = Path(tmp) / f"{version}.pdf"
            pdf.write_bytes(_get(f"{base}/api/v1/reports/white-paper?{query}", headers, timeout=300))
            subprocess.run(
                ["pdftoppm", "-r", "90", "-png", "-f", "1", "-l", "3", str(pdf), str(Path(tmp) / version)],
                check=True,
            )
            pages = sorted(Path(tmp).glob(f"{version}-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
            for n, page in enumerate(pages, start=1):
                made.append(_save(page.read_bytes(), out / f"white-paper-{version}-{n}.png"))
    return made


# --- helpers ------------------------------------------------------------------------------------------------


def _default_or_grid(base: str, headers: dict[str, str], adcode: str) -> str:
    """The query of the default map (`adcode` only), or, where the server refuses that (a county without
    townships on a version that does not fall back by itself), a 2 km grid — said on the console."""
    try:
        _get(f"{base}/api/v1/analysis/four-color?adcode={adcode}", headers, timeout=300)
        return f"adcode={adcode}"
    except Failed as exc:
        if "HTTP 422" not in str(exc):
            raise
        print(f"{adcode}: the default zones are refused ({exc}); a 2 km grid instead", file=sys.stderr)
        return f"adcode={adcode}&zones=grid&cell_m=2000"


def _page(url: str, headers: dict[str, str], path: Path, *, wait_for: str = _MAP_READY) -> Path:
    """A screenshot of the page in headless Chromium, the page's requests all answered by the server."""
    from tests.maps.browser import Browser, BrowserError

    # The browser driver gives the first answer 20 s; a big map on a busy machine can take longer to render
    # the first time. Asked once beforehand (its zone totals then come from the cache), and once more if
    # the browser still gave up.
    _get(url, headers, timeout=300)
    for attempt in (1, 2):
        try:
            with Browser(window=WINDOW) as browser:
                report = browser.open(
                    url, wait_for=wait_for, headers=headers, timeout=240, settle=1.0, screenshot=path
                )
            break
        except BrowserError as exc:
            if attempt == 2:
                raise Failed(f"{url}: {exc}") from None
    problems = [
        *(f"not ready: {wait_for}" for _ in [0] if not report.ready),
        *(f"asked for {u}" for u in report.external_requests),
        *(f"failed {u}: {why}" for u, why in report.failed if not u.endswith("favicon.ico")),
        *(f"script error: {e}" for e in report.console_errors if "favicon" not in e),
    ]
    if problems:
        raise Failed(f"{url}: " + "; ".join(problems))
    return _save(path.read_bytes(), path)


def _save(png: bytes, path: Path) -> Path:
    """png scaled down to MAX_WIDTH and stored with an adaptive palette of COLOURS colours."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        picture = image.convert("RGB")
    if picture.width > MAX_WIDTH:
        picture = picture.resize(
            (MAX_WIDTH, round(picture.height * MAX_WIDTH / picture.width)), Image.Resampling.LANCZOS
        )
    picture.quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


def _get(url: str, headers: dict[str, str], *, timeout: float = 120) -> bytes:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise Failed(f"{url}: not an http(s) URL")
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http(s) only, checked above)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):
            detail = str(json.loads(detail).get("detail", detail))
        raise Failed(f"{url}: HTTP {exc.code} {detail[:300]}") from None
    except OSError as exc:
        raise Failed(f"{url}: {exc}") from None


@contextlib.contextmanager
def _api_key(user: str) -> Iterator[str]:
    """RISKMAP_API_KEY, else a new key of `user` in the configured database, revoked on the way out."""
    given = os.environ.get("RISKMAP_API_KEY")
    if given:
        yield given
        return
    from api.settings import Settings
    from api.users import new_api_key, revoke_api_keys

    settings = Settings()
    key = new_api_key(settings, user)
    revoke: Callable[[], object] = lambda: revoke_api_keys(settings, user, key)  # noqa: E731
    try:
        yield key
    finally:
        revoke()


def _last_month(today: dt.date | None = None) -> str:
    first = (today or dt.date.today()).replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


if __name__ == "__main__":
    sys.exit(main())
