#!/usr/bin/env bash
# Remake docs/screenshots/*.png (four-colour maps of 泉州市 350500 and 泉港区 350505, web and print; the
# joint-prevention map of 泉港区, closed and with its park opened; pages 1–3 of the city's white paper,
# internal and public) from a running demo server. On a fresh checkout:
#   bash scripts/setup.sh --dev && .venv/bin/riskmap demo && .venv/bin/riskmap serve &   # then
#   bash docs/screenshots.sh [--url http://127.0.0.1:8000] [--only four-colour,joint-prevention,white-paper]
# The server's URL may also come from RISKMAP_URL. The internal pages are read with an API key the script
# makes for demo-admin and revokes when done (or RISKMAP_API_KEY). What it does: scripts/screenshots.py.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
exec "$python" -m scripts.screenshots "$@"
