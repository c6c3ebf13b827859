"""lighter bulk writes: slim 'create' records in the history; risk_units indexes that are not used dropped

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 00:20:00

A COPY of 100 000 risk units spent half its time writing each new row, as JSON, into `history`
(bench/results/history.md). A 'create' record now keeps only the columns the history's own queries read
(level, jurisdiction, owner: the level trend and the close-out clock); the full values a row was made
with are rebuilt on read from the row as it is now (or as its 'delete' record kept it) and the 'update'
records, which hold the old and new value of every column they changed (geo.store.history). Records
written before this migration keep their full values. `ix_history_at` goes too: no query reads the
history by time alone (the trend and the close-out clock read it per row).

risk_units drops `ix_risk_units_enterprise_id` (the unique index on (enterprise_id, name) serves the same
lookups) and narrows two indexes to the rows they are used for: major and large risks
(`level <= 2`) and units with a hazard kind (the safety distances). Each index is work on every
inserted row.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A 'create' record keeps level, jurisdiction_adcode and enterprise_id (those the table has).
SLIM_INSERT = """
CREATE OR REPLACE FUNCTION riskmap_history_create_sql(tbl regclass, alias text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT 'jsonb_build_object(' || coalesce(string_agg(
        format('%L, %s', attname, riskmap_history_value_sql(atttypid, alias, attname)), ', ' ORDER BY attnum),
        '') || ')'
    FROM pg_attribute
    WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped
      AND attname IN ('level', 'jurisdiction_adcode', 'enterprise_id')
$$;

CREATE OR REPLACE FUNCTION riskmap_history_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'INSERT INTO history (entity, entity_id, action, actor, new_values) '
        'SELECT %L, n.id, ''create'', riskmap_history_actor(), %s FROM new_rows AS n',
        TG_TABLE_NAME, riskmap_history_create_sql(TG_RELID, 'n'));
    RETURN NULL;
END $$;
"""

FULL_INSERT = """
CREATE OR REPLACE FUNCTION riskmap_history_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'INSERT INTO history (entity, entity_id, action, actor, new_values) '
        'SELECT %L, n.id, ''create'', riskmap_history_actor(), %s FROM new_rows AS n',
        TG_TABLE_NAME, riskmap_history_row_sql(TG_RELID, 'n'));
    RETURN NULL;
END $$;
DROP FUNCTION riskmap_history_create_sql(regclass, text);
"""


def upgrade() -> None:
    op.execute(SLIM_INSERT)
    op.drop_index("ix_history_at", table_name="history")
    op.drop_index("ix_risk_units_enterprise_id", table_name="risk_units")
    op.drop_index("ix_risk_units_level", table_name="risk_units")
    op.drop_index("ix_risk_units_hazard_kind", table_name="risk_units")
    op.execute("CREATE INDEX ix_risk_units_level_major ON risk_units (level) WHERE level <= 2")
    op.execute(
        "CREATE INDEX ix_risk_units_hazard_kind ON risk_units (hazard_kind) WHERE hazard_kind IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_risk_units_hazard_kind", table_name="risk_units")
    op.drop_index("ix_risk_units_level_major", table_name="risk_units")
    op.create_index("ix_risk_units_hazard_kind", "risk_units", ["hazard_kind"])
    op.create_index("ix_risk_units_level", "risk_units", ["level"])
    op.create_index("ix_risk_units_enterprise_id", "risk_units", ["enterprise_id"])
    op.create_index("ix_history_at", "history", ["at"])
    op.execute(FULL_INSERT)
