#!/usr/bin/env bash
# Remake docs/screenshots/white-paper-*.png only: pages 1–3 of the demo city's (泉州市 350500) white paper for
# last month, internal and public, rendered with pdftoppm, from a running demo server. See docs/screenshots.sh.
set -euo pipefail
exec bash "$(dirname "$0")/screenshots.sh" --only white-paper "$@"
