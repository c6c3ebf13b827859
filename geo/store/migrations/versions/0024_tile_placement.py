"""risk units: where each one lies on the tile grid, stored, so a low-zoom tile reads an index, not the rows

Revision ID: 0024t
Revises: 0023s
Create Date: 2026-12-05 00:30:00

A vector tile at zoom 11 or less draws small risk units per 4-pixel cell (`geo.store.tiles`). It used to
read every unit whose box meets the tile and place it with Mercator's formulas, row by row: a z8 tile of
the bench's 90,000 units took ~80 ms, a z7 tile of the synthetic province's 1,000,000 units 1.3 s. Each
unit's place is a function of its geometry alone, so PostgreSQL keeps it (generated columns):
`tile_x`, `tile_y`: its box centre in tile units of zoom 11 on the web-Mercator grid (2^23 a side; display
only, no distance is computed there); `tile_span`: the box's larger side in the same units (a unit at
least a cell wide at zoom z is drawn as itself); `tile_m`: the Morton (Z-order) code of (tile_x, tile_y),
so that every tile of zoom ≤ 11 is ONE range of codes and a cell of zoom z is `tile_m >> 2 (17 - z)`.
A btree on tile_m that includes what a cell needs gives a tile by an index-only range scan; a partial
GiST index finds the few units wide enough to be drawn as themselves.

The history triggers record a row's stored columns, not the generated ones (area_m2 was left out by
name; now every generated column is, by `attgenerated`).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024t"
down_revision: str | None = "0023s"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BOX = "geom::box3d"
TILE_X_SQL = (
    f"LEAST(8388607, GREATEST(0, floor(((ST_XMin({_BOX}) + ST_XMax({_BOX})) * 0.5 + 180.0) / 360.0 * 8388608.0)))"
    "::integer"
)
TILE_Y_SQL = (
    "LEAST(8388607, GREATEST(0, floor((1.0 - ln(tan(pi() / 4.0 + radians(LEAST(85.0511287798, GREATEST("
    f"-85.0511287798, (ST_YMin({_BOX}) + ST_YMax({_BOX})) * 0.5))) / 2.0)) / pi()) / 2.0 * 8388608.0)))::integer"
)
TILE_SPAN_SQL = (
    f"GREATEST((ST_XMax({_BOX}) - ST_XMin({_BOX})) / 360.0 * 8388608.0, radians(ST_YMax({_BOX}) - ST_YMin({_BOX})) "
    f"* (8388608.0 / (2.0 * pi())) / cos(radians((ST_YMin({_BOX}) + ST_YMax({_BOX})) * 0.5)))"
)
TILE_M_SQL = f"riskmap_morton({TILE_X_SQL}, {TILE_Y_SQL})"

# Interleaves the bits of two non-negative integers below 2^23: x in the even bits, y in the odd ones.
MORTON = """
CREATE FUNCTION riskmap_morton(x integer, y integer) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    a bigint := x;
    b bigint := y;
BEGIN
    a := (a | (a << 16)) & 281470681808895;       -- 0x0000FFFF0000FFFF
    a := (a | (a << 8)) & 71777214294589695;      -- 0x00FF00FF00FF00FF
    a := (a | (a << 4)) & 1085102592571150095;    -- 0x0F0F0F0F0F0F0F0F
    a := (a | (a << 2)) & 3689348814741910323;    -- 0x3333333333333333
    a := (a | (a << 1)) & 6148914691236517205;    -- 0x5555555555555555
    b := (b | (b << 16)) & 281470681808895;
    b := (b | (b << 8)) & 71777214294589695;
    b := (b | (b << 4)) & 1085102592571150095;
    b := (b | (b << 2)) & 3689348814741910323;
    b := (b | (b << 1)) & 6148914691236517205;
    RETURN a | (b << 1);
END $$;
"""

# The history functions of migration 0005, with generated columns left out by `attgenerated` instead of
# area_m2 by name. `{skip}` is the condition on pg_attribute.
HISTORY = """
CREATE OR REPLACE FUNCTION riskmap_history_row_sql(tbl regclass, alias text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT '(' || string_agg(format('jsonb_build_object(%s)', pairs), ' || ' ORDER BY chunk) || ')'
    FROM (
        SELECT chunk, string_agg(
            format('%L, %s', attname, riskmap_history_value_sql(atttypid, alias, attname)),
            ', ' ORDER BY attnum) AS pairs
        FROM (
            SELECT attname, atttypid, attnum, (row_number() OVER (ORDER BY attnum) - 1) / 40 AS chunk
            FROM pg_attribute
            WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped AND {skip}
        ) AS a
        GROUP BY chunk
    ) AS c
$$;

CREATE OR REPLACE FUNCTION riskmap_history_diff_sql(tbl regclass, side text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT '(' || string_agg(
        format('CASE WHEN o.%1$I IS DISTINCT FROM n.%1$I THEN jsonb_build_object(%2$L, %3$s) '
               'ELSE ''{{}}''::jsonb END', attname, attname, riskmap_history_value_sql(atttypid, side, attname)),
        ' || ' ORDER BY attnum) || ')'
    FROM pg_attribute
    WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped AND {skip} AND attname <> 'updated_at'
$$;

CREATE OR REPLACE FUNCTION riskmap_history_changed_sql(tbl regclass) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT string_agg(format('o.%1$I IS DISTINCT FROM n.%1$I', attname), ' OR ' ORDER BY attnum)
    FROM pg_attribute
    WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped
      AND {skip} AND attname NOT IN ('updated_at', 'version')
$$;
"""
INCLUDED = "tile_x, tile_y, tile_span, level, id, enterprise_id, jurisdiction_adcode"


def upgrade() -> None:
    op.execute(MORTON)
    op.execute(HISTORY.format(skip="attgenerated = ''"))
    op.execute(
        f"ALTER TABLE risk_units "
        f"ADD COLUMN tile_x integer GENERATED ALWAYS AS ({TILE_X_SQL}) STORED, "
        f"ADD COLUMN tile_y integer GENERATED ALWAYS AS ({TILE_Y_SQL}) STORED, "
        f"ADD COLUMN tile_span double precision GENERATED ALWAYS AS ({TILE_SPAN_SQL}) STORED, "
        f"ADD COLUMN tile_m bigint GENERATED ALWAYS AS ({TILE_M_SQL}) STORED"
    )
    op.execute(f"CREATE INDEX ix_risk_units_tile_m ON risk_units (tile_m) INCLUDE ({INCLUDED})")
    op.execute("CREATE INDEX ix_risk_units_geom_wide ON risk_units USING gist (geom) WHERE tile_span >= 64")
    op.execute("ANALYZE risk_units")


def downgrade() -> None:
    op.execute("DROP INDEX ix_risk_units_geom_wide")
    op.execute("DROP INDEX ix_risk_units_tile_m")
    op.execute(
        "ALTER TABLE risk_units DROP COLUMN tile_m, DROP COLUMN tile_span, DROP COLUMN tile_y, DROP COLUMN tile_x"
    )
    op.execute(HISTORY.format(skip="attname <> 'area_m2'"))
    op.execute("DROP FUNCTION riskmap_morton(integer, integer)")
