"""Offline front-end assets: Leaflet, its plugins and their CSS, and the API documentation's Swagger UI and
Redoc, served from our own server, never a CDN.

The packages are npm packages pinned in maps/package.json (installed into maps/node_modules by
scripts/setup.sh); `localise()` points a folium map at them and `mount()` serves them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from branca.element import CssLink, Element, Figure, JavascriptLink

from geo.errors import RiskmapError, SetupError

if TYPE_CHECKING:
    import folium
    from fastapi import FastAPI

__all__ = [
    "ASSET_ROOT_ENV",
    "DEFAULT_PREFIX",
    "PACKAGES",
    "ExternalAssetError",
    "VendorPackage",
    "asset_root",
    "check_assets",
    "local_assets_url_map",
    "localise",
    "mount",
    "read_local_asset",
]

DEFAULT_PREFIX: Final = "/static/vendor"
ASSET_ROOT_ENV: Final = "RISKMAP_MAP_ASSETS"
"""Environment variable naming another node_modules folder (e.g. for an installed, non-editable wheel)."""

SETUP_HINT: Final = (
    "run `bash scripts/setup.sh` (or `npm ci --omit=dev --omit=peer --ignore-scripts --prefix maps`)"
)


@dataclass(frozen=True)
class VendorPackage:
    """One npm package of maps/package.json: the folders we serve and the CDN URLs it replaces."""

    npm: str
    version: str
    # Served folders, relative to the package root. Whole folders, so that the relative url()s of a CSS file
    # (leaflet's images/, fontawesome's ../webfonts/, glyphicons' ../fonts/) resolve next to it.
    dirs: tuple[str, ...]
    # CDN URL (as folium or a plugin names it) -> file inside the package.
    files: dict[str, str] = field(default_factory=dict)


PACKAGES: Final[tuple[VendorPackage, ...]] = (
    VendorPackage(
        "leaflet",
        "1.9.3",
        ("dist",),
        {
            "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "dist/leaflet.js",
            "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "dist/leaflet.css",
        },
    ),
    VendorPackage(
        "jquery",
        "3.7.1",
        ("dist",),
        {"https://code.jquery.com/jquery-3.7.1.min.js": "dist/jquery.min.js"},
    ),
    VendorPackage(
        "bootstrap",
        "5.2.2",
        ("dist/js", "dist/css"),
        {
            "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": "dist/js/bootstrap.bundle.min.js",
            "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": "dist/css/bootstrap.min.css",
        },
    ),
    # Bootstrap 3's glyphicons alone (the CDN file folium names is not on npm; this package is the same
    # icon font and classes cut out of Bootstrap 3.3.7, without the rest of Bootstrap 3 that would clash with 5).
    VendorPackage(
        "glyphicons-only-bootstrap",
        "1.0.1",
        ("css", "fonts"),
        {
            "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": "css/bootstrap.min.css"
        },
    ),
    VendorPackage(
        "@fortawesome/fontawesome-free",
        "6.2.0",
        ("css", "webfonts"),
        {
            "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": "css/all.min.css"
        },
    ),
    # Leaflet.awesome-markers 2.0.2 is on npm only as this repackaging of the upstream release.
    VendorPackage(
        "drmonty-leaflet-awesome-markers",
        "2.0.2",
        ("js", "css"),
        {
            "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js": "js/leaflet.awesome-markers.min.js",
            "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css": "css/leaflet.awesome-markers.css",
        },
    ),
    VendorPackage(
        "leaflet.markercluster",
        "1.1.0",
        ("dist",),
        {
            "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js": "dist/leaflet.markercluster.js",
            "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.css": "dist/MarkerCluster.css",
            "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.Default.css": "dist/MarkerCluster.Default.css",
        },
    ),
    # 3.0.0 ships no .min.js; the plain file is the same code. Its files sit at the package root.
    VendorPackage(
        "leaflet.fullscreen",
        "3.0.0",
        (".",),
        {
            "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js": "Control.FullScreen.js",
            "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css": "Control.FullScreen.css",
        },
    ),
    # Vector tiles (/tiles/…pbf) on Leaflet 1.9: maintained (Leaflet.VectorGrid was last released in 2017 and
    # calls L.DomEvent.fakeStop, gone since Leaflet 1.8); draws on canvas, no eval, no workers (CSP-safe).
    VendorPackage(
        "protomaps-leaflet",
        "5.1.0",
        ("dist",),
        {
            "https://unpkg.com/protomaps-leaflet@5.1.0/dist/protomaps-leaflet.js": "dist/protomaps-leaflet.js",
        },
    ),
    # The API documentation (/docs, /redoc: api/pages/docs.py), in place of the CDN files FastAPI's own pages
    # name. swagger-ui-dist keeps its files at the package root; redoc's standalone bundle needs nothing else.
    VendorPackage(
        "swagger-ui-dist",
        "5.35.0",
        (".",),
        {
            "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js": "swagger-ui-bundle.js",
            "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css": "swagger-ui.css",
            "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/oauth2-redirect.js": "oauth2-redirect.js",
        },
    ),
    VendorPackage(
        "redoc",
        "2.5.4",
        ("bundles",),
        {"https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js": "bundles/redoc.standalone.js"},
    ),
)

# folium's rotation classes for awesome-marker icons (Icon(angle=…)). The file lives only in folium's git
# repository, neither in its wheel nor on npm; it is one transform rule per degree, so we generate it.
_ROTATE_CSS_CDN: Final = (
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css"
)
_ROTATE_CSS_PATH: Final = "folium/leaflet.awesome.rotate.min.css"
_ROTATE_CSS: Final = "".join(
    f".fa-rotate-{d}{{-webkit-transform:rotate({d}deg);transform:rotate({d}deg)}}" for d in range(360)
)

# Only these file types are served from the package folders (no README, package.json, index.html, sources).
_SERVED_SUFFIXES: Final = frozenset(
    {".js", ".css", ".png", ".gif", ".svg", ".woff", ".woff2", ".ttf", ".eot"}
)
_EXTERNAL_URL: Final = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


class ExternalAssetError(RiskmapError):
    """A map element still loads a script or stylesheet from another host: on a closed network it would break."""


def asset_root() -> Path:
    """The node_modules folder holding the packages: $RISKMAP_MAP_ASSETS, else maps/node_modules."""
    configured = os.environ.get(ASSET_ROOT_ENV)
    return Path(configured) if configured else Path(__file__).resolve().parent / "node_modules"


ASSET_ROOT: Final = asset_root()
"""Where the packages were found at import; functions call asset_root() again so the variable can change."""


def _prefix(prefix: str) -> str:
    return "/" + prefix.strip("/") if prefix.strip("/") else ""


def local_assets_url_map(prefix: str = DEFAULT_PREFIX) -> dict[str, str]:
    """Every CDN URL we know -> the URL under prefix where mount() serves the same file."""
    base = _prefix(prefix)
    out = {cdn: f"{base}/{pkg.npm}/{path}" for pkg in PACKAGES for cdn, path in pkg.files.items()}
    out[_ROTATE_CSS_CDN] = f"{base}/{_ROTATE_CSS_PATH}"
    return out


def _installed_version(package_dir: Path) -> str | None:
    import json

    try:
        return str(json.loads((package_dir / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return None


def check_assets(root: Path | None = None) -> Path:
    """The asset root, after checking every package is installed at its pinned version with its files."""
    root = root or asset_root()
    problems: list[str] = []
    for pkg in PACKAGES:
        pkg_dir = root / pkg.npm
        version = _installed_version(pkg_dir)
        if version is None:
            problems.append(f"{pkg.npm} is not installed")
            continue
        if version != pkg.version:
            problems.append(f"{pkg.npm} is {version}, maps/package.json pins {pkg.version}")
        problems.extend(
            f"{pkg.npm}/{path} is missing" for path in pkg.files.values() if not (pkg_dir / path).is_file()
        )
    if problems:
        raise SetupError(f"map assets in {root} are not ready: {'; '.join(problems)}. Please {SETUP_HINT}.")
    return root


def read_local_asset(url: str, prefix: str = DEFAULT_PREFIX, root: Path | None = None) -> bytes:
    """The bytes mount() would serve for a URL under prefix (for inlining into standalone files)."""
    base = _prefix(prefix) + "/"
    path = url.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith(base):
        raise ValueError(f"{url!r} is not under the asset prefix {prefix!r}")
    rel = path[len(base) :]
    if rel == _ROTATE_CSS_PATH:
        return _ROTATE_CSS.encode()
    root = (root or asset_root()).resolve()
    for pkg in PACKAGES:
        if not rel.startswith(pkg.npm + "/"):
            continue
        inside = rel[len(pkg.npm) + 1 :]
        pkg_dir = (root / pkg.npm).resolve()
        target = (pkg_dir / inside).resolve()
        served = [(pkg_dir / d).resolve() for d in pkg.dirs]
        if target.suffix.lower() in _SERVED_SUFFIXES and any(target.is_relative_to(d) for d in served):
            if not target.is_file():
                raise SetupError(f"map asset {target} is missing. Please {SETUP_HINT}.")
            return target.read_bytes()
    raise ValueError(f"{url!r} is not one of the served map assets")


# --- localise ------------------------------------------------------------------------------------------------


def _walk(element: Element) -> Iterator[Element]:
    yield element
    # A Figure keeps its header, body and script parts as attributes, not as children.
    parts = (
        [getattr(element, part, None) for part in ("header", "html", "script")]
        if isinstance(element, Figure)
        else []
    )
    for child in [*parts, *element._children.values()]:
        if isinstance(child, Element):
            yield from _walk(child)


def _is_external(url: str) -> bool:
    return bool(_EXTERNAL_URL.match(url.strip()))


def localise(m: folium.Map, prefix: str = DEFAULT_PREFIX) -> folium.Map:
    """Point every script and stylesheet of m (and of every child element) at our server under prefix.

    Raises ExternalAssetError naming the element and URL when one is a CDN URL we have no local copy of, so
    that a newly used plugin fails here instead of silently loading from the internet.
    """
    url_map = local_assets_url_map(prefix)
    unknown: list[str] = []

    def local(owner: Element, url: str) -> str:
        if url in url_map:
            return url_map[url]
        if _is_external(url):
            unknown.append(f"{type(owner).__name__}: {url}")
        return url

    for element in _walk(m.get_root()):
        # Instance attributes, new lists: folium's add_js_link() mutates the class-level lists in place.
        for attr in ("default_js", "default_css"):
            links: Any = getattr(element, attr, None)
            if links:
                setattr(element, attr, [(name, local(element, url)) for name, url in links])
        # Links already in the page header (a map rendered before, or added by hand).
        if isinstance(element, JavascriptLink | CssLink):
            element.url = local(element, element.url)
    if unknown:
        listed = "\n  ".join(unknown)
        raise ExternalAssetError(
            f"these map assets would load from the internet and have no local copy:\n  {listed}\n"
            "Add the npm package to maps/package.json and its URLs to PACKAGES in maps/assets.py."
        )
    return m


# --- serving -------------------------------------------------------------------------------------------------


def mount(app: FastAPI, prefix: str = DEFAULT_PREFIX, *, root: Path | None = None) -> None:
    """Serve the needed package folders (only those, only asset file types) under prefix with StaticFiles."""
    from fastapi.responses import Response
    from fastapi.staticfiles import StaticFiles

    class _AssetFiles(StaticFiles):
        def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
            if Path(path).suffix.lower() not in _SERVED_SUFFIXES:
                return "", None
            return super().lookup_path(path)

    root = check_assets(root)
    base = _prefix(prefix)

    def rotate_css() -> Response:
        return Response(
            _ROTATE_CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=86400"}
        )

    # A route, not a mount, and added first: mounts match by prefix and this path shares none with them.
    app.add_api_route(f"{base}/{_ROTATE_CSS_PATH}", rotate_css, methods=["GET"], include_in_schema=False)
    for pkg in PACKAGES:
        for d in pkg.dirs:
            url = f"{base}/{pkg.npm}" if d == "." else f"{base}/{pkg.npm}/{d}"
            app.mount(url, _AssetFiles(directory=root / pkg.npm / d), name=f"vendor:{pkg.npm}/{d}")
