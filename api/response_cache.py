"""Answers kept across requests, as HTTP: the four-colour answer and the four-colour map page.

A route hands its answer's making to `respond` as `make(conn) -> bytes`; `geo.store.answer_cache` keeps the
bytes under the epochs of the tables the answer reads, the request's parameters and the principal's scope.
The ETag comes from the same key, so `If-None-Match` gets 304 after one small query (the epochs), in any
worker process; a stored answer is sent without running `make` or the request's limits (`frame`). A write
to a table the answer reads shows at the next request. `RISKMAP_ANSWER_CACHE_MB=0` turns it off.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractContextManager
from typing import Final

from fastapi import Request, Response
from sqlalchemy import Connection, Engine

from api.features import none_match
from api.settings import Settings
from geo.access import Principal
from geo.store.answer_cache import CACHE, TABLES, AnswerCache
from geo.store.tiles import scope_key

# What each answer reads (tests/api/test_response_cache.py holds the use cases to it). The public page's
# register counts come from a summary that also counts enterprises; the page shows only the counts of
# risk units by level, so an enterprise's write leaves it as it is (tested).
FOUR_COLOUR_TABLES: Final = ("jurisdictions", "risk_units", "hazards")
# ... and for a caller who may see names: the deciding units carry their enterprises' names, and nothing
# else of enterprises (so an enterprise's PATCH of its people or phone leaves the answer kept)
FOUR_COLOUR_DETAIL_TABLES: Final = (*FOUR_COLOUR_TABLES, "enterprise_names")
PUBLIC_PAGE_TABLES: Final = FOUR_COLOUR_TABLES
FULL_PAGE_TABLES: Final = TABLES
VARY: Final = "Authorization, Cookie, X-API-Key"

_SETTINGS_DIGESTS: dict[int, str] = {}


def _settings_digest(settings: Settings) -> str:
    """What of the settings an answer depends on (palette, rules, tiles, caps), as a digest: a changed
    setting after a restart gives other ETags."""
    got = _SETTINGS_DIGESTS.get(id(settings))
    if got is None:
        text = "|".join(s.model_dump_json() for s in (settings.maps, settings.analysis, settings.limits))
        got = _SETTINGS_DIGESTS[id(settings)] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return got


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("riskmap")
    except PackageNotFoundError:
        return "source"


VERSION: Final = _version()


def respond(
    request: Request,
    engine: Engine,
    settings: Settings,
    principal: Principal,
    what: Hashable,
    make: Callable[[Connection], bytes],
    *,
    tables: Sequence[str],
    media_type: str,
    frame: Callable[[], AbstractContextManager[object]],
    weak: bool = False,
    cache: AnswerCache | None = None,
) -> Response:
    """The answer `what` (a name and the checked parameters) for `principal`: 304, stored, or made.
    `weak`: the answer's bytes may differ between makings (a page's generated element ids), its content
    not."""
    key = ("answer", VERSION, _settings_digest(settings), what, scope_key(principal))
    shown: Callable[[str], str] = (lambda t: "W/" + t) if weak else (lambda t: t)
    asked = request.headers.get("if-none-match")
    answer = (cache or CACHE).answer(
        engine,
        key,
        make,
        tables=tables,
        not_modified=lambda tag: none_match(asked, shown(tag)),
        frame=frame,
    )
    headers = {"Vary": VARY}
    if answer.etag is not None:
        headers["ETag"] = shown(answer.etag)
        headers["Cache-Control"] = "no-cache"  # keep it, but ask again (304) before using it
    if answer.body is None:
        return Response(status_code=304, headers=headers)
    return Response(answer.body, media_type=media_type, headers=headers)
