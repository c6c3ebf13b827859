"""jurisdiction_closure (migration 0023s) holds exactly the pairs a walk down parent_adcode finds, after
every kind of write to jurisdictions; `jurisdiction_subtree`, `area_of` and `SUBTREE_CTE` read it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text

from geo.access import Principal, Role
from geo.store import repository as repo

BOX = "ST_Multi(ST_GeomFromText('POLYGON((118 25, 118.01 25, 118.01 25.01, 118 25))', 4490))"
# The pairs by the recursive walk the closure replaces: the oracle.
_WALK = """
WITH RECURSIVE down (ancestor, descendant) AS (
    SELECT adcode, adcode FROM jurisdictions
    UNION
    SELECT d.ancestor, j.adcode FROM down d JOIN jurisdictions j ON j.parent_adcode = d.descendant
)
SELECT ancestor, descendant FROM down
"""


@pytest.fixture
def conn(engine: Engine, boundaries: None) -> Iterator[Connection]:
    """A transaction rolled back at the end: the session's boundaries stay as they were."""
    with engine.connect() as c:
        c.begin()
        try:
            yield c
        finally:
            c.rollback()


def _insert(conn: Connection, *rows: tuple[str, str, str | None]) -> None:
    """One INSERT of (adcode, level, parent) rows (in the order given: children may come first)."""
    values = ", ".join(f"(:a{i}, :a{i}, :l{i}, :p{i}, {BOX}, true)" for i in range(len(rows)))
    params: dict[str, Any] = {}
    for i, (adcode, level, parent) in enumerate(rows):
        params |= {f"a{i}": adcode, f"l{i}": level, f"p{i}": parent}
    conn.execute(
        text(
            f"INSERT INTO jurisdictions (adcode, name, level, parent_adcode, geom, synthetic) VALUES {values}"
        ),
        params,
    )


def _pairs(conn: Connection) -> set[tuple[str, str]]:
    return {(r[0], r[1]) for r in conn.execute(text("SELECT ancestor, descendant FROM jurisdiction_closure"))}


def _walked(conn: Connection) -> set[tuple[str, str]]:
    return {(r[0], r[1]) for r in conn.execute(text(_WALK))}


def _subtree(conn: Connection, adcode: str) -> set[str]:
    codes = set(conn.execute(repo.jurisdiction_subtree(adcode)).scalars())
    by_cte = set(
        conn.execute(
            text(f"WITH {repo.SUBTREE_CTE} SELECT adcode FROM subtree"), {"adcode": adcode}
        ).scalars()
    )
    assert by_cte == codes
    return codes


def test_the_loaded_boundaries_have_their_closure(conn: Connection) -> None:
    pairs = _pairs(conn)
    assert pairs
    assert pairs == _walked(conn)
    assert {"350500", "350505"} <= _subtree(conn, "350500")
    assert _subtree(conn, "nosuch") == set()


def test_inserts_updates_deletes_keep_the_closure(conn: Connection) -> None:
    # children before their parents in one statement, then a second statement below them
    _insert(conn, ("T3", "township", "T2"), ("T2", "county", "T1"), ("T1", "city", "350000"))
    _insert(conn, ("T4", "township", "T2"), ("U1", "city", "350000"), ("U2", "county", "U1"))
    assert _pairs(conn) == _walked(conn)
    assert _subtree(conn, "T1") == {"T1", "T2", "T3", "T4"}
    assert {"T1", "T2", "T3", "T4", "U1", "U2"} <= _subtree(conn, "350000")

    # re-parenting a subtree moves everything below it
    conn.execute(text("UPDATE jurisdictions SET parent_adcode = 'U2' WHERE adcode = 'T2'"))
    assert _pairs(conn) == _walked(conn)
    assert _subtree(conn, "T1") == {"T1"}
    assert _subtree(conn, "U1") == {"U1", "U2", "T2", "T3", "T4"}

    # an UPDATE that changes no place in the tree; a leaf's new adcode
    conn.execute(text("UPDATE jurisdictions SET name = 'renamed' WHERE adcode LIKE 'T%'"))
    conn.execute(text("UPDATE jurisdictions SET adcode = 'T5' WHERE adcode = 'T4'"))
    assert _pairs(conn) == _walked(conn)
    assert _subtree(conn, "U2") == {"U2", "T2", "T3", "T5"}

    # the upsert of the boundary import (INSERT … ON CONFLICT DO UPDATE) moving one row and adding one
    conn.execute(
        text(
            "INSERT INTO jurisdictions (adcode, name, level, parent_adcode, geom) "
            f"VALUES ('T3', 'T3', 'township', 'T1', {BOX}), ('T6', 'T6', 'township', 'T1', {BOX}) "
            "ON CONFLICT (adcode) DO UPDATE SET parent_adcode = EXCLUDED.parent_adcode"
        )
    )
    assert _pairs(conn) == _walked(conn)
    assert _subtree(conn, "T1") == {"T1", "T3", "T6"}

    # deleting a leaf, then a subtree in one statement
    conn.execute(text("DELETE FROM jurisdictions WHERE adcode = 'T5'"))
    conn.execute(text("DELETE FROM jurisdictions WHERE adcode IN ('U1', 'U2', 'T2')"))
    assert _pairs(conn) == _walked(conn)
    assert _subtree(conn, "U1") == set()
    assert not conn.execute(
        text("SELECT count(*) FROM jurisdiction_closure WHERE 'U1' IN (ancestor, descendant)")
    ).scalar()


def test_truncate_empties_it_and_a_reload_fills_it(conn: Connection) -> None:
    conn.execute(text("TRUNCATE jurisdictions CASCADE"))
    assert _pairs(conn) == set()
    _insert(conn, ("350000", "province", None), ("350500", "city", "350000"), ("350505", "county", "350500"))
    assert _pairs(conn) == _walked(conn)
    assert _subtree(conn, "350000") == {"350000", "350500", "350505"}


def test_rebuild_after_a_load_with_the_triggers_off(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE jurisdictions DISABLE TRIGGER USER"))
    _insert(conn, ("T1", "city", "350000"), ("T2", "county", "T1"))
    conn.execute(text("ALTER TABLE jurisdictions ENABLE TRIGGER USER"))
    assert _subtree(conn, "T1") == set()  # what bench/province.py's load repairs
    conn.execute(text("SELECT jurisdiction_closure_rebuild()"))
    assert _pairs(conn) == _walked(conn)
    assert _subtree(conn, "T1") == {"T1", "T2"}


def test_a_regulators_area_is_the_union_of_its_subtrees(conn: Connection) -> None:
    _insert(conn, ("T1", "city", "350000"), ("T2", "county", "T1"), ("T3", "township", "T2"))
    _insert(conn, ("U1", "city", "350000"), ("U2", "county", "U1"))
    reg = Principal(Role.regulator, "reg", user_id=1, adcodes=("T2", "U1"))
    assert set(conn.execute(repo.area_of(reg)).scalars()) == {"T2", "T3", "U1", "U2"}
    assert repo.in_area(conn, reg, "T3")
    assert not repo.in_area(conn, reg, "T1")
    nobody = Principal(Role.regulator, "reg", user_id=1, adcodes=())
    assert list(conn.execute(repo.area_of(nobody)).scalars()) == []


def test_the_constant_array_clauses_follow_the_closure(conn: Connection) -> None:
    """in_subtree / in_area_codes / IN_SUBTREE_SQL (the codes read first, bound as one array) select the
    same rows as the subtree, also after a move."""
    _insert(conn, ("T1", "city", "350000"), ("T2", "county", "T1"), ("T3", "township", "T2"))
    _insert(conn, ("U1", "city", "350000"), ("U2", "county", "U1"))
    J = repo.JURISDICTIONS.table

    def by_clause(clause: Any) -> set[str]:
        return set(conn.execute(select(J.c.adcode).where(clause)).scalars())

    def by_sql(adcode: str) -> set[str]:
        sql = "SELECT adcode FROM jurisdictions WHERE " + repo.IN_SUBTREE_SQL.format(column="adcode")
        return set(conn.execute(text(sql), {"subtree": repo.subtree_codes(conn, [adcode])}).scalars())

    assert by_clause(repo.in_subtree(conn, J.c.adcode, "T1")) == {"T1", "T2", "T3"} == by_sql("T1")
    conn.execute(text("UPDATE jurisdictions SET parent_adcode = 'U2' WHERE adcode = 'T2'"))
    assert by_clause(repo.in_subtree(conn, J.c.adcode, "T1")) == {"T1"} == by_sql("T1")
    assert by_clause(repo.in_subtree(conn, J.c.adcode, "U1")) == {"U1", "U2", "T2", "T3"} == by_sql("U1")
    assert by_clause(repo.in_subtree(conn, J.c.adcode, "nosuch")) == set() == by_sql("nosuch")
    reg = Principal(Role.regulator, "reg", user_id=1, adcodes=("T1", "U2"))
    assert by_clause(repo.in_area_codes(conn, J.c.adcode, reg)) == {"T1", "U2", "T2", "T3"}
    nobody = Principal(Role.regulator, "reg", user_id=1, adcodes=())
    assert by_clause(repo.in_area_codes(conn, J.c.adcode, nobody)) == set()
    assert repo.subtree_codes(conn, []) == []


def test_a_big_subtree_is_filtered_by_the_closure_subquery(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above ARRAY_MAX codes the clause is the closure subquery (a province's 39,700 codes plan slower as an
    array), with the same rows."""
    _insert(conn, ("T1", "city", "350000"), ("T2", "county", "T1"), ("T3", "township", "T2"))
    J = repo.JURISDICTIONS.table
    reg = Principal(Role.regulator, "reg", user_id=1, adcodes=("T2",))
    monkeypatch.setattr(repo, "ARRAY_MAX", 2)
    clause = repo.in_subtree(conn, J.c.adcode, "T1")
    assert "jurisdiction_closure" in str(clause)
    assert set(conn.execute(select(J.c.adcode).where(clause)).scalars()) == {"T1", "T2", "T3"}
    assert "jurisdiction_closure" not in str(repo.in_subtree(conn, J.c.adcode, "T2"))  # 2 codes: the array
    monkeypatch.setattr(repo, "ARRAY_MAX", 1)
    area = repo.in_area_codes(conn, J.c.adcode, reg)
    assert "jurisdiction_closure" in str(area)
    assert set(conn.execute(select(J.c.adcode).where(area)).scalars()) == {"T2", "T3"}
