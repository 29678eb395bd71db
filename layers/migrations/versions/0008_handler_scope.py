"""A department handler acts only on cases assigned to its department.

``case_transition()`` runs as its owner (SECURITY DEFINER), so row-level
security does not keep a handler away from another department's case. This
revision adds the check where every transition leaves its trace: the history
row. A session acting as ``gridgov_handler`` (``act_as(role="handler",
department_id=…)``) may write a history row only for a case assigned to that
department (lead or assisting unit); otherwise the whole transition is refused
with SQLSTATE GG003 and nothing is written. Trusted services that connect as
the owner are not restricted (imports, the demo loader, tests).

Revision ID: 0008
Revises: 0002
Create Date: 2026-11-30
"""

from alembic import op

revision = "0008"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION gridgov_guard_handler_scope() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF gridgov_invoker() = 'gridgov_handler' THEN
                IF coalesce(current_setting('gridgov.department', true), '') = '' THEN
                    RAISE EXCEPTION 'a department handler acts for a department: none is set'
                        USING ERRCODE = 'GG003';
                END IF;
                IF NOT gridgov_case_assigned(NEW.case_id) THEN
                    RAISE EXCEPTION 'case % is not assigned to department %: a handler acts only '
                        'on its own department''s cases', NEW.case_id,
                        current_setting('gridgov.department', true)
                        USING ERRCODE = 'GG003';
                END IF;
            END IF;
            RETURN NEW;
        END $$;
        COMMENT ON FUNCTION gridgov_guard_handler_scope IS
            'Refuses a history row (so the transition) written by a handler for a case not '
            'assigned to its department.';
        -- the WHEN clause keeps bulk loads by the owner free of a per-row function call
        CREATE TRIGGER case_events_handler_scope BEFORE INSERT ON case_events
            FOR EACH ROW WHEN (current_setting('role') = 'gridgov_handler')
            EXECUTE FUNCTION gridgov_guard_handler_scope();
    """)


def downgrade() -> None:
    op.execute("""
        DROP TRIGGER IF EXISTS case_events_handler_scope ON case_events;
        DROP FUNCTION IF EXISTS gridgov_guard_handler_scope();
    """)
