"""Intake helpers for front doors that register reports on someone's behalf (the hotline)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def minor_categories(*, conn: Connection) -> list[dict[str, Any]]:
    """The catalogue's minor classes with their major class: what a report is filed under.

    Returns service_code, name_zh, name_en, kind, major_zh, major_en, urgent (whether the
    category has an urgent time limit), ordered by kind (events first) and code.
    """
    return [
        dict(r)
        for r in conn.execute(
            sa.text("""
        SELECT k.service_code, k.name_zh, coalesce(k.name_en, k.name_zh) AS name_en, k.kind,
               p.name_zh AS major_zh, coalesce(p.name_en, p.name_zh) AS major_en,
               k.urgent_time_limit IS NOT NULL AS urgent
        FROM categories k JOIN categories p ON p.id = k.parent_id
        WHERE k.level = 2 ORDER BY k.kind DESC, k.service_code
    """)
        ).mappings()
    ]


def case_by_source(
    *, conn: Connection, source_system: str, source_id: str
) -> dict[str, Any] | None:
    """The case a source system already sent under ``source_id`` (id, case_no), or None."""
    row = (
        conn.execute(
            sa.text("""
        SELECT id AS case_id, case_no FROM cases
        WHERE source_system = :system AND source_id = :source_id
    """),
            {"system": source_system, "source_id": source_id},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None
