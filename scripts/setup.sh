#!/usr/bin/env bash
# Set riskmap up on a fresh Debian/Ubuntu machine: system packages, a virtualenv in .venv, and a
# ready PostGIS database (`riskmap db up`). Safe to run again: what is there already is kept.
#   bash scripts/setup.sh          the service
#   bash scripts/setup.sh --dev    plus test tools and the headless browser the map tests use
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

apt_install() {
  if ! command -v apt-get >/dev/null; then
    echo "setup: please install $* with your package manager" >&2
    return 1
  fi
  if [ ! -f /tmp/.riskmap-apt-updated ]; then
    $sudo apt-get update -qq && touch /tmp/.riskmap-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
command -v python3 >/dev/null || missing+=(python3)
python3 -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)
# npm installs the web map's Leaflet assets and the API docs' (maps/package.json); the CJK font prints Chinese on the wall map.
command -v npm >/dev/null || missing+=(npm)
{ fc-list 2>/dev/null | grep -qi "noto sans cjk" || [ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]; } \
  || missing+=(fonts-noto-cjk)
if [ "$dev" = 1 ]; then
  command -v chromium >/dev/null || missing+=(chromium)
  command -v pdftoppm >/dev/null || missing+=(poppler-utils)  # docs/screenshots.sh (white-paper pages)
  command -v ogrinfo >/dev/null || missing+=(gdal-bin)  # tests/gdal: ogrinfo, ogr2ogr read what we serve
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt_install "${missing[@]}"
fi

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: riskmap needs Python 3.11 or newer (found $(python3 --version))" >&2
  exit 1
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "$dev" = 1 ]; then
  .venv/bin/python -m pip install -q -e ".[dev]"
else
  .venv/bin/python -m pip install -q -e .
fi

# The web map's front-end packages and the API docs' Swagger UI and Redoc, served from our own server
# (never a CDN): exact versions from
# maps/package-lock.json into maps/node_modules; skipped when that lock is what is installed already.
if ! cmp -s maps/package-lock.json maps/node_modules/.riskmap-installed-lock 2>/dev/null; then
  echo "setup: installing the map assets (npm ci --prefix maps)"
  npm ci --prefix maps --omit=dev --omit=peer --ignore-scripts --no-audit --no-fund --loglevel=error
  cp maps/package-lock.json maps/node_modules/.riskmap-installed-lock
fi

# PostgreSQL + PostGIS (installed with apt-get when missing), a role, a database, the migrations.
.venv/bin/riskmap db up
