"""An imported case's history starts with one ``import`` row: not an illegal step.

Importers write each case as it stands in the source (any status) with one
history row ``∅ -[import by system]-> status``. ``case_history_violations()``
checked every row against the transition table, where ``import`` is not a
transition, so every imported case was reported as broken. An ``import`` row is
legal as a case's first row, by the system role; anywhere else it is still a
violation.

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-30
"""

from alembic import op

revision = "0010"
down_revision = "0008"
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


def upgrade() -> None:
    op.execute(BODY.replace("{import_is_legal}", IMPORT_IS_LEGAL))


def downgrade() -> None:
    op.execute(BODY.replace("{import_is_legal}", ""))
