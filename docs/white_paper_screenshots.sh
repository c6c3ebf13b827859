#!/usr/bin/env bash
# Remake docs/screenshots/white-paper-*.png: the risk white paper of the demo city (泉州市 350500) for last
# month, internal and public versions, pages rendered to PNG with pdftoppm (poppler-utils; installed by
# `bash scripts/setup.sh --dev`). Needs the demo loaded (`riskmap demo`). Run from the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
period=$(date -d "$(date +%Y-%m-01) -1 day" +%Y-%m)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for version in internal public; do
  flag=$([ "$version" = public ] && echo --public || echo --no-public)
  "$python" -m api.cli report white-paper --adcode 350500 --period "$period" $flag -o "$tmp/$version.pdf"
  # pages 1–3: the summary and map, the sector and zone tables and the trend, the lists
  pdftoppm -r 60 -png -f 1 -l 3 "$tmp/$version.pdf" "docs/screenshots/white-paper-$version"
done
ls docs/screenshots/white-paper-*.png
