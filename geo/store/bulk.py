"""Bulk loading with COPY: geometries as hex EWKB built in one vectorised call, no per-row inserts."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely
from psycopg2 import sql
from sqlalchemy import Connection

from geo.store.models import SRID

_NULL = r"\N"


def _cell(value: Any) -> str:
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, list | tuple):
        # PostgreSQL array literal; our arrays hold codes without commas, quotes or braces.
        return "{" + ",".join(str(v) for v in value) + "}"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return _NULL
    return str(value)


def copy_rows(
    conn: Connection,
    table: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    columns: Sequence[str],
    geometry_columns: Mapping[str, str] | None = None,
) -> int:
    """COPY `rows` into `table`. `geometry_columns` maps a row key holding shapely geometries to its
    table column (e.g. {"geometry": "geom"}); None geometries become NULL. One round trip."""
    geometry_columns = dict(geometry_columns or {})
    if not rows:
        return 0
    hex_columns = {}
    for key in geometry_columns:
        geoms = np.array([r.get(key) for r in rows], dtype=object)
        hex_columns[key] = shapely.to_wkb(shapely.set_srid(geoms, SRID), hex=True, include_srid=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for i, row in enumerate(rows):
        out = [_cell(row.get(c)) for c in columns]
        out += [hex_columns[k][i] or _NULL for k in geometry_columns]
        writer.writerow(out)
    buf.seek(0)
    target = [*columns, *geometry_columns.values()]
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, NULL {})").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, target)), sql.Literal(_NULL)
    )
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        cur.copy_expert(statement.as_string(cur), buf)
    finally:
        cur.close()
    return len(rows)
