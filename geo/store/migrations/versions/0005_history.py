"""history of the register kept by triggers; close-out (销号) cases and their events

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 21:40:00

Every INSERT, UPDATE and DELETE on enterprises, risk_units and protection_targets is recorded in
`history` by AFTER … FOR EACH STATEMENT triggers that read the statement's transition tables: one extra
INSERT … SELECT per statement, so a COPY of 100 000 rows costs one set-based insert, not 100 000 trigger
calls. The author is the transaction's `riskmap.actor` setting (geo.store.history.set_actor), or
`db:<database user>` for writes made outside riskmap.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("enterprises", "risk_units", "protection_targets")
# The row as JSON: each column with to_jsonb, but geometries with ST_AsGeoJSON — to_jsonb's own cast of a
# geometry looks its CRS up row by row and made a 100 000-row COPY four times slower. Built per statement
# from the catalogue, so columns added later are recorded without touching the triggers. area_m2 is
# derived from geom and left out; jsonb_build_object takes at most 100 arguments, hence chunks of 40.
FUNCTIONS = """
CREATE FUNCTION riskmap_history_actor() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('riskmap.actor', true), ''), 'db:' || session_user)
$$;

-- The value of one column as JSON (geometries as GeoJSON), for the SQL that follows.
CREATE FUNCTION riskmap_history_value_sql(atttypid oid, alias text, attname name) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN atttypid = 'geometry'::regtype
        THEN format('ST_AsGeoJSON(%I.%I)::jsonb', alias, attname)
        ELSE format('to_jsonb(%I.%I)', alias, attname) END
$$;

CREATE FUNCTION riskmap_history_row_sql(tbl regclass, alias text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT '(' || string_agg(format('jsonb_build_object(%s)', pairs), ' || ' ORDER BY chunk) || ')'
    FROM (
        SELECT chunk, string_agg(
            format('%L, %s', attname, riskmap_history_value_sql(atttypid, alias, attname)),
            ', ' ORDER BY attnum) AS pairs
        FROM (
            SELECT attname, atttypid, attnum, (row_number() OVER (ORDER BY attnum) - 1) / 40 AS chunk
            FROM pg_attribute
            WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped AND attname <> 'area_m2'
        ) AS a
        GROUP BY chunk
    ) AS c
$$;

CREATE FUNCTION riskmap_history_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'INSERT INTO history (entity, entity_id, action, actor, new_values) '
        'SELECT %L, n.id, ''create'', riskmap_history_actor(), %s FROM new_rows AS n',
        TG_TABLE_NAME, riskmap_history_row_sql(TG_RELID, 'n'));
    RETURN NULL;
END $$;

CREATE FUNCTION riskmap_history_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'INSERT INTO history (entity, entity_id, action, actor, old_values) '
        'SELECT %L, o.id, ''delete'', riskmap_history_actor(), %s FROM old_rows AS o',
        TG_TABLE_NAME, riskmap_history_row_sql(TG_RELID, 'o'));
    RETURN NULL;
END $$;

-- Updates keep only the columns that changed, old and new: compared as stored values (cheap), turned
-- into JSON only when they differ. `side` is 'o' (old values) or 'n' (new values).
CREATE FUNCTION riskmap_history_diff_sql(tbl regclass, side text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT '(' || string_agg(
        format('CASE WHEN o.%1$I IS DISTINCT FROM n.%1$I THEN jsonb_build_object(%2$L, %3$s) '
               'ELSE ''{}''::jsonb END', attname, attname, riskmap_history_value_sql(atttypid, side, attname)),
        ' || ' ORDER BY attnum) || ')'
    FROM pg_attribute
    WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped AND attname NOT IN ('area_m2', 'updated_at')
$$;

-- Some column other than version and updated_at changed: an UPDATE that changes nothing else leaves
-- no record.
CREATE FUNCTION riskmap_history_changed_sql(tbl regclass) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT string_agg(format('o.%1$I IS DISTINCT FROM n.%1$I', attname), ' OR ' ORDER BY attnum)
    FROM pg_attribute
    WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped
      AND attname NOT IN ('area_m2', 'updated_at', 'version')
$$;

CREATE FUNCTION riskmap_history_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'INSERT INTO history (entity, entity_id, action, actor, old_values, new_values) '
        'SELECT %L, n.id, ''update'', riskmap_history_actor(), %s, %s '
        'FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id WHERE %s',
        TG_TABLE_NAME, riskmap_history_diff_sql(TG_RELID, 'o'), riskmap_history_diff_sql(TG_RELID, 'n'),
        riskmap_history_changed_sql(TG_RELID));
    RETURN NULL;
END $$;

-- Rows that exist before history begins get a 'create' dated when they were made.
CREATE FUNCTION riskmap_history_backfill(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'INSERT INTO history (entity, entity_id, action, actor, at, new_values) '
        'SELECT %L, t.id, ''create'', ''migration 0005'', t.created_at, %s FROM %s AS t '
        'ORDER BY t.created_at, t.id',
        tbl::text, riskmap_history_row_sql(tbl, 't'), tbl);
END $$;
"""


def _triggers(table: str) -> str:
    return f"""
CREATE TRIGGER history_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION riskmap_history_insert();
CREATE TRIGGER history_update AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION riskmap_history_update();
CREATE TRIGGER history_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION riskmap_history_delete();
"""


def upgrade() -> None:
    op.create_table(
        "history",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("old_values", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("new_values", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "entity IN ('enterprises','risk_units','protection_targets')",
            name=op.f("ck_history_entity_known"),
        ),
        sa.CheckConstraint("action IN ('create','update','delete')", name=op.f("ck_history_action_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history")),
    )
    op.create_index("ix_history_entity_entity_id", "history", ["entity", "entity_id", "id"])
    op.create_index("ix_history_at", "history", ["at"])
    op.execute(FUNCTIONS)
    for table in TABLES:
        op.execute(sa.text("SELECT riskmap_history_backfill(CAST(:t AS regclass))").bindparams(t=table))
        op.execute(_triggers(table))

    op.create_table(
        "closeouts",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("risk_unit_id", sa.BigInteger(), nullable=True),
        sa.Column("enterprise_id", sa.BigInteger(), nullable=True),
        sa.Column("jurisdiction_adcode", sa.String(length=12), nullable=True),
        sa.Column("risk_unit_name", sa.Text(), nullable=False),
        sa.Column("enterprise_name", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("old_level", sa.SmallInteger(), nullable=False),
        sa.Column("identified_on", sa.Date(), nullable=False),
        sa.Column("assignment_due", sa.Date(), nullable=False),
        sa.Column("assigned_on", sa.Date(), nullable=False),
        sa.Column("assigned_by", sa.Text(), nullable=False),
        sa.Column("assigning_unit", sa.Text(), nullable=False),
        sa.Column("letter_ref", sa.Text(), nullable=True),
        sa.Column("requested_on", sa.Date(), nullable=True),
        sa.Column("requested_by", sa.Text(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("signed_by", sa.Text(), nullable=True),
        sa.Column("proposed_level", sa.SmallInteger(), nullable=True),
        sa.Column("proposed_method", sa.String(length=8), nullable=True),
        sa.Column("proposed_inputs", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("proposed_score", sa.Float(), nullable=True),
        sa.Column("proposed_table", sa.String(length=32), nullable=True),
        sa.Column("verification_due", sa.Date(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("new_level", sa.SmallInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('assigned','requested','rejected','approved')", name=op.f("ck_closeouts_status_known")
        ),
        sa.CheckConstraint("old_level IN (1, 2)", name=op.f("ck_closeouts_old_level_major_or_large")),
        sa.CheckConstraint(
            "proposed_level IS NULL OR proposed_level IN (3, 4)", name=op.f("ck_closeouts_proposed_level_low")
        ),
        sa.CheckConstraint(
            "new_level IS NULL OR new_level IN (3, 4)", name=op.f("ck_closeouts_new_level_low")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_closeouts_enterprise_id"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["risk_unit_id"], ["risk_units.id"], name=op.f("fk_closeouts_risk_unit_id"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_closeouts")),
    )
    op.create_index(op.f("ix_closeouts_risk_unit_id"), "closeouts", ["risk_unit_id"])
    op.create_index(op.f("ix_closeouts_enterprise_id"), "closeouts", ["enterprise_id"])
    op.create_index(op.f("ix_closeouts_jurisdiction_adcode"), "closeouts", ["jurisdiction_adcode"])
    op.create_index(
        "uq_closeouts_open_risk_unit",
        "closeouts",
        ["risk_unit_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'approved'"),
    )
    op.create_table(
        "closeout_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("closeout_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.CheckConstraint(
            "action IN ('assign','request','approve','reject')", name=op.f("ck_closeout_events_action_known")
        ),
        sa.ForeignKeyConstraint(
            ["closeout_id"], ["closeouts.id"], name=op.f("fk_closeout_events_closeout_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_closeout_events")),
    )
    op.create_index(op.f("ix_closeout_events_closeout_id"), "closeout_events", ["closeout_id"])


def downgrade() -> None:
    op.drop_table("closeout_events")
    op.drop_table("closeouts")
    for table in TABLES:
        for name in ("history_insert", "history_update", "history_delete"):
            op.execute(f"DROP TRIGGER {name} ON {table}")
    for fn in (
        "riskmap_history_insert()",
        "riskmap_history_update()",
        "riskmap_history_delete()",
        "riskmap_history_backfill(regclass)",
        "riskmap_history_row_sql(regclass, text)",
        "riskmap_history_diff_sql(regclass, text)",
        "riskmap_history_changed_sql(regclass)",
        "riskmap_history_value_sql(oid, text, name)",
        "riskmap_history_actor()",
    ):
        op.execute(f"DROP FUNCTION {fn}")
    op.drop_table("history")
