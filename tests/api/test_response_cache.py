"""Four-colour answers and map pages kept across requests: ETags and 304s, a write shows at once, scopes kept
apart, no answer stored from a snapshot a write in flight could make stale, and the tables each answer
reads are the ones its epochs watch."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from api import response_cache
from geo.store import answer_cache
from geo.store.answer_cache import CACHE, AnswerCache
from tests.api.builders import (
    ENTERPRISES,
    RISK_UNITS,
    created,
    enterprise_feature,
    if_match,
    ok,
    risk_unit_feature,
)

FOUR = "/api/v1/analysis/four-color"
PAGE = "/maps/four-color"
GRID = {"adcode": "350505", "zones": "grid", "cell_m": 2000}


@pytest.fixture
def register(client: Any) -> dict[str, Any]:
    plant = created(client.post(ENTERPRISES, json=enterprise_feature(1)))
    unit = created(client.post(RISK_UNITS, json=risk_unit_feature(plant["id"], name="罐区", level=3)))
    return {"plant": plant, "unit": unit}


def _counts(body: dict[str, Any]) -> dict[str, int]:
    out = {"1": 0, "2": 0, "3": 0, "4": 0}
    for f in body["features"]:
        for lv, n in f["properties"]["counts"].items():
            out[lv] += n
    return out


def test_an_answer_is_kept_revalidated_and_a_write_shows_at_once(client: Any, register: Any) -> None:
    first = client.get(FOUR, params=GRID)
    assert first.status_code == 200
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    assert _counts(first.json()) == {"1": 0, "2": 0, "3": 1, "4": 0}

    hits = CACHE.store.hits
    again = client.get(FOUR, params=GRID)
    assert again.content == first.content
    assert again.headers["etag"] == tag
    assert CACHE.store.hits == hits + 1  # served from the cache

    fresh = client.get(FOUR, params=GRID, headers={"If-None-Match": tag})
    assert fresh.status_code == 304
    assert fresh.headers["etag"] == tag
    assert fresh.content == b""

    # a level-1 unit appears in the very next answer, under another ETag; the old one no longer 304s
    created(client.post(RISK_UNITS, json=risk_unit_feature(register["plant"]["id"], name="装卸区", level=1)))
    after = client.get(FOUR, params=GRID, headers={"If-None-Match": tag})
    assert after.status_code == 200
    assert after.headers["etag"] != tag
    assert _counts(after.json()) == {"1": 1, "2": 0, "3": 1, "4": 0}

    # so does a change of level (PATCH), and a delete
    url = f"{RISK_UNITS}/{register['unit']['id']}"
    ok(client.patch(url, json={"properties": {"level": 2}}, headers=if_match(client, url)))
    assert _counts(ok(client.get(FOUR, params=GRID))) == {"1": 1, "2": 1, "3": 0, "4": 0}
    assert client.delete(url, headers=if_match(client, url)).status_code == 204
    assert _counts(ok(client.get(FOUR, params=GRID))) == {"1": 1, "2": 0, "3": 0, "4": 0}


def test_other_parameters_are_other_answers(client: Any, register: Any) -> None:
    a = client.get(FOUR, params=GRID)
    b = client.get(FOUR, params={**GRID, "cell_m": 3000})
    assert a.headers["etag"] != b.headers["etag"]
    assert len(a.json()["features"]) != len(b.json()["features"])
    weighted = client.get(FOUR, params={**GRID, "rule": "weighted"})
    assert weighted.json()["rule"] == "weighted"
    assert a.json()["rule"] == "max"


def test_scopes_are_kept_apart(client: Any, client_as: Any, register: Any) -> None:
    admin = client.get(FOUR, params=GRID)
    ids = [f["properties"].get("enterprise_ids") for f in admin.json()["features"]]
    assert [register["plant"]["id"]] in ids
    public = client_as("public").get(FOUR, params=GRID)
    assert public.status_code == 200
    assert public.headers["etag"] != admin.headers["etag"]
    assert all("enterprise_ids" not in f["properties"] for f in public.json()["features"])
    # the admin's ETag gives the public no 304 (and so no hint of the admin's answer)
    again = client_as("public").get(FOUR, params=GRID, headers={"If-None-Match": admin.headers["etag"]})
    assert again.status_code == 200
    assert "enterprise_ids" not in again.text
    # a regulator of another county gets the public aggregates, not the admin's cached answer
    other = client_as("regulator", adcodes=("350521",)).get(FOUR, params=GRID)
    assert other.status_code == 200
    assert "enterprise_ids" not in other.text
    assert other.headers["etag"] not in (admin.headers["etag"], public.headers["etag"])


def _normalised(page: bytes) -> str:
    """A page without what differs between two makings of it: folium's generated element ids, and each
    response's CSP nonce."""
    return re.sub(r'nonce="[^"]+"', "nonce", re.sub(r"[0-9a-f]{32}", "X", page.decode()))


def test_the_public_page_is_kept_and_an_enterprise_write_leaves_it(
    client: Any, register: Any, engine: Engine
) -> None:
    params = {**GRID, "public": "true"}
    first = client.get(PAGE, params=params)
    assert first.status_code == 200
    assert first.headers["etag"].startswith('W/"')
    assert "nonce-" in first.headers["content-security-policy"]
    nonce = re.search(r"nonce-([\w-]+)", first.headers["content-security-policy"])
    assert nonce
    assert f'nonce="{nonce.group(1)}"' in first.text
    assert (
        client.get(PAGE, params=params, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    )

    # an enterprise's PATCH (name, sector, people) does not touch the tables the page watches …
    url = f"{ENTERPRISES}/{register['plant']['id']}"
    change = {"name": "改名后的储运公司", "employees": 999, "contact_person": "王五"}
    ok(client.patch(url, json={"properties": change}, headers=if_match(client, url)))
    kept = client.get(PAGE, params=params)
    assert kept.headers["etag"] == first.headers["etag"]
    # … and the page made afresh now is the same page
    # the route's making with the cache off
    off = AnswerCache(0)
    saved = response_cache.CACHE
    try:
        response_cache.CACHE = off  # type: ignore[misc]
        made = client.get(PAGE, params=params)
    finally:
        response_cache.CACHE = saved  # type: ignore[misc]
    assert "etag" not in made.headers
    assert _normalised(made.content) == _normalised(kept.content)

    # a risk unit's write does change it
    created(client.post(RISK_UNITS, json=risk_unit_feature(register["plant"]["id"], name="新罐区", level=1)))
    assert client.get(PAGE, params=params).headers["etag"] != first.headers["etag"]


def test_the_internal_page_watches_enterprises_too(client: Any, register: Any) -> None:
    first = client.get(PAGE, params=GRID)
    assert first.status_code == 200
    assert "泉港石化储运有限公司1号" in first.text
    url = f"{ENTERPRISES}/{register['plant']['id']}"
    ok(client.patch(url, json={"properties": {"name": "改名后的储运公司"}}, headers=if_match(client, url)))
    after = client.get(PAGE, params=GRID)
    assert after.headers["etag"] != first.headers["etag"]
    assert "改名后的储运公司" in after.text
    assert "泉港石化储运有限公司1号" not in after.text


def test_an_answer_made_during_a_write_is_not_kept(client: Any, register: Any, engine: Engine) -> None:
    """A write in flight has moved the epochs but its rows are not visible: the answer made meanwhile is
    sent without an ETag and not stored; once the write commits, the next request shows it."""
    before = ok(client.get(FOUR, params=GRID))
    writer = engine.connect()
    try:
        writer.execute(
            text("UPDATE risk_units SET level = 1 WHERE id = :id"), {"id": register["unit"]["id"]}
        )  # holds the writers' lock shared until commit
        during = client.get(FOUR, params=GRID)
        assert during.status_code == 200
        assert "etag" not in during.headers
        assert _counts(during.json()) == _counts(before)  # the write is not visible yet
        writer.commit()
    finally:
        writer.close()
    after = client.get(FOUR, params=GRID)
    assert _counts(after.json()) == {"1": 1, "2": 0, "3": 0, "4": 0}
    assert "etag" in after.headers


def test_a_write_in_flight_elsewhere_leaves_the_answer_kept(
    client: Any, register: Any, engine: Engine
) -> None:
    """Each table's writers hold its own lock: a write in flight on enterprises does not keep the public
    answer (which reads no enterprise) from being stored, and the reader only tries the locks of its own
    tables, so it neither waits for the writer nor queues the writers after it."""
    public = {**GRID, "public": "true"}
    writer = engine.connect()
    try:
        writer.execute(
            text("UPDATE enterprises SET employees = coalesce(employees, 0) + 1 WHERE id = :id"),
            {"id": register["plant"]["id"]},
        )
        CACHE.store.clear()
        during = client.get(PAGE, params=public)
        assert during.status_code == 200
        assert "etag" in during.headers  # stored although an enterprise's write is in flight
        with engine.connect() as conn:  # and no lock request of the reader left waiting
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).scalar_one()
        assert waiting == 0
        writer.commit()
    finally:
        writer.close()
    kept = client.get(PAGE, params=public, headers={"If-None-Match": during.headers["etag"]})
    assert kept.status_code == 304


def test_a_reader_waiting_for_a_write_queues_no_writer_behind_it(
    register: Any, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a write to risk units is in flight, a reader of them polls for their lock; another writer of
    risk units goes through meanwhile (a queued exclusive request would hold it: a convoy), and once the
    writes commit the reader gets its snapshot with the epochs it read."""
    monkeypatch.setattr(answer_cache, "LOCK_WAIT", 5.0)
    got: list[Any] = []
    polling = threading.Event()
    writer = engine.connect()
    try:
        writer.execute(
            text("UPDATE risk_units SET name = name WHERE id = :id"), {"id": register["unit"]["id"]}
        )

        def read() -> None:
            with engine.connect() as conn:
                polling.set()
                with answer_cache._snapshot(conn, ("risk_units",)) as at:
                    got.append((at, answer_cache.epochs(conn, ("risk_units",))))
                conn.rollback()

        reader = threading.Thread(target=read)
        reader.start()
        assert polling.wait(5)
        time.sleep(0.3)  # the reader is polling now
        assert reader.is_alive()
        with engine.begin() as other:  # a statement on risk units takes their lock shared: not held up
            other.execute(text("SET LOCAL lock_timeout = '1s'"))
            other.execute(text("UPDATE risk_units SET name = name WHERE id = -1"))
        writer.commit()
    finally:
        writer.close()
    reader.join(10)
    assert not reader.is_alive()
    [(at, now)] = got
    assert at is not None  # the lock was had once the writes committed
    assert at == now  # and the epochs are those its snapshot read


def test_the_named_answer_watches_enterprise_names_only(client: Any, register: Any) -> None:
    """The answer with deciding units names their enterprises: a PATCH of an enterprise's people keeps it,
    a new name shows at once."""
    first = client.get(FOUR, params=GRID)
    assert "泉港石化储运有限公司1号" in first.text
    url = f"{ENTERPRISES}/{register['plant']['id']}"
    ok(client.patch(url, json={"properties": {"employees": 321}}, headers=if_match(client, url)))
    assert client.get(FOUR, params=GRID, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    ok(client.patch(url, json={"properties": {"name": "改名后的储运公司"}}, headers=if_match(client, url)))
    renamed = client.get(FOUR, params=GRID, headers={"If-None-Match": first.headers["etag"]})
    assert renamed.status_code == 200
    assert "改名后的储运公司" in renamed.text
    assert "泉港石化储运有限公司1号" not in renamed.text


def test_concurrent_misses_make_the_answer_once(engine: Engine) -> None:
    cache = AnswerCache(1024 * 1024)
    made: list[int] = []
    gate = threading.Event()

    def make(conn: Any) -> bytes:
        made.append(1)
        gate.wait(2)
        return b"answer"

    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.answer(engine, ("k",), make))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert len(made) == 1
    assert {r.body for r in results} == {b"answer"}
    assert len({r.etag for r in results}) == 1


def test_an_answer_that_fails_is_not_kept_and_the_lock_is_let_go(engine: Engine) -> None:
    cache = AnswerCache(1024 * 1024)

    def fails(conn: Any) -> bytes:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cache.answer(engine, ("f",), fails)
    assert cache.answer(engine, ("f",), lambda conn: b"ok").body == b"ok"
    with engine.begin() as conn:  # no advisory lock left behind: a write goes through at once
        conn.execute(text("SET LOCAL lock_timeout = '1s'"))
        conn.execute(text("UPDATE jurisdictions SET name = name WHERE adcode = '350505'"))


_EPOCH_TABLES = re.compile(r"\b(?:FROM|JOIN)\s+(" + "|".join(answer_cache.TABLES) + r")\b", re.IGNORECASE)


def _tables_read(engine: Engine, run: Any, statements: list[str] | None = None) -> set[str]:
    seen: set[str] = set()

    def capture(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.update(m.lower() for m in _EPOCH_TABLES.findall(statement))
        if statements is not None:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return seen


def test_each_answer_reads_only_the_tables_its_epochs_watch(
    client: Any, client_as: Any, register: Any
) -> None:
    app_engine = client.app.state.engine
    CACHE.store.clear()
    for levels in ("dynamic", "assessed"):
        CACHE.store.clear()
        statements: list[str] = []
        four = _tables_read(
            app_engine, lambda lv=levels: ok(client.get(FOUR, params={**GRID, "levels": lv})), statements
        )
        assert four
        # an admin: deciding units named, and only named: of enterprises, their ids and names
        watched = set(response_cache.FOUR_COLOUR_DETAIL_TABLES) - {"enterprise_names"} | {"enterprises"}
        assert four <= watched, four
        reading = [s for s in statements if re.search(r"\benterprises\b", s)]
        assert reading
        for statement in reading:
            alias = re.search(r"\benterprises\s+(?:AS\s+)?(\w+)", statement, re.IGNORECASE)
            assert alias, statement
            assert set(re.findall(rf"\b{alias.group(1)}\.(\w+)", statement)) <= {"id", "name"}, statement
    CACHE.store.clear()
    public_four = _tables_read(
        app_engine, lambda: ok(client_as("public").get(FOUR, params={**GRID, "levels": "dynamic"}))
    )
    assert public_four <= set(response_cache.FOUR_COLOUR_TABLES), public_four
    CACHE.store.clear()
    page = _tables_read(app_engine, lambda: client.get(PAGE, params={**GRID, "public": "true"}))
    # the register summary behind the page's counts also counts enterprises; the page shows only the
    # units' counts (test_the_public_page_is_kept_and_an_enterprise_write_leaves_it)
    assert page - {"enterprises"} <= set(response_cache.PUBLIC_PAGE_TABLES), page
