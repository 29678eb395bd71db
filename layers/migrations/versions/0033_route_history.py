"""An imported open case's ``route`` row (its unit and deadline) is not an illegal step.

Since issue 14 an import routes each open, undispatched-by-anyone case it loads
(``layers.ingest.routing``): a second history row ``s -[route by system]-> s``
right after the ``import`` row, status unchanged. It is not a transition of the
closed loop (no person takes it), so ``case_history_violations()`` accepts it
only there: the system role, same status, the case's second row, after an import.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-01
"""

from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

BODY = """
CREATE OR REPLACE FUNCTION case_history_violations(p_limit integer DEFAULT 100)
RETURNS TABLE (event_id bigint, case_id bigint, problem text)
LANGUAGE sql STABLE AS $$
    WITH e AS (
        SELECT e.*, lag(e.to_status) OVER w AS prev_to, row_number() OVER w AS n
        FROM case_events e WINDOW w AS (PARTITION BY e.case_id ORDER BY e.at, e.id)
    ), last AS (
        SELECT DISTINCT ON (e.case_id) e.case_id, e.id, e.to_status FROM case_events e
        ORDER BY e.case_id, e.at DESC, e.id DESC
    )
    (SELECT e.id, e.case_id, format('illegal step %s -[%s by %s]-> %s',
            coalesce(e.from_status, '∅'), e.action, e.role, e.to_status)
     FROM e WHERE NOT EXISTS (
        SELECT 1 FROM case_transitions t WHERE t.from_status IS NOT DISTINCT FROM e.from_status
        AND t.action = e.action AND t.role = e.role AND t.to_status = e.to_status)
     {import_is_legal}
     LIMIT p_limit)
    UNION ALL
    (SELECT e.id, e.case_id, 'from_status does not continue the previous step'
     FROM e WHERE e.from_status IS DISTINCT FROM e.prev_to LIMIT p_limit)
    UNION ALL
    (SELECT l.id, l.case_id, format('history ends at %s but the case is %s', l.to_status, c.status)
     FROM last l JOIN cases c ON c.id = l.case_id WHERE c.status <> l.to_status LIMIT p_limit)
    UNION ALL
    (SELECT NULL::bigint, c.id, 'case without history' FROM cases c
     WHERE NOT EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id) LIMIT p_limit)
$$;
"""

IMPORT_IS_LEGAL = """AND NOT (e.action = 'import' AND e.role = 'system' AND e.from_status IS NULL
                  AND e.n = 1)"""
ROUTE_IS_LEGAL = """AND NOT (e.action = 'route' AND e.role = 'system' AND e.n = 2
                  AND e.from_status = e.to_status AND e.prev_to = e.to_status)"""


def upgrade() -> None:
    op.execute(BODY.replace("{import_is_legal}", IMPORT_IS_LEGAL + "\n     " + ROUTE_IS_LEGAL))


def downgrade() -> None:
    op.execute(BODY.replace("{import_is_legal}", IMPORT_IS_LEGAL))
