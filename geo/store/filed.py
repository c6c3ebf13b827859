"""What is filed under a jurisdiction (its subtree), found from the rows' side: the few distinct codes the
rows of a register table are filed under (a loose scan of the table's `jurisdiction_adcode` index, one
probe per distinct code), kept when `jurisdiction_closure` has `adcode` among their ancestors.

Matching the units against a province's whole subtree (39,700 jurisdictions in the synthetic province of
bench/province.py; then walked down recursively) cost more than reading the units: the level counts of the
one map took 0.55 s that way on a quiet machine, 0.3 s this way (the units' 90 filing codes found in 2 ms,
then the units of those codes counted in one scan). The answers are those of the subtree's (the same rows
counted), which the tests check.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Connection, func, literal, select, text

from geo.access import Principal
from geo.store import repository as repo
from geo.vocab import ADMIN_LEVELS

# The tables whose rows are filed under a jurisdiction (the only names put into the statement below).
_FILED_TABLES: Final = frozenset({"risk_units", "enterprises", "protection_targets"})

# Distinct filing codes by a loose index scan (the next code after each); those below :adcode are the ones
# the jurisdiction closure (migration 0023s) pairs with it.
_FILED_CODES = """
WITH RECURSIVE filed AS (
    (SELECT t.jurisdiction_adcode::text AS code FROM {table} t
     WHERE t.jurisdiction_adcode IS NOT NULL ORDER BY t.jurisdiction_adcode LIMIT 1)
    UNION ALL
    SELECT (SELECT t.jurisdiction_adcode::text FROM {table} t WHERE t.jurisdiction_adcode > f.code
            ORDER BY t.jurisdiction_adcode LIMIT 1)
    FROM filed f WHERE f.code IS NOT NULL
)
SELECT f.code FROM filed f JOIN jurisdiction_closure c ON c.descendant = f.code AND c.ancestor = :adcode
ORDER BY f.code
"""

# The one statement of `summary.level_counts` over the codes found (a constant list: the planner sees how
# many rows they hold and scans the table once for a province, the index for a county).
_LEVELS = text(
    """
SELECT count(*) FILTER (WHERE u.level = 1) AS l1, count(*) FILTER (WHERE u.level = 2) AS l2,
    count(*) FILTER (WHERE u.level = 3) AS l3, count(*) FILTER (WHERE u.level = 4) AS l4
FROM risk_units u WHERE u.jurisdiction_adcode = ANY(CAST(:codes AS text[]))
"""
)


def filed_codes(conn: Connection, table: str, adcode: str) -> list[str]:
    """The codes rows of `table` are filed under that are `adcode` or below it."""
    if table not in _FILED_TABLES:
        raise ValueError(f"not a register table filed under jurisdictions: {table}")
    sql = text(_FILED_CODES.replace("{table}", table))
    return [str(c) for c in conn.execute(sql, {"adcode": adcode}).scalars()]


def unit_level_counts(conn: Connection, principal: Principal, adcode: str) -> dict[str, int]:
    """The jurisdiction's risk units by level, each once: the same counts as `summary.level_counts` (the
    legends' and the four-colour answer's `unit_counts`), the same area check (aggregates are public)."""
    repo.require_area(conn, principal, adcode, detail=False)
    codes = filed_codes(conn, "risk_units", adcode)
    if not codes:
        return {"1": 0, "2": 0, "3": 0, "4": 0}
    row = conn.execute(_LEVELS, {"codes": codes}).one()
    return {"1": int(row.l1), "2": int(row.l2), "3": int(row.l3), "4": int(row.l4)}


def count_upto(conn: Connection, principal: Principal, res: repo.Resource, adcode: str, upto: int) -> int:
    """How many rows of `res` filed under the administrative unit `adcode` the principal sees (what
    `repository.list_features(…, adcode=adcode).total` says), counted up to `upto` (at most that many rows
    are read: enough to decide whether a layer is tiled). For parks and grids (zones by place, not by
    filing) the list's own count."""
    level = repo.get_jurisdiction_row(conn, adcode)["level"]
    if level not in {str(x) for x in ADMIN_LEVELS} or res.table.name not in _FILED_TABLES:
        return min(upto, repo.list_features(conn, principal, res, adcode=adcode, limit=0).total)
    codes = filed_codes(conn, res.table.name, adcode)
    if not codes:
        return 0
    t = res.table
    rows = (
        select(literal(1))
        .select_from(t)
        .where(*repo.visible(principal, res), t.c.jurisdiction_adcode.in_(codes))
        .limit(upto)
        .subquery()
    )
    return int(conn.execute(select(func.count()).select_from(rows)).scalar_one())
