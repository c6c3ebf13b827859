"""A time limit for one piece of work, Python and SQL alike: set once by the caller (the API sets one per
expensive request), checked cooperatively in long loops (`check`) and handed to PostgreSQL as the
transaction's statement_timeout (`apply`), so neither kind of work outlives it."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from geo.errors import RiskmapError


class TimedOut(RiskmapError):
    """The work took longer than its time limit and was stopped (HTTP 503); `hint` says what to ask instead."""

    def __init__(self, message: str, hint: str = "", hint_zh: str = "") -> None:
        super().__init__(message)
        self.hint = hint
        self.hint_zh = hint_zh


class ClientGone(RiskmapError):
    """The client closed the connection: nobody is waiting for the answer, so the work stopped."""


@dataclass
class Deadline:
    """Work must end by `at` (time.monotonic()); `gone`, when given, says whether the client left."""

    seconds: float
    at: float
    hint: str = ""
    hint_zh: str = ""
    gone: Callable[[], bool] | None = None
    _next_poll: float = field(default=0.0)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def check(self) -> None:
        now = time.monotonic()
        if now >= self.at:
            raise self.timed_out()
        if self.gone is not None and now >= self._next_poll:
            self._next_poll = now + 0.25  # asking the event loop costs a round trip: at most 4 times a second
            if self.gone():
                raise ClientGone("the client closed the connection; the work was stopped")

    def timed_out(self) -> TimedOut:
        return TimedOut(
            f"the request took longer than its limit of {self.seconds:g} s and was stopped; {self.hint}".rstrip(
                "; "
            ),
            self.hint,
            self.hint_zh,
        )


_CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("riskmap_deadline", default=None)


def current() -> Deadline | None:
    return _CURRENT.get()


@contextmanager
def deadline(
    seconds: float, *, hint: str = "", hint_zh: str = "", gone: Callable[[], bool] | None = None
) -> Iterator[Deadline]:
    """Work inside must end within `seconds` (a nested, later limit does not extend an outer one)."""
    outer = _CURRENT.get()
    d = Deadline(seconds, time.monotonic() + seconds, hint, hint_zh, gone)
    if outer is not None and outer.at < d.at:
        d = outer
    token = _CURRENT.set(d)
    try:
        yield d
    finally:
        _CURRENT.reset(token)


def check() -> None:
    """Raise TimedOut when the current time limit has passed (or ClientGone); nothing without a limit."""
    d = _CURRENT.get()
    if d is not None:
        d.check()


def apply(conn: Any) -> None:
    """Make the current limit the statement_timeout of `conn`'s transaction (SET LOCAL: it ends with it),
    so a query cannot run past the limit either. A no-op without a limit."""
    d = _CURRENT.get()
    if d is None:
        return
    d.check()
    from sqlalchemy import text

    ms = max(1, int(d.remaining() * 1000))
    conn.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(ms)})
