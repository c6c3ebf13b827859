"""four-colour map: per-zone totals of stored zones, kept current by invalidation

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-23 21:40:00

`four_colour_zone_totals` holds, per jurisdiction used as a zone (children, parks, grids), what the
four-colour aggregation gives for it: the counts and the geodesic areas of the counted units per level,
the enterprise ids and the zone's area. A row is filled by `geo.store.four_colour` the first time a
map asks for the zone and is deleted by the triggers below whenever it may have changed:

- a risk unit inserted, deleted, or updated in its geometry, level, enterprise or id: every cached
  zone whose bounding box meets the unit's old or new bounding box (a unit that intersects a zone
  always does), or with more than PRECISE_UNITS units in one statement, the box around the
  statement's units in each 0.1-degree cell;
- a jurisdiction's geometry or adcode changed, or the jurisdiction deleted; TRUNCATE empties it.

So a cached row is never stale: a zone without a row is computed from the units at request time.
Writers take a shared advisory lock and count their statements in `four_colour_writes` (BEFORE each
statement); a filler stores rows only if it took the lock exclusively before reading and again before
writing, with no write counted in between (see `geo.store.four_colour._fill`).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same constant as geo.store.four_colour.WRITE_LOCK (a migration does not import the app).
WRITE_LOCK = 0x46435A54  # "FCZT"

_UNITS_BEFORE = f"""
CREATE FUNCTION four_colour_before_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared({WRITE_LOCK});
    PERFORM nextval('four_colour_writes');
    RETURN NULL;
END $$
"""

# Each statement's written units (`key`, `geom`), old and new versions apart.
_WRITTEN = {
    "INSERT": "SELECT id AS key, geom FROM new_units",
    "DELETE": "SELECT id AS key, geom FROM old_units",
    "UPDATE": """
        SELECT v.key, v.geom FROM old_units o FULL JOIN new_units n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.id * 2, o.geom), (n.id * 2 + 1, n.geom)) AS v(key, geom)
        WHERE v.geom IS NOT NULL AND (o.id IS NULL OR n.id IS NULL
            OR o.geom IS DISTINCT FROM n.geom  -- geometry = compares the coordinates exactly
            OR o.level IS DISTINCT FROM n.level OR o.enterprise_id IS DISTINCT FROM n.enterprise_id)
    """,
}
# Cached zones whose bounding box meets a written unit's lose their totals. Up to PRECISE_UNITS units,
# each unit's box probes the zones' GiST (~50 us a probe with 40,000 zones); beyond, the boxes
# around the units of each 0.1-degree cell do (a bulk import drops the zones of the area it covers).
PRECISE_UNITS = 2000
_DROP = """
        WITH written AS ({written}),
        boxes AS (
            SELECT ST_Extent(w.geom)::geometry AS box FROM written w, (SELECT count(*) AS n FROM written) c
            GROUP BY CASE WHEN c.n <= {precise} THEN w.key END,
                CASE WHEN c.n > {precise} THEN floor(ST_XMin(w.geom) * 10) END,
                CASE WHEN c.n > {precise} THEN floor(ST_YMin(w.geom) * 10) END
        )
        DELETE FROM four_colour_zone_totals WHERE zone_adcode IN (
            SELECT z.adcode FROM boxes b JOIN jurisdictions z ON z.geom && b.box);
"""
_UNITS_AFTER = f"""
CREATE FUNCTION four_colour_units_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM four_colour_zone_totals) THEN
        RETURN NULL;  -- nothing cached, nothing to drop
    END IF;
    IF TG_OP = 'INSERT' THEN
{_DROP.format(written=_WRITTEN["INSERT"], precise=PRECISE_UNITS)}
    ELSIF TG_OP = 'DELETE' THEN
{_DROP.format(written=_WRITTEN["DELETE"], precise=PRECISE_UNITS)}
    ELSE
{_DROP.format(written=_WRITTEN["UPDATE"], precise=PRECISE_UNITS)}
    END IF;
    RETURN NULL;
END $$
"""  # noqa: S608 (built from this module's constants only)

_UNITS_TRUNCATED = """
CREATE FUNCTION four_colour_units_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM four_colour_zone_totals;
    RETURN NULL;
END $$
"""

# A zone whose geometry or adcode changed loses its totals (deletions: the foreign key's cascade).
_ZONES_AFTER = """
CREATE FUNCTION four_colour_zones_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM four_colour_zone_totals WHERE zone_adcode IN (
        SELECT n.adcode FROM new_zones n LEFT JOIN old_zones o ON o.adcode = n.adcode
        WHERE o.adcode IS NULL OR o.geom IS DISTINCT FROM n.geom);
    RETURN NULL;
END $$
"""

_TRIGGERS = (
    "CREATE TRIGGER four_colour_before_write BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON risk_units "
    "FOR EACH STATEMENT EXECUTE FUNCTION four_colour_before_write()",
    "CREATE TRIGGER four_colour_units_inserted AFTER INSERT ON risk_units REFERENCING NEW TABLE AS new_units "
    "FOR EACH STATEMENT EXECUTE FUNCTION four_colour_units_written()",
    "CREATE TRIGGER four_colour_units_deleted AFTER DELETE ON risk_units REFERENCING OLD TABLE AS old_units "
    "FOR EACH STATEMENT EXECUTE FUNCTION four_colour_units_written()",
    "CREATE TRIGGER four_colour_units_updated AFTER UPDATE ON risk_units "
    "REFERENCING OLD TABLE AS old_units NEW TABLE AS new_units "
    "FOR EACH STATEMENT EXECUTE FUNCTION four_colour_units_written()",
    "CREATE TRIGGER four_colour_units_truncated AFTER TRUNCATE ON risk_units "
    "FOR EACH STATEMENT EXECUTE FUNCTION four_colour_units_truncated()",
    "CREATE TRIGGER four_colour_before_write BEFORE UPDATE OR DELETE OR TRUNCATE ON jurisdictions "
    "FOR EACH STATEMENT EXECUTE FUNCTION four_colour_before_write()",
    "CREATE TRIGGER four_colour_zones_updated AFTER UPDATE ON jurisdictions "
    "REFERENCING OLD TABLE AS old_zones NEW TABLE AS new_zones "
    "FOR EACH STATEMENT EXECUTE FUNCTION four_colour_zones_updated()",
)


def upgrade() -> None:
    op.execute("CREATE SEQUENCE four_colour_writes")
    op.execute(
        """
        CREATE TABLE four_colour_zone_totals (
            zone_adcode varchar(12) PRIMARY KEY
                REFERENCES jurisdictions (adcode) ON DELETE CASCADE ON UPDATE CASCADE,
            zone_area_m2 double precision NOT NULL,
            n1 integer NOT NULL, n2 integer NOT NULL, n3 integer NOT NULL, n4 integer NOT NULL,
            a1 double precision NOT NULL, a2 double precision NOT NULL,
            a3 double precision NOT NULL, a4 double precision NOT NULL,
            n_ids integer NOT NULL,
            ids text,
            computed_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    for statement in (_UNITS_BEFORE, _UNITS_AFTER, _UNITS_TRUNCATED, _ZONES_AFTER, *_TRIGGERS):
        op.execute(statement)


def downgrade() -> None:
    for trigger, table in (
        ("four_colour_zones_updated", "jurisdictions"),
        ("four_colour_before_write", "jurisdictions"),
        ("four_colour_units_truncated", "risk_units"),
        ("four_colour_units_updated", "risk_units"),
        ("four_colour_units_deleted", "risk_units"),
        ("four_colour_units_inserted", "risk_units"),
        ("four_colour_before_write", "risk_units"),
    ):
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    for function in (
        "four_colour_zones_updated",
        "four_colour_units_truncated",
        "four_colour_units_written",
        "four_colour_before_write",
    ):
        op.execute(f"DROP FUNCTION {function}()")
    op.execute("DROP TABLE four_colour_zone_totals")
    op.execute("DROP SEQUENCE four_colour_writes")
