"""planned inspections: a 双随机 plan or a cross-inspection assignment becomes inspections to fill in

Revision ID: 0019h
Revises: 0018
Create Date: 2026-12-04 17:00:00

An inspection is now `planned` (made from a plan: an enterprise, a working day, inspectors from the
roster, no result yet) or `done` (the default: every existing row). `plan_key` names the planned check a
record carries out (`random:<enterprise>:<frequency window>` or `cross:<enterprise>:<period>`); it is
unique, so making the records of a plan again adds none twice. `plan` keeps what the plan said (level,
window, planned day, seed, team). `version` and `updated_at` make an inspection a row one fills in with
If-Match, and the history trigger of migration 0005 now records its updates (its creation is on the
row: created_by, created_at, as since migration 0009). Inspections are not deleted through the API; the
demo's reload deletes its synthetic ones, which is not recorded (a reload of the same demo writes no
history).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019h"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENTITIES_BEFORE = "entity IN ('enterprises','risk_units','protection_targets')"
ENTITIES_AFTER = "entity IN ('enterprises','risk_units','protection_targets','inspections')"


def upgrade() -> None:
    op.add_column(
        "inspections", sa.Column("status", sa.String(length=16), server_default="done", nullable=False)
    )
    op.create_check_constraint("status_known", "inspections", "status IN ('planned','done')")
    op.alter_column("inspections", "result", existing_type=sa.String(length=16), nullable=True)
    op.create_check_constraint("result_when_done", "inspections", "status = 'planned' OR result IS NOT NULL")
    op.add_column("inspections", sa.Column("plan_key", sa.Text(), nullable=True))
    op.add_column("inspections", sa.Column("plan", postgresql.JSONB(), nullable=True))
    op.create_unique_constraint(op.f("uq_inspections_plan_key"), "inspections", ["plan_key"])
    op.add_column("inspections", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.add_column(
        "inspections",
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.execute("UPDATE inspections SET updated_at = created_at")
    op.drop_constraint(op.f("ck_history_entity_known"), "history", type_="check")
    op.create_check_constraint("entity_known", "history", ENTITIES_AFTER)
    op.execute(
        "CREATE TRIGGER history_update AFTER UPDATE ON inspections "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION riskmap_history_update()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER history_update ON inspections")
    op.execute("DELETE FROM history WHERE entity = 'inspections'")
    op.drop_constraint(op.f("ck_history_entity_known"), "history", type_="check")
    op.create_check_constraint("entity_known", "history", ENTITIES_BEFORE)
    op.execute("DELETE FROM inspections WHERE status = 'planned'")
    op.drop_column("inspections", "updated_at")
    op.drop_column("inspections", "version")
    op.drop_constraint(op.f("uq_inspections_plan_key"), "inspections", type_="unique")
    op.drop_column("inspections", "plan")
    op.drop_column("inspections", "plan_key")
    op.drop_constraint(op.f("ck_inspections_result_when_done"), "inspections", type_="check")
    op.alter_column("inspections", "result", existing_type=sa.String(length=16), nullable=False)
    op.drop_constraint(op.f("ck_inspections_status_known"), "inspections", type_="check")
    op.drop_column("inspections", "status")
