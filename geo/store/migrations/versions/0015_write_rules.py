"""write rules in the database: a major or large risk unit is lowered only by a close-out or a regulator

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 14:20:00

Seed 002 三(二)4: a level-1 (重大) or level-2 (较大) risk comes down to general or low only through the
close-out (销号) a regulator verifies. The data-access layer refuses it to enterprises on every path
(PATCH, import, delete); this statement trigger is the backstop for any other path (plain SQL, a future
bulk path): an UPDATE of `risk_units` that takes a row from level 1–2 to 3–4 fails unless the
transaction's `riskmap.may_lower` setting is `on`, which `repository.set_actor` sets only for admins
and regulators (a close-out is approved by a regulator). It fires once per UPDATE statement on the
transition tables the history trigger builds anyway, never on the COPY insert path.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION riskmap_closeout_required() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE lowered bigint;
        BEGIN
            IF coalesce(current_setting('riskmap.may_lower', true), '') = 'on' THEN
                RETURN NULL;
            END IF;
            -- No join: transition tables have no statistics, and a nested loop over them is quadratic.
            -- An id among the old rows at level 1-2 and among the new rows at 3-4 was lowered.
            SELECT id INTO lowered FROM (
                SELECT id FROM old_rows WHERE level <= 2
                UNION ALL
                SELECT id FROM new_rows WHERE level > 2
            ) AS t GROUP BY id HAVING count(*) = 2 LIMIT 1;
            IF lowered IS NOT NULL THEN
                RAISE EXCEPTION 'risk unit % is level 1 or 2: it is lowered only by a close-out (销号) '
                    'a regulator approves', lowered
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'closeout_required';
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER closeout_required AFTER UPDATE ON risk_units "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION riskmap_closeout_required()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER closeout_required ON risk_units")
    op.execute("DROP FUNCTION riskmap_closeout_required()")
