"""history: who made a row is kept on the row (created_by, created_at); no 'create' record is written

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 01:40:00

Migration 0008 made a 'create' record hold only level, jurisdiction and owner; it still cost a bulk COPY
one history row per inserted row (bench/results/history.md: ×1.31). What a create record said is on the
row already or can be rebuilt: when (`created_at`), who (`created_by`, new here: the transaction's
`riskmap.actor`, as the triggers read it), and the values it was made with (the row as it is now, or as
its 'delete' record kept it, with every later update undone; geo.store.history). So the insert triggers
go. Existing 'create' records hand their author to the row (or to the row's 'delete' record) and are
removed; the downgrade writes them back.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("enterprises", "risk_units", "protection_targets")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER history_insert ON {table}")
        op.execute(f"ALTER TABLE {table} ADD COLUMN created_by text NOT NULL DEFAULT riskmap_history_actor()")
        # The authors of rows made before: from their 'create' records (no history or cache trigger
        # fires for this bookkeeping; the column did not exist a statement ago).
        op.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        op.execute(
            f"UPDATE {table} AS t SET created_by = h.actor FROM history AS h "  # noqa: S608 (our table names)
            f"WHERE h.entity = '{table}' AND h.action = 'create' AND h.entity_id = t.id"
        )
        op.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    op.execute(
        "UPDATE history AS d SET old_values = d.old_values || jsonb_build_object('created_by', c.actor) "
        "FROM history AS c WHERE d.action = 'delete' AND c.action = 'create' "
        "AND c.entity = d.entity AND c.entity_id = d.entity_id"
    )
    op.execute("DELETE FROM history WHERE action = 'create'")


def downgrade() -> None:
    _downgrade_creates()
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN created_by")
        op.execute(
            f"CREATE TRIGGER history_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION riskmap_history_insert()"
        )


def _downgrade_creates() -> None:
    """'create' records as migration 0008 wrote them (level, jurisdiction, owner where the table has
        them), for live rows and for deleted ones (from their 'delete' records), dated and signed. They come
    after the rows' other records in `id` order, which only the history of this code's version reads."""
    op.execute(
        """
        DO $$
        DECLARE tbl text;
        BEGIN
            FOREACH tbl IN ARRAY ARRAY['enterprises', 'risk_units', 'protection_targets'] LOOP
                EXECUTE format(
                    'INSERT INTO history (entity, entity_id, action, actor, at, new_values) '
                    'SELECT %L, t.id, ''create'', t.created_by, t.created_at, %s FROM %I AS t',
                    tbl, riskmap_history_create_sql(tbl::regclass, 't'), tbl);
            END LOOP;
        END $$;
        """
    )
    op.execute(
        "INSERT INTO history (entity, entity_id, action, actor, at, new_values) "
        "SELECT d.entity, d.entity_id, 'create', coalesce(d.old_values ->> 'created_by', 'migration 0009'), "
        "coalesce((d.old_values ->> 'created_at')::timestamptz, d.at), "
        "jsonb_strip_nulls(jsonb_build_object('level', d.old_values -> 'level', "
        "'jurisdiction_adcode', d.old_values -> 'jurisdiction_adcode', 'enterprise_id', d.old_values -> 'enterprise_id')) "
        "FROM history AS d WHERE d.action = 'delete'"
    )
