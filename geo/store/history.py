"""The register's history (who changed what, when) and the level trend rebuilt from it.

The rows of `history` are written by the database's triggers (migrations 0005, 0009), never by this module:
every path that writes the register — the API, COPY imports, plain SQL — is recorded the same way. What
riskmap adds is the author: `set_actor` puts the principal's name into the transaction's
`riskmap.actor` setting, which the triggers read (`db:<database user>` when it is not set).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Connection, Table, select, text

from geo import hazards as hazard_rules
from geo.access import Principal, Role
from geo.errors import InvalidInput, NotFound
from geo.store.models import HistoryRecord, Inspection
from geo.store.repository import E, P, R, deny, get_jurisdiction_row, in_area, jurisdiction_subtree
from geo.store.repository import set_actor as set_actor  # the one definition, re-exported for closeout
from geo.vocab import ADMIN_LEVELS

H = cast(Table, HistoryRecord.__table__)
IN = cast(Table, Inspection.__table__)

ENTITIES: dict[str, tuple[Table, str]] = {  # entity → (table, name in messages)
    "enterprises": (E, "enterprise"),
    "risk_units": (R, "risk unit"),
    "protection_targets": (P, "protection target"),
    "inspections": (IN, "inspection"),  # migration 0019h: a planned inspection is filled in
}
TREND_TIMEZONE = "Asia/Shanghai"  # months end at midnight Beijing time
MAX_TREND_MONTHS = 120


def _row_scope(conn: Connection, entity: str, entity_id: int) -> dict[str, Any] | None:
    table, _ = ENTITIES[entity]
    owner = (
        table.c.enterprise_id
        if entity in ("risk_units", "inspections")
        else table.c.id
        if entity == "enterprises"
        else None
    )
    cols = [table.c.jurisdiction_adcode, (owner if owner is not None else table.c.id).label("owner")]
    row = conn.execute(select(*cols).where(table.c.id == entity_id)).mappings().first()
    if row is None:
        return None
    out = dict(row)
    if owner is None:
        out["owner"] = None
    return out


def may_read(conn: Connection, principal: Principal, entity: str, entity_id: int) -> bool:
    """Admin: everything, deleted rows too. Regulator: live rows filed inside its jurisdictions.
    Enterprise: its own enterprise and risk units. The public: nothing."""
    if principal.role is Role.admin:
        return True
    scope = _row_scope(conn, entity, entity_id)
    if scope is None or principal.role is Role.public:
        return False
    if principal.role is Role.enterprise:
        return principal.enterprise_id is not None and scope["owner"] == principal.enterprise_id
    return in_area(conn, principal, scope["jurisdiction_adcode"])


def entity_history(
    conn: Connection, principal: Principal, entity: str, entity_id: int
) -> list[dict[str, Any]]:
    """Every recorded change of one row, oldest first. NotFound when the principal may not read it (it
    is not told whether the row exists) or nothing was ever recorded."""
    _, name = ENTITIES[entity]
    missing = NotFound(f"no {name} with id {entity_id}")
    if principal.is_public:
        raise deny(principal, f"read the history of this {name}")
    if not may_read(conn, principal, entity, entity_id):
        raise missing
    q = (
        select(H.c.id, H.c.action, H.c.actor, H.c.at, H.c.old_values, H.c.new_values)
        .where(H.c.entity == entity, H.c.entity_id == entity_id)
        .order_by(H.c.id)
    )
    rows = [dict(r) for r in conn.execute(q).mappings()]
    stored = next((r for r in rows if r["action"] == "create"), None)
    if stored is not None:  # written before migration 0009
        later = [r for r in rows if r["id"] > stored["id"]]
        stored["new_values"] = {
            **(_values_at_creation(conn, entity, entity_id, later) or {}),
            **(stored["new_values"] or {}),
        }
    else:
        made = _values_at_creation(conn, entity, entity_id, rows)
        if made is not None:
            rows.insert(0, _create_record(made))
    if not rows:
        raise missing
    return rows


def _values_now(conn: Connection, entity: str, entity_id: int) -> dict[str, Any] | None:
    """The stored row as the history's triggers write it (each column as JSON, geometries as GeoJSON)."""
    expr = conn.execute(
        text("SELECT riskmap_history_row_sql(CAST(:t AS regclass), 't')"), {"t": entity}
    ).scalar_one()
    return conn.execute(
        text(f"SELECT {expr} FROM {entity} AS t WHERE t.id = :id"),  # noqa: S608 (our table; SQL built by our function from the catalogue)
        {"id": entity_id},
    ).scalar()


def _values_at_creation(
    conn: Connection, entity: str, entity_id: int, later: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The values a row was made with (migration 0009 writes no 'create' record): the row as it is now,
    or as its 'delete' record kept it, with every update in `later` undone (an update record holds the
    old value of each column it changed). None when the row is gone without a record (TRUNCATE)."""
    deleted = next((r for r in later if r["action"] == "delete"), None)
    base = deleted["old_values"] if deleted is not None else _values_now(conn, entity, entity_id)
    if base is None:
        return None
    values = dict(base)
    for record in reversed(later):
        if record["action"] == "update" and (deleted is None or record["id"] < deleted["id"]):
            values.update(record["old_values"] or {})
    if "created_at" in values:
        values["updated_at"] = values["created_at"]  # set together when a row is made
    return values


def _create_record(values: dict[str, Any]) -> dict[str, Any]:
    """The 'create' of a row, from its own created_by and created_at; it has no id of its own."""
    made = values.get("created_at")
    at = dt.datetime.fromisoformat(made) if isinstance(made, str) else made
    return {
        "id": None,
        "action": "create",
        "actor": values.get("created_by") or "unknown",
        "at": at,
        "old_values": None,
        "new_values": values,
    }


# --- trend --------------------------------------------------------------------------------------------

# The state of every risk unit at the end of each month, rebuilt from the history and the assessment dates:
# the last event before the month's end decides whether the unit exists (not deleted) and, carried forward
# from the last event that set them, its level and jurisdiction. Close-outs show up as the level updates
# they make. A unit's creation is not a record (migration 0009): it is made from the row (or its 'delete'
# record), with the level, jurisdiction and assessment date it was made with, i.e. the old value in the
# first update that changed them, else the value it has (or had when deleted). It is dated by its
# assessment (assessed_on, the start of that day in Beijing) when that is earlier than created_at: a
# register loaded today shows the units as assessed in the past, not as typed in. An update that sets the
# level together with an earlier assessment date takes effect from that date. Every event is dated no
# earlier than the one before it (a running maximum), so a unit's events keep their order. 'create'
# records from before 0009 are read as they are (dated by their assessment in the same way).
_TREND_SQL = """
WITH months AS (
    SELECT m::date AS month, (m + interval '1 month') AT TIME ZONE :tz AS month_end
    FROM generate_series(CAST(:first AS timestamp), CAST(:last AS timestamp), interval '1 month') AS m
),
h AS MATERIALIZED (  -- the risk units' records the trend reads, in one pass over the history
    SELECT entity_id, id, at, action,
           new_values -> 'level' AS level_set, new_values -> 'jurisdiction_adcode' AS adcode_set,
           action = 'create' OR new_values ? 'level' AS sets_level,
           action = 'create' OR new_values ? 'jurisdiction_adcode' AS sets_adcode,
           old_values -> 'level' AS old_level, old_values -> 'jurisdiction_adcode' AS old_adcode,
           old_values -> 'assessed_on' AS old_assessed, new_values ? 'assessed_on' AS sets_assessed,
           CASE WHEN action = 'delete' THEN (old_values ->> 'created_at')::timestamptz END AS made_at,
           CASE WHEN action = 'create' OR new_values ? 'level'
                THEN least(at, CAST(new_values ->> 'assessed_on' AS date)::timestamp AT TIME ZONE :tz)
                ELSE at END AS effective_at
    FROM history
    WHERE entity = 'risk_units'
      AND (action <> 'update' OR new_values ?| array['level', 'jurisdiction_adcode', 'assessed_on'])
),
units AS (  -- filed in the subtree at some time: now, or in a record
    SELECT id AS entity_id FROM risk_units WHERE jurisdiction_adcode = ANY(:subtree)
    UNION
    SELECT entity_id FROM h WHERE adcode_set #>> '{}' = ANY(:subtree) OR old_adcode #>> '{}' = ANY(:subtree)
),
first_level AS (  -- the level a unit had before its first change of level
    SELECT DISTINCT ON (entity_id) entity_id, old_level FROM h
    WHERE action = 'update' AND sets_level ORDER BY entity_id, id
),
first_adcode AS (
    SELECT DISTINCT ON (entity_id) entity_id, old_adcode FROM h
    WHERE action = 'update' AND sets_adcode ORDER BY entity_id, id
),
first_assessed AS (
    SELECT DISTINCT ON (entity_id) entity_id, old_assessed FROM h
    WHERE action = 'update' AND sets_assessed ORDER BY entity_id, id
),
base AS (  -- each unit as it is, or as it was when deleted
    SELECT r.id AS entity_id, r.created_at AS at, to_jsonb(r.level) AS level,
           to_jsonb(r.jurisdiction_adcode) AS adcode, to_jsonb(r.assessed_on) AS assessed
    FROM units JOIN risk_units AS r ON r.id = units.entity_id
    UNION ALL
    SELECT h.entity_id, coalesce(h.made_at, h.at), h.old_level, h.old_adcode, h.old_assessed
    FROM units JOIN h USING (entity_id) WHERE h.action = 'delete'
),
made AS (  -- as it was made, unless a 'create' record from before migration 0009 says so
    SELECT b.entity_id,
           least(b.at, CAST(CASE WHEN fs.entity_id IS NULL THEN b.assessed ELSE fs.old_assessed END
                            #>> '{}' AS date)::timestamp AT TIME ZONE :tz) AS at,
           coalesce(fl.old_level, b.level) AS level, coalesce(fa.old_adcode, b.adcode) AS adcode
    FROM base AS b
    LEFT JOIN first_level AS fl USING (entity_id)
    LEFT JOIN first_adcode AS fa USING (entity_id)
    LEFT JOIN first_assessed AS fs USING (entity_id)
    WHERE NOT EXISTS (SELECT 1 FROM h WHERE h.entity_id = b.entity_id AND h.action = 'create')
),
raw AS (
    SELECT entity_id, 0::bigint AS id, at, 'create' AS action, level AS level_set, adcode AS adcode_set,
           true AS sets_level, true AS sets_adcode
    FROM made
    UNION ALL
    SELECT h.entity_id, h.id, h.effective_at, h.action, h.level_set, h.adcode_set, h.sets_level,
           h.sets_adcode
    FROM h JOIN units USING (entity_id)
),
ordered AS (  -- no event dated before the one it follows
    SELECT entity_id, id, max(at) OVER (PARTITION BY entity_id ORDER BY id) AS at, action, level_set,
           adcode_set, sets_level, sets_adcode
    FROM raw
),
events AS (
    SELECT entity_id, id, at, action, level_set, adcode_set,
           count(*) FILTER (WHERE sets_level) OVER (PARTITION BY entity_id ORDER BY id) AS level_group,
           count(*) FILTER (WHERE sets_adcode) OVER (PARTITION BY entity_id ORDER BY id) AS adcode_group
    FROM ordered
    WHERE at < (SELECT max(month_end) FROM months)
),
states AS (
    SELECT entity_id, id, at, action,
           first_value(level_set) OVER (PARTITION BY entity_id, level_group ORDER BY id) AS level,
           first_value(adcode_set) OVER (PARTITION BY entity_id, adcode_group ORDER BY id) AS adcode
    FROM events
),
at_month_end AS (
    SELECT DISTINCT ON (months.month, s.entity_id) months.month, s.entity_id, s.action, s.level, s.adcode
    FROM months JOIN states AS s ON s.at < months.month_end
    ORDER BY months.month, s.entity_id, s.id DESC
)
SELECT month, CAST(level #>> '{}' AS integer) AS level, count(*) AS n
FROM at_month_end
WHERE action <> 'delete' AND adcode #>> '{}' = ANY(:subtree)
GROUP BY month, level
"""
# The same rebuild, for the level of given units at each month's end (the units with open hazards then):
# each unit's rebuild is its own (every window is partitioned by unit), so the history and the units are
# cut to the given ones first, and this costs what those units' records cost, not the whole history's.
_TREND_UNITS_SQL = (
    _TREND_SQL.rsplit("SELECT month,", 1)[0]
    .replace(
        "    WHERE entity = 'risk_units'\n",
        "    WHERE entity = 'risk_units' AND entity_id = ANY(:units)\n",
        1,
    )
    .replace(
        "FROM risk_units WHERE jurisdiction_adcode = ANY(:subtree)\n",
        "FROM risk_units WHERE jurisdiction_adcode = ANY(:subtree) AND id = ANY(:units)\n",
        1,
    )
    + """SELECT month, entity_id, CAST(level #>> '{}' AS integer) AS level
FROM at_month_end
WHERE action <> 'delete' AND adcode #>> '{}' = ANY(:subtree) AND entity_id = ANY(:units)
"""
)
# The hidden hazards open at the end of each month, rebuilt from their steps (hazard_events): a hazard is
# open at a day's end when it was reported by then and the last step that changed its state by then (by
# day, then in the order taken) was not an acceptance or a closing. 挂牌督办 changes no state.
_OPEN_HAZARDS_SQL = """
WITH months AS (
    SELECT m::date AS month, (m + interval '1 month' - interval '1 day')::date AS last_day
    FROM generate_series(CAST(:first AS timestamp), CAST(:last AS timestamp), interval '1 month') AS m
),
state AS (
    SELECT DISTINCT ON (months.month, e.hazard_id) months.month, e.hazard_id, e.action
    FROM months JOIN hazard_events AS e ON e.on_date <= months.last_day AND e.action <> 'supervise'
    ORDER BY months.month, e.hazard_id, e.on_date DESC, e.id DESC
)
SELECT s.month, h.risk_unit_id, h.id, h.grade
FROM state AS s JOIN hazards AS h ON h.id = s.hazard_id
WHERE s.action NOT IN ('accept', 'close') AND h.risk_unit_id IS NOT NULL
  AND h.jurisdiction_adcode = ANY(:subtree)
ORDER BY s.month, h.risk_unit_id, h.id
"""


def parse_month(value: str, field_name: str) -> dt.date:
    """'YYYY-MM' → the first day of that month."""
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise InvalidInput.one(field_name, "expected a month as YYYY-MM", "应为年月 YYYY-MM") from None


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    out, m = [], first
    while m <= last:
        out.append(m)
        m = dt.date(m.year + m.month // 12, m.month % 12 + 1, 1)
    return out


def level_trend(
    conn: Connection, adcode: str, first: dt.date, last: dt.date, *, dynamic: bool = False
) -> list[dict[str, Any]]:
    """Risk units per level (1–4) at the end of each month from `first` to `last` (first days of
    months), in the administrative unit `adcode` and everything below it. Aggregated counts only.

    `dynamic`: the levels shown while hidden hazards are open (issue #14 item 3), month by month: the
    hazards open at each month's end (rebuilt from hazard_events) applied by the rules of
    data/dynamic_risk_rules.csv (geo.hazards.dynamic_level, as the live map does) to their units' levels at
    that end. Each month then has `assessed_counts` beside `counts`, `raised_units`, and `raised` (each
    raised unit with the hazards that raised it; the caller decides who may read it)."""
    j = get_jurisdiction_row(conn, adcode)
    if j["level"] not in {str(level) for level in ADMIN_LEVELS}:
        raise InvalidInput.one(
            "adcode",
            "the trend is kept per administrative unit, not for parks or grids",
            "趋势按行政区划统计，不支持园区或网格",
        )
    months = _months(first, last)
    if not months:
        raise InvalidInput.one("to", "must not be before from", "结束月份不能早于开始月份")
    if len(months) > MAX_TREND_MONTHS:
        raise InvalidInput.one(
            "to", f"at most {MAX_TREND_MONTHS} months at once", f"一次最多 {MAX_TREND_MONTHS} 个月"
        )
    subtree = list(conn.execute(jurisdiction_subtree(adcode)).scalars())
    params = {"tz": TREND_TIMEZONE, "first": first, "last": last, "subtree": subtree}
    counts: dict[dt.date, dict[int, int]] = {m: dict.fromkeys((1, 2, 3, 4), 0) for m in months}
    for month, level, n in conn.execute(text(_TREND_SQL), params):
        counts[month][int(level)] = int(n)
    out = [
        {
            "month": m.strftime("%Y-%m"),
            "counts": {str(lv): n for lv, n in counts[m].items()},
            "total": sum(counts[m].values()),
        }
        for m in months
    ]
    if dynamic:
        _dynamic_months(conn, params, months, out)
    return out


def _dynamic_months(
    conn: Connection, params: dict[str, Any], months: list[dt.date], out: list[dict[str, Any]]
) -> None:
    """Each month of `out` at its dynamic levels, in place (see level_trend)."""
    open_at: dict[dt.date, dict[int, list[tuple[int, str]]]] = {m: {} for m in months}
    for month, unit, hazard, grade in conn.execute(text(_OPEN_HAZARDS_SQL), params):
        open_at[month].setdefault(int(unit), []).append((int(hazard), grade))
    units = sorted({u for by_unit in open_at.values() for u in by_unit})
    level_at: dict[tuple[dt.date, int], int] = {}
    if units:
        for month, unit, level in conn.execute(text(_TREND_UNITS_SQL), {**params, "units": units}):
            level_at[(month, int(unit))] = int(level)
    rules_ = hazard_rules.dynamic_rules()
    for m, row in zip(months, out, strict=True):
        row["assessed_counts"] = dict(row["counts"])
        raised = []
        for unit, found in sorted(open_at[m].items()):
            level = level_at.get((m, unit))
            if level is None:  # not filed in the area (or not there) at the month's end
                continue
            shown = hazard_rules.dynamic_level(level, found, rules_)
            if shown.level == level:
                continue
            row["counts"][str(level)] -= 1
            row["counts"][str(shown.level)] += 1
            grades = dict(found)
            raised.append(
                {
                    "risk_unit_id": unit,
                    "assessed_level": level,
                    "dynamic_level": shown.level,
                    "rules": list(shown.rules),
                    "raised_by": [
                        {"hazard_id": h, "grade": grades[h], "rule": _rule_of(grades[h], shown.rules, rules_)}
                        for h in shown.hazard_ids
                    ],
                }
            )
        row["raised_units"] = len(raised)
        row["raised"] = raised


def _rule_of(grade: str, fired: tuple[str, ...], rules_: tuple[Any, ...]) -> str | None:
    return next((r.code for r in rules_ if r.code in fired and r.grade.value == grade), None)
