"""The one way user text leaves riskmap: escaped for where it goes.

Every value a user can write (names, addresses, contacts, hazards, measures, notes) may reach a web page, a
map's tooltip or popup, a workbook or a PDF. Each of those places reads some characters as code, so each
writer passes text through the function here for its medium, and nowhere else:

- HTML (pages, legends, Folium tooltips and popups): `html_text` (& < > " ' as entities).
- Inside a `<script>` element (map data): `script_json` (no "</script", "<!--" or line separators).
- In the browser (maps that build popups from JSON data): `ESC_JS`, the same escaping in JavaScript.
- Spreadsheet cells (xlsx, csv): `escape_cell` (= + - @ tab CR start a formula: a leading apostrophe).
- Matplotlib text (PDF, PNG): `plain_text` (a `$` would start mathtext; broken mathtext fails the render).
- A download's file name in a quoted header parameter: `ascii_filename` (no quote, backslash or control).

Pure Python, no dependencies, so geo/io can use it as well as maps/ and api/.
"""

from __future__ import annotations

import html
import json
import math
import re
from typing import Any, Final

__all__ = ["ESC_JS", "ascii_filename", "escape_cell", "html_text", "plain_text", "script_json"]


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:  # pandas.NA, numpy NaN and NaT without importing either
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def html_text(value: Any) -> str:
    """value as text that HTML shows literally ('' for a missing value): & < > " ' become entities, so it is
    safe in element content and in a quoted attribute."""
    if _missing(value):
        return ""
    return html.escape(str(value), quote=True)


def script_json(value: Any) -> str:
    """Compact JSON that is safe inside a <script> element: no "</script", "<!--", "&" or line separators
    that end or confuse the element, and UTF-8 text as it is (not \\uXXXX, which would double its size)."""
    return (
        json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


# `esc(value)` in the browser, for maps that build their popups and tooltips from JSON data when they open:
# the same characters as html_text, so a value looks the same whichever side escaped it.
ESC_JS: Final = """
  var ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};
  function esc(value) {
    if (value === null || value === undefined) { return ""; }
    return String(value).replace(/[&<>"']/g, function (c) { return ESCAPES[c]; });
  }
"""

_RISKY_START: Final = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: Any) -> Any:
    """'=1+2' → "'=1+2": a spreadsheet shows the text instead of running it (CSV/formula injection).
    Other values are returned as they are; the importer removes the apostrophe again."""
    if isinstance(value, str) and value.startswith(_RISKY_START):
        return "'" + value
    return value


def plain_text(value: Any) -> str:
    """value as matplotlib text shown literally ('' for a missing value): every `$` escaped, so that no pair
    of them starts mathtext (a user's "$\\frac{$" would otherwise fail the whole PDF)."""
    if _missing(value):
        return ""
    return str(value).replace("$", "\\$")


_NOT_PLAIN_ASCII: Final = re.compile(r'[^\x20-\x7e]|["\\]')


def ascii_filename(name: str) -> str:
    """name for the ASCII `filename="…"` of a Content-Disposition: anything but printable ASCII, and the
    quote and backslash that would end or escape the parameter, as "_" (the real name goes in filename*,
    percent-encoded)."""
    return _NOT_PLAIN_ASCII.sub("_", name)
