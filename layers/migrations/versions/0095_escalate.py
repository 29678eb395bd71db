"""Supervision (督办): an operator escalates a case near or past its deadline.

``escalate`` is a step of the lifecycle like the handler's requests: it keeps the
case's status, needs a reason, and ``case_transition()`` writes it to the history
(who, when, why) and bumps the version, so the shift leader sees it on the
supervision board and in the case file. Only dispatched cases have a deadline to
supervise (``dispatched``, ``in_handling``).

Revision ID: 0095
Revises: 0090
Create Date: 2026-12-02
"""

from alembic import op

revision = "0095"
down_revision = "0090"
branch_labels = None
depends_on = None

FROM_STATUSES = ("dispatched", "in_handling")


def upgrade() -> None:
    rows = ", ".join(f"('{s}', 'escalate', '{s}', 'operator', true)" for s in FROM_STATUSES)
    op.execute(f"""
INSERT INTO case_transitions (from_status, action, to_status, role, needs_reason)
VALUES {rows};
CREATE INDEX case_events_escalate_idx ON case_events (case_id, at DESC)
    WHERE action = 'escalate';
""")


def downgrade() -> None:
    op.execute("""
DROP INDEX IF EXISTS case_events_escalate_idx;
DELETE FROM case_transitions WHERE action = 'escalate';
""")
