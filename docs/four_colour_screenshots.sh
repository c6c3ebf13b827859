#!/usr/bin/env bash
# Remake docs/screenshots/four-colour-*.png: the four-colour map of the demo city (泉州市 350500, its districts,
# density rule) and county (泉港区 350505: no townships, so the default grid), on the web (the command line's
# self-contained page, shot by headless Chromium) and in print (the PNG of /maps/four-color.png). Needs the
# demo loaded (`riskmap demo`) and chromium. Run from the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
out=docs/screenshots
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
shoot() {  # page.html shot.png
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,1000 \
    --virtual-time-budget=15000 --screenshot="$2" "file://$1" 2>/dev/null
}
"$python" -m api.cli map four-color --adcode 350500 --rule density -o "$tmp/city.html"
shoot "$tmp/city.html" "$out/four-colour-city-web.png"
"$python" -m api.cli map four-color --adcode 350505 -o "$tmp/county.html"
shoot "$tmp/county.html" "$out/four-colour-county-web.png"
"$python" -m api.cli map four-color --adcode 350500 --rule density -o "$tmp/city.png"
"$python" -m api.cli map four-color --adcode 350505 -o "$tmp/county.png"
# the print versions at screen size (the PNG the service serves is 200 dpi A4)
"$python" - "$tmp" "$out" <<'PY'
import sys
from PIL import Image
tmp, out = sys.argv[1:]
for name in ("city", "county"):
    image = Image.open(f"{tmp}/{name}.png")
    image.thumbnail((1400, 1000))
    image.save(f"{out}/four-colour-{name}-print.png", optimize=True)
PY
ls "$out"/four-colour-*.png
