"""Supervision (督办): dispatched cases with their deadlines, time limits and escalations.

The board asks which cases are close to or past their deadline, per department; the
working-hour arithmetic (holidays, working hours) is the calendar's
(:mod:`layers.workflow.calendar`), done by the caller on these rows.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.areas import IN_AREA

SUPERVISED_STATUSES = ("dispatched", "in_handling")
"""Statuses whose deadline runs (suspended cases wait; handled ones met it)."""


def supervised_cases(*, conn: Connection, community: str | None = None) -> list[dict[str, Any]]:
    """Dispatched cases that have a deadline, earliest deadline first, with their lead
    department, time limit and latest escalation (``escalated_at``/``by``/``reason``)."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text(f"""
        SELECT c.id, c.case_no, c.status, s.name_zh AS status_zh, s.name_en AS status_en,
               c.version, c.urgency, k.service_code, k.name_zh AS category_zh,
               coalesce(k.name_en, k.name_zh) AS category_en, k.time_limit, k.time_unit,
               k.urgent_time_limit, c.dispatched_at, c.deadline_at,
               d.code AS department_code, coalesce(d.name_zh, '—') AS department_zh,
               coalesce(d.name_en, d.name_zh, '—') AS department_en,
               m.name_zh AS community_zh, coalesce(m.name_en, m.name_zh) AS community_en,
               x.at AS escalated_at, x.actor AS escalated_by, x.reason AS escalation_reason
        FROM cases c
        JOIN case_statuses s ON s.code = c.status
        JOIN categories k ON k.id = c.category_id
        LEFT JOIN departments d ON d.id = c.department_id
        LEFT JOIN communities m ON m.id = c.community_id
        LEFT JOIN LATERAL (
            SELECT e.at, e.actor, e.reason FROM case_events e
            WHERE e.case_id = c.id AND e.action = 'escalate' ORDER BY e.at DESC, e.id DESC
            LIMIT 1) x ON true
        WHERE c.status = ANY (CAST(:statuses AS text[])) AND c.deadline_at IS NOT NULL
          AND {IN_AREA.format(code="m.code")}
        ORDER BY c.deadline_at, c.id
    """),
            {"statuses": list(SUPERVISED_STATUSES), "community": community},
        ).mappings()
    ]
