"""Live operations: what changed since a cursor, for pages that poll.

The cursor is a ``case_events.id``: every report and every transition writes one history
row (``case_report()``, ``case_transition()``), so "events after id N" is everything that
happened to the cases since the page last looked — read on the primary key, a handful of
rows per poll however large the table is. Row-level security of the caller's scope
applies (the ``case_events_visible`` policy follows ``cases``).

Identity values are taken when a row is inserted, not when it commits: a transaction that
commits after a later one can leave an id below a cursor already read. Callers re-read a
small ``slack`` of ids below their cursor and drop the events they have seen.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.areas import IN_AREA

MAX_CHANGES = 500
"""At most this many events per poll (a page that fell far behind reloads everything)."""


def latest_event_id(*, conn: Connection) -> int:
    """The newest history row id the caller may see (0 when there is none)."""
    return int(conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM case_events")).scalar_one())


def changes_after(
    *,
    conn: Connection,
    after_id: int,
    community: str | None = None,
    limit: int = MAX_CHANGES,
) -> list[dict[str, Any]]:
    """History rows with id above ``after_id``, oldest first, with their case's summary.

    Returns event_id, case_id, case_no, at, action, to_status, status (now), status_zh,
    status_en, urgency, source, service_code, category_zh, category_en, community_code.
    """
    return [
        dict(r)
        for r in conn.execute(
            sa.text(f"""
        SELECT e.id AS event_id, e.case_id, c.case_no, e.at, e.action, e.to_status,
               c.status, s.name_zh AS status_zh, s.name_en AS status_en, c.urgency, c.source,
               k.service_code, k.name_zh AS category_zh, k.name_en AS category_en,
               m.code AS community_code
        FROM case_events e
        JOIN cases c ON c.id = e.case_id
        JOIN case_statuses s ON s.code = c.status
        JOIN categories k ON k.id = c.category_id
        LEFT JOIN communities m ON m.id = c.community_id
        WHERE e.id > :after AND {IN_AREA.format(code="m.code")}
        ORDER BY e.id
        LIMIT :limit
    """),
            {"after": after_id, "community": community, "limit": limit},
        ).mappings()
    ]
