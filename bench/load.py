"""Load test: N concurrent clients over loopback against `riskmap serve`, a mix of reads and If-Match writes.

Mix per client (weights): enterprise list 35, four-colour answer 20, four-colour map page 10, siting
check 15, read-modify-write PATCH with If-Match 20 (a 412 re-reads and tries again; the writes are counted
by their GET+PATCH rounds). The writes go to 8 enterprises, any client any of them: a contention test (32
clients race for 8 rows). `--distinct-writes` also runs each client count with client n writing only
enterprise n (no races), to tell the races from the rest. After each run the
stored `employees` of the written enterprises must equal their start plus the PATCHes that succeeded:
otherwise an update was lost. p50/p95/p99, throughput, 5xx and other errors go to bench/results/load.md.
Clients revalidate what they hold as a browser does: a GET of the four-colour answer, the map page or the list
sends `If-None-Match` with the ETag that URL last gave this client (a 304 is an answer like any other).

Every configuration is measured in the same run: "before" is one worker with 5 pooled connections and the
answer cache off (`RISKMAP_ANSWER_CACHE_MB=0`), what `riskmap serve` did before; "after" is `riskmap serve`
with `--workers` (default: its own default) and the cache on. The one-minute load average of the machine
before each run is reported (others share it). The first `--warmup` seconds after each start are not
measured (the workers go on importing after the first of them answers). Bounded: loopback only, `--seconds`
per run (60 by default).

    .venv/bin/python bench/load.py --clients 8 32 --seconds 60
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's code (and migrations), not an installed copy

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from common import create_database, database_exists, machine, server_url, write_report  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from api.cli import default_workers  # noqa: E402

DB = "riskmap_bench_load"
BEFORE = {"RISKMAP_ANSWER_CACHE_MB": "0", "RISKMAP_DB_POOL_SIZE": "5", "RISKMAP_WORKER_THREADS": "40"}
MIX = (("list", 35), ("four_colour", 20), ("map_page", 10), ("siting", 15), ("write", 20))
ENTERPRISES = "/api/v1/enterprises"


def _ensure_database(name: str) -> str:
    url = server_url().set(database=name).render_as_string(hide_password=False)
    if not database_exists(name):
        create_database(name)
    engine = create_engine(url)
    with engine.connect() as conn:
        have = conn.execute(text("SELECT count(*) FROM enterprises WHERE synthetic")).scalar()
    if not have:
        from geo.store.demo import load_demo

        load_demo(engine, seed=2026, scale=0.3, echo=lambda _: None)
    engine.dispose()
    return url


def _admin_token(url: str, base: str) -> str:
    from geo.access import SYSTEM
    from geo.store import users

    name, password = f"bench-{secrets.token_hex(3)}", secrets.token_urlsafe(16)
    engine = create_engine(url)
    with engine.begin() as conn:
        users.create_user(conn, SYSTEM, name, password, "admin")
    engine.dispose()
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": name, "password": password}, timeout=30)
    r.raise_for_status()
    return str(r.json()["access_token"])


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(
    url: str, workers: int | None, secret: str, env_extra: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    env = {**os.environ, "DATABASE_URL": url, "RISKMAP_AUTH_SECRET": secret, **env_extra}
    for name in BEFORE:
        if name not in env_extra:
            env.pop(name, None)
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        command + (["--workers", str(workers)] if workers else []),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # workers start slowly on a busy machine
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/v1/health/ready", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit("the server did not become ready")


def _employees(client: httpx.Client, eid: int) -> tuple[int, str]:
    r = client.get(f"{ENTERPRISES}/{eid}")
    r.raise_for_status()
    return int(r.json()["properties"].get("employees") or 0), r.headers["etag"]


class TimedClient(httpx.Client):
    """An httpx client that records the time of every HTTP exchange it makes (request sent to body read):
    a write's GETs and PATCHes, each retry, one by one (`send` reads the body unless streaming)."""

    def __init__(self, record: Callable[[float], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._record = record

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        began = time.perf_counter()
        response = super().send(request, **kwargs)
        self._record(time.perf_counter() - began)
        return response


def run(
    base: str, token: str, clients: int, seconds: float, targets: list[int], *, distinct: bool = False
) -> dict[str, Any]:
    """`distinct`: client n writes only targets[n] (no two clients race for a row); else any of them."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
        start = {eid: _employees(c, eid)[0] for eid in targets}
    ops = [name for name, weight in MIX for _ in range(weight)]
    latencies: dict[str, list[float]] = defaultdict(list)
    exchanges: list[float] = []  # every HTTP request's own time (list.append is atomic)
    statuses: dict[int, int] = defaultdict(int)
    patched: dict[int, int] = defaultdict(int)
    conflicts = [0]
    attempts: dict[int, int] = defaultdict(int)  # writes by GET+PATCH rounds (4: four or more)
    not_modified = [0]
    dropped = [0]
    uncertain: dict[int, int] = defaultdict(int)
    failures: dict[str, int] = defaultdict(int)
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        rng = random.Random(n)
        held: dict[str, str] = {}  # URL → the ETag it last gave (a browser's cache)

        def revalidating(c: httpx.Client, url: str, params: dict[str, str | int]) -> httpx.Response:
            key = url + repr(sorted(params.items()))
            r = c.get(url, params=params, headers={"If-None-Match": held[key]} if key in held else {})
            if r.status_code == 304:
                with lock:
                    not_modified[0] += 1
            elif r.status_code == 200 and "etag" in r.headers:
                held[key] = r.headers["etag"]
            return r

        def write(c: httpx.Client, eid: int) -> httpx.Response:
            tries = 0
            while True:
                tries += 1
                value, etag = _employees(c, eid)
                r = c.patch(
                    f"{ENTERPRISES}/{eid}",
                    json={"properties": {"employees": value + 1}},
                    headers={"If-Match": etag},
                )
                if r.status_code != 412 or time.monotonic() > stop + 30:
                    with lock:
                        attempts[min(tries, 4)] += 1
                    return r
                with lock:
                    conflicts[0] += 1

        def one(c: httpx.Client, op: str, eid: int) -> httpx.Response:
            if op == "list":
                return revalidating(c, ENTERPRISES, {"adcode": "350505", "limit": 50})
            if op == "four_colour":
                return revalidating(
                    c, "/api/v1/analysis/four-color", {"adcode": "350505", "zones": "grid", "cell_m": 1000}
                )
            if op == "map_page":
                return revalidating(
                    c,
                    "/maps/four-color",
                    {"adcode": "350505", "zones": "grid", "cell_m": 1000, "public": "true"},
                )
            if op == "siting":
                body = {
                    "geometry": {"type": "Point", "coordinates": [118.85, 25.15]},
                    "target_type": "school",
                }
                return c.post("/api/v1/analysis/siting-check", json=body)
            return write(c, eid)

        with TimedClient(exchanges.append, base_url=base, headers=headers, timeout=60) as c:
            while time.monotonic() < stop:
                op = rng.choice(ops)
                eid = targets[n] if distinct else rng.choice(targets)
                began = time.perf_counter()
                try:
                    r = one(c, op, eid)
                except httpx.HTTPError as exc:  # e.g. a worker gone: counted, and the client goes on
                    with lock:
                        failures[f"{op} {type(exc).__name__}"] += 1
                        dropped[0] += 1
                        if op == "write":
                            uncertain[eid] += 1  # the PATCH may or may not have been applied
                    continue
                elapsed = time.perf_counter() - began
                with lock:
                    latencies[op].append(elapsed)
                    statuses[r.status_code] += 1
                    if r.status_code >= 400:
                        failures[f"{op} {r.status_code}"] += 1
                    if op == "write" and r.status_code == 200:
                        patched[eid] += 1

    began = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
        # a write whose answer never came may have been applied: only a difference outside that is lost
        diffs = {eid: _employees(c, eid)[0] - (start[eid] + patched[eid]) for eid in targets}
        lost = sum(0 if 0 <= d <= uncertain[eid] else abs(d) for eid, d in diffs.items())
    every = np.array([x for xs in latencies.values() for x in xs])
    each = np.array(exchanges)
    return {
        "http requests": len(each),
        "http rps": len(each) / wall,
        "http p50": float(np.percentile(each, 50)),
        "http p99": float(np.percentile(each, 99)),
        "clients": clients,
        "requests": len(every),
        "rps": len(every) / wall,
        "p50": float(np.percentile(every, 50)),
        "p95": float(np.percentile(every, 95)),
        "p99": float(np.percentile(every, 99)),
        "5xx": sum(n for s, n in statuses.items() if s >= 500),
        "other errors": sum(n for s, n in statuses.items() if 400 <= s < 500),
        "412 retried": conflicts[0],
        "write rounds": dict(sorted(attempts.items())),
        "304": not_modified[0],
        "dropped": dropped[0],
        "lost updates": lost,
        "failures": dict(failures),
        "by op": {
            op: (len(xs), float(np.percentile(xs, 50)), float(np.percentile(xs, 99)))
            for op, xs in latencies.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--workers", type=int, default=None, help="after: workers (default: serve's)")
    parser.add_argument(
        "--database", default=DB, help="the bench's own database (made with the demo if missing)"
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--configs", nargs="+", default=["before", "after"], choices=["before", "after"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.md")
    parser.add_argument(
        "--warmup",
        type=float,
        default=10,
        help="seconds of the mix at the largest client count after each start, not measured (workers import "
        "for seconds after the first answers)",
    )
    parser.add_argument(
        "--distinct-writes",
        action="store_true",
        help="after: also run each client count with every client writing a row of its own (no races)",
    )
    args = parser.parse_args()
    url = _ensure_database(args.database)
    secret = secrets.token_urlsafe(48)
    rows = []
    configurations = [("before", 1, BEFORE), ("after", args.workers, {})]
    configurations = [c for c in configurations if c[0] in args.configs]
    for label, workers, env_extra in configurations:
        proc, base = _serve(url, workers, secret, env_extra)
        try:
            token = _admin_token(url, base)
            wide = max(8, *args.clients)
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
                listed = c.get(ENTERPRISES, params={"adcode": "350505", "limit": wide}).json()["features"]
            rows_of = [f["id"] for f in listed]
            if args.warmup > 0:
                run(base, token, max(args.clients), args.warmup, rows_of[:8])
            runs = [(label, False)] + ([(f"{label}, distinct rows", True)] if args.distinct_writes else [])
            for clients in args.clients:
                for name, distinct in runs if label == "after" else runs[:1]:
                    load = os.getloadavg()[0]
                    targets = rows_of[:clients] if distinct else rows_of[:8]
                    result = run(base, token, clients, args.seconds, targets, distinct=distinct)
                    result["load"] = load
                    rows.append((name, result))
                    print(name, {k: v for k, v in result.items() if k != "by op"}, flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    after_workers = args.workers or default_workers()
    lines = [
        "# Load test (bench/load.py)",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}; the load generator (Python threads) runs on the same cores",
        f"- data: the demo at scale 0.3 in database {args.database}; loopback; {args.seconds:g} s per run",
        f"- reproduce: `.venv/bin/python bench/load.py --clients {' '.join(map(str, args.clients))} "
        f"--seconds {args.seconds:g}"
        + (f" --workers {args.workers}" if args.workers else "")
        + (f" --database {args.database}" if args.database != DB else "")
        + (" --distinct-writes" if args.distinct_writes else "")
        + "`",
        "",
        "Mix: enterprise list 35 %, four-colour answer (泉港区 350505, 1 km grid) 20 %, its public map page 10 %,"
        " siting check 15 %, read-then-PATCH of an enterprise with If-Match 20 % (a 412 re-reads and retries; a"
        " write's latency includes its reads). The writes go to the first 8 enterprises of the list, any client"
        " any of them (a contention test: 32 clients race for 8 rows);"
        ' "distinct rows": client n writes only enterprise n (no races), the rest of the mix unchanged.'
        " GETs of the list, the answer and the page revalidate with If-None-Match, as a browser does."
        f" The first {args.warmup:g} s after each start (the mix at {max(args.clients)} clients) are not measured:"
        " the workers go on importing for seconds after the first of them answers.",
        "before: 1 worker, 5 pooled connections, 40 request threads, answer cache off (what `riskmap serve`"
        f" did); after: `riskmap serve` with {after_workers} workers (its default{'' if not args.workers else ' overridden'}), cache on."
        " Measured in the same run; load = the machine's 1-minute load average before the run; answered req/s"
        " leaves out the 4xx (429: the server was busy with its 2 expensive requests) and 5xx; dropped: requests"
        " whose connection closed without an answer (not in the latencies). requests, req/s and p50–p99 count"
        " operations (a write with its re-reads and retries is one); the HTTP columns count every HTTP request"
        " on its own (a write's GET and PATCH, each retry), as a load tool such as wrk or Locust reports.",
        "",
        "| config | clients | load | requests | req/s | answered req/s | p50 ms | p95 ms | p99 ms | HTTP requests/s | HTTP p50 ms | HTTP p99 ms | 304 | 5xx | 4xx | dropped | 412 retried | lost updates |",
        "|--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for label, r in rows:
        lines.append(
            f"| {label} | {r['clients']} | {r['load']:.1f} | {r['requests']} | {r['rps']:.1f} | "
            f"{r['rps'] * (r['requests'] - r['5xx'] - r['other errors']) / r['requests']:.1f} | "
            f"{r['p50'] * 1000:.0f} | {r['p95'] * 1000:.0f} | {r['p99'] * 1000:.0f} | {r['http rps']:.1f} | "
            f"{r['http p50'] * 1000:.0f} | {r['http p99'] * 1000:.0f} | {r['304']} | {r['5xx']} | "
            f"{r['other errors']} | {r['dropped']} | {r['412 retried']} | {r['lost updates']} |"
        )
    lines += ["", "Per operation (count, p50 ms, p99 ms):", ""]
    for label, r in rows:
        ops = r["by op"]
        assert isinstance(ops, dict)
        cells = ", ".join(
            f"{op} {n} / {p50 * 1000:.0f} / {p99 * 1000:.0f}" for op, (n, p50, p99) in sorted(ops.items())
        )
        rounds = ", ".join(f"{k if k < 4 else '4+'}: {v}" for k, v in r["write rounds"].items())
        lines.append(
            f"- {label}, {r['clients']} clients: {cells}; writes by GET+PATCH rounds {{{rounds}}}; "
            f"errors by op: {r['failures'] or 'none'}"
        )
    write_report(args.out, "\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
