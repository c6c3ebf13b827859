"""Vector tiles: what one request costs the database (one connection: three queries and COMMIT), authentication on
that connection (tokens, API keys, revoked keys), and the tile statements kept per scope (another
enterprise's units never in an enterprise user's tile, at the cells' zooms and above)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from geo.access import SYSTEM
from geo.store import tiles as store
from geo.store import users
from tests.api.builders import QUANGANG
from tests.api.test_tiles import _features, _register, _url
from tests.principals import add_test_user


@contextmanager
def _counted(app: Any) -> Iterator[dict[str, list[str]]]:
    """The pool checkouts and statements of the app's engine while the block runs."""
    seen: dict[str, list[str]] = {"checkouts": [], "statements": []}
    engine = app.state.engine

    def checkout(*_: Any) -> None:
        seen["checkouts"].append("checkout")

    def statement(_c: Any, _cur: Any, sql: str, *_: Any) -> None:
        seen["statements"].append(sql)

    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine, "before_cursor_execute", statement)
    try:
        yield seen
    finally:
        event.remove(engine.pool, "checkout", checkout)
        event.remove(engine, "before_cursor_execute", statement)


def test_a_tile_request_uses_one_connection_and_three_queries(client: Any) -> None:
    _register(client)
    store.CACHE.clear()
    url = _url("risk_units", QUANGANG, z=14)
    with _counted(client.app) as seen:
        cold = client.get(url)
    assert cold.status_code == 200
    assert len(seen["checkouts"]) == 1, seen
    # the user of the token, the epoch with the lock test, the tile with the epoch after it
    assert len(seen["statements"]) == 3, seen["statements"]
    assert "tile_epoch" in seen["statements"][2]  # the epoch read after the tile, in its statement
    with _counted(client.app) as seen:
        warm = client.get(url)
    assert warm.content == cold.content
    assert len(seen["checkouts"]) == 1
    assert len(seen["statements"]) == 2, seen["statements"]  # a cache hit: the user and the epoch
    with _counted(client.app) as seen:
        same = client.get(url, headers={"If-None-Match": warm.headers["etag"]})
    assert same.status_code == 304
    assert len(seen["checkouts"]) == 1


def test_an_api_key_signs_tiles_in_and_a_revoked_one_is_refused_at_once(client: Any, engine: Engine) -> None:
    ids = _register(client)
    username = add_test_user(engine, "enterprise", enterprise_id=ids["E1"])
    with engine.begin() as conn:
        key = users.create_api_key(conn, SYSTEM, username)
    url = _url("risk_units", QUANGANG, z=14)
    from fastapi.testclient import TestClient

    keyed = TestClient(client.app, headers={"X-API-Key": key})
    assert {f["properties"]["id"] for f in _features(keyed.get(url), "risk_units")} == {ids["U1"]}
    with engine.begin() as conn:
        users.revoke_api_keys(conn, SYSTEM, username, None)
    refused = keyed.get(url)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    bad = TestClient(client.app, headers={"Authorization": "Bearer not-a-token"}).get(url)
    assert bad.status_code == 401
    assert bad.json()["detail"] == "the access token is not valid"


def test_each_enterprise_gets_its_own_units_from_the_kept_statements(client: Any, client_as: Any) -> None:
    """The statements are kept per scope: two enterprise users asking the same tiles one after the other
    (the tile cache off) each get only their own enterprise's units, at a cells' zoom and above."""
    ids = _register(client)
    first = client_as("enterprise", enterprise_id=ids["E1"])
    second = client_as("enterprise", enterprise_id=ids["E2"])
    saved = store.CACHE.max_bytes
    store.CACHE.max_bytes = 0  # every tile made by PostGIS from the kept statement
    try:
        for z in (10, 14):
            url = _url("risk_units", QUANGANG, z=z)
            for _ in range(2):
                assert {f["properties"]["id"] for f in _features(first.get(url), "risk_units")} == {ids["U1"]}
                assert {f["properties"]["id"] for f in _features(second.get(url), "risk_units")} == {
                    ids["U2"]
                }
            both = _features(client.get(url), "risk_units")
            assert {f["properties"]["id"] for f in both} == {ids["U1"], ids["U2"]}
    finally:
        store.CACHE.max_bytes = saved


def test_a_tile_gives_its_connection_back_out_of_autocommit(client: Any) -> None:
    """A layer's tile reads in autocommit; the connection goes back to the pool in transactions again (a
    write of another route on it must stay atomic), after an error too."""
    _register(client)
    url = _url("risk_units", QUANGANG, z=14)
    assert client.get(url).status_code == 200
    assert client.get(url, params={"adcode": "999999"}).status_code == 404
    engine = client.app.state.engine
    held = [engine.connect() for _ in range(engine.pool.checkedin())]
    try:
        assert held
        assert all(c.connection.dbapi_connection.autocommit is False for c in held)
    finally:
        for c in held:
            c.close()
