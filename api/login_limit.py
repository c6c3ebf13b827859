"""Failed sign-ins, counted per client address and per (username, address) pair: in PostgreSQL, shared by
every worker process and kept across restarts (`SharedLoginLimiter`, what the app uses), or in one process's
memory (`LoginLimiter`, for a process without a database).

At most `max_failures` failed sign-ins for one username from one client address, and
`max_failures_per_address` from one address whatever the username, within a sliding window of
`window_seconds`; past either, `POST /api/v1/auth/token` answers 429 with `Retry-After` without looking at
the password, until the oldest of those failures leaves the window. There is deliberately no limit per
username alone: it would let any stranger lock any user (the admin too) out with a few wrong passwords.
A successful sign-in forgets the pair's failures (not the address's: a valid account of one's own must not
wash an address clean). Unknown usernames count exactly like known ones, so neither the 401 nor the 429
tells whether a user exists.

The address is what uvicorn reports: the TCP peer, or the `X-Forwarded-For` of a proxy it trusts
(`riskmap serve` trusts none unless `FORWARDED_ALLOW_IPS` names one), so a client cannot choose it.

An attempt is counted as a failure when it starts (`begin`) and taken back when it succeeds or cannot be
decided (the database is down): so concurrent attempts cannot slip past the limit while their passwords are
being checked.

`SharedLoginLimiter` keeps the failures in table `login_failures` (`geo/store/login_failures.py`): with
`riskmap serve --workers N` the limits hold in total, not N times, and a restart forgets nothing. Attempts
on the same keys are serialised by advisory locks in the database, and its clock is the wall clock (the
same in every process). Rows that left the window are deleted as attempts come in.
`LoginLimiter` counts in this process's memory: bounded, a key whose failures have all left the window is
dropped, and past `max_keys` keys the least recently failed go.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from geo.errors import RateLimited
from geo.store import login_failures

Key = tuple[str, str]  # ("pair", "<host> <username>") or ("address", host)

MAX_KEY_CHARS = 128  # usernames are at most 64 characters; longer junk is cut, not stored whole
MAX_KEYS = 100_000  # about 25 MB at the most


@dataclass(frozen=True)
class Attempt:
    """One sign-in in flight: the keys it was counted under, and when."""

    keys: tuple[Key, ...]
    at: float
    ids: tuple[int, ...] = ()  # the rows of a shared limiter


class LoginLimiter:
    def __init__(
        self,
        *,
        max_failures: int = 5,
        max_failures_per_address: int = 20,
        window_seconds: float = 15 * 60,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        if min(max_failures, max_failures_per_address) < 1 or window_seconds <= 0 or max_keys < 1:
            raise ValueError("the limits and the window must be positive")
        self.max_failures = max_failures
        self.max_failures_per_address = max_failures_per_address
        self.window = float(window_seconds)
        self.clock = clock
        self.max_keys = max_keys
        self._lock = threading.Lock()
        # Key → times of its latest failures (at most its limit of them), least recently failed first.
        self._failures: OrderedDict[Key, deque[float]] = OrderedDict()

    def _limit(self, key: Key) -> int:
        return self.max_failures if key[0] == "pair" else self.max_failures_per_address

    def _drop_old(self, now: float) -> None:
        """Forget keys whose failures have all left the window; keep at most `max_keys` keys."""
        failures = self._failures
        while failures:
            times = next(iter(failures.values()))
            if times and times[-1] > now - self.window and len(failures) <= self.max_keys:
                break
            failures.popitem(last=False)

    def begin(self, username: str, address: str | None) -> Attempt:
        """Count a sign-in as failed, unless the pair or the address is over its limit: then raise
        `RateLimited` with the seconds until the next attempt may be made."""
        keys = _keys(username, address)
        with self._lock:
            now = self.clock()
            self._drop_old(now)
            wait = 0.0
            for key in keys:
                times = self._failures.get(key)
                if times is not None and len(times) >= self._limit(key) and times[0] > now - self.window:
                    wait = max(wait, times[0] + self.window - now)
            if wait > 0:
                raise RateLimited(
                    f"too many failed sign-ins: try again in {_minutes(wait)}", max(1, math.ceil(wait))
                )
            for key in keys:
                times = self._failures.get(key)
                if times is None:
                    times = self._failures[key] = deque(maxlen=self._limit(key))
                times.append(now)  # a full deque drops its oldest time, already out of the window
                self._failures.move_to_end(key)
            self._drop_old(now)  # a new key may have gone past max_keys
        return Attempt(keys, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: forget the pair's failures, and take back the address's count."""
        with self._lock:
            for key in attempt.keys:
                if key[0] == "pair":
                    self._failures.pop(key, None)
                else:
                    self._take_back(key, attempt.at)

    def cancel(self, attempt: Attempt) -> None:
        """The attempt could not be decided (an error, not a wrong password): it does not count."""
        with self._lock:
            for key in attempt.keys:
                self._take_back(key, attempt.at)

    def _take_back(self, key: Key, at: float) -> None:
        times = self._failures.get(key)
        if times is None:
            return
        try:
            times.remove(at)
        except ValueError:  # already dropped from the window
            return
        if not times:
            del self._failures[key]

    def __len__(self) -> int:
        """How many pairs and addresses are being counted (for the tests of the memory bound)."""
        with self._lock:
            return len(self._failures)


class SharedLoginLimiter:
    """The limits of `LoginLimiter`, counted in PostgreSQL: the same for every worker and across restarts."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        *,
        max_failures: int = 5,
        max_failures_per_address: int = 20,
        window_seconds: float = 15 * 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if min(max_failures, max_failures_per_address) < 1 or window_seconds <= 0:
            raise ValueError("the limits and the window must be positive")
        self.engine = engine  # called at each attempt: the app's engine exists once the app has started
        self.max_failures = max_failures
        self.max_failures_per_address = max_failures_per_address
        self.window = float(window_seconds)
        self.clock = clock

    def _limit(self, key: Key) -> int:
        return self.max_failures if key[0] == "pair" else self.max_failures_per_address

    def begin(self, username: str, address: str | None) -> Attempt:
        """Count a sign-in as failed, unless the pair or the address is over its limit: then raise
        `RateLimited` with the seconds until the next attempt may be made."""
        keys = _keys(username, address)
        with self.engine().begin() as conn:
            login_failures.lock(conn, keys)
            now = self.clock()
            since = now - self.window
            login_failures.forget_before(conn, since)
            wait = 0.0
            for key in keys:
                times = login_failures.latest(conn, key, since=since, limit=self._limit(key))
                if len(times) >= self._limit(key):
                    wait = max(wait, times[0] + self.window - now)
            if wait > 0:
                raise RateLimited(
                    f"too many failed sign-ins: try again in {_minutes(wait)}", max(1, math.ceil(wait))
                )
            ids = login_failures.add(conn, keys, now)
        return Attempt(keys, now, tuple(ids))

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: forget the pair's failures, and take back the address's count."""
        with self.engine().begin() as conn:
            login_failures.remove(conn, attempt.ids)
            for key in attempt.keys:
                if key[0] == "pair":
                    login_failures.clear(conn, key)

    def cancel(self, attempt: Attempt) -> None:
        """The attempt could not be decided (an error, not a wrong password): it does not count. When the
        database cannot take it back either, it stays counted (the safe side)."""
        try:
            with self.engine().begin() as conn:
                login_failures.remove(conn, attempt.ids)
        except Exception:  # the database is down: the original error is the one to report
            return

    def __len__(self) -> int:
        """How many pairs and addresses have failures in the window."""
        with self.engine().connect() as conn:
            return login_failures.count_keys(conn, since=self.clock() - self.window)


def _keys(username: str, address: str | None) -> tuple[Key, ...]:
    host = (address or "")[:MAX_KEY_CHARS]  # no address (not over HTTP): the pair alone
    keys: list[Key] = [("pair", f"{host} {username[:MAX_KEY_CHARS]}")]
    if host:
        keys.append(("address", host))
    return tuple(keys)


def _minutes(seconds: float) -> str:
    if seconds <= 60:
        return f"{max(1, math.ceil(seconds))} s"
    return f"{math.ceil(seconds / 60)} min"
