"""The live feed of the operator page: what changed since the page last looked.

A page keeps a :class:`LiveCursor` (in its session) and calls :func:`poll` every few
seconds; one short read on ``case_events``' primary key answers it. The page redraws its
map, queue and counts only when something changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine

from layers import live
from layers.workflow.access import Scope
from services.areas import narrowed_community
from services.uow import unit_of_work

__all__ = ["CaseChange", "LiveCursor", "Poll", "poll", "start"]

SLACK = 200
"""History ids re-read below the cursor: rows whose transaction committed late."""


@dataclass(frozen=True)
class CaseChange:
    """One step in a case's history as the live feed shows it."""

    event_id: int
    case_id: int
    case_no: str
    at: datetime
    action: str
    status: str
    status_zh: str
    status_en: str
    urgency: str
    source: str
    service_code: str
    category_zh: str
    category_en: str

    @property
    def is_new_report(self) -> bool:
        """A case that has just come in."""
        return self.action == "report"

    @property
    def is_urgent(self) -> bool:
        """An urgent case (its category's urgent time limit applies)."""
        return self.urgency == "urgent"


@dataclass(frozen=True)
class LiveCursor:
    """Where a page is in the history: the newest id read and the ids read near it."""

    last_id: int
    seen: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Poll:
    """The changes a poll found (oldest first) and the cursor to poll from next."""

    changes: list[CaseChange]
    cursor: LiveCursor


def start(engine: Engine, *, scope: Scope, community: str | None = None) -> LiveCursor:
    """A cursor at "now": the next :func:`poll` returns only what happens from here on."""
    area = narrowed_community(scope, community)
    with unit_of_work(engine, scope) as conn:
        last = live.latest_event_id(conn=conn)
        near = live.changes_after(conn=conn, after_id=max(last - SLACK, 0), community=area)
    return LiveCursor(last, frozenset(int(r["event_id"]) for r in near))


def poll(engine: Engine, *, scope: Scope, cursor: LiveCursor, community: str | None = None) -> Poll:
    """The history rows ``scope`` may see that came after ``cursor`` (and were not seen).

    Parameters
    ----------
    community
        Narrow to one community (area-scoped users: their own area in any case).
    """
    area = narrowed_community(scope, community)
    with unit_of_work(engine, scope) as conn:
        rows = live.changes_after(
            conn=conn, after_id=max(cursor.last_id - SLACK, 0), community=area
        )
    fresh = [r for r in rows if r["event_id"] not in cursor.seen]
    top = max([cursor.last_id, *(r["event_id"] for r in rows)])
    # remember only the ids that a later poll re-reads (those within the slack)
    seen = frozenset(i for i in (*cursor.seen, *(r["event_id"] for r in rows)) if i > top - SLACK)
    changes = [CaseChange(**{k: r[k] for k in CaseChange.__dataclass_fields__}) for r in fresh]
    return Poll(changes, LiveCursor(top, seen))
