"""Moving a case through its lifecycle: one call to the database's ``case_transition()``.

The database checks the transition, the role, the area and the version, and
writes the history row in the same transaction; this module only passes the
request on and turns refusals into :mod:`layers.workflow.errors`. Every call
runs in a SAVEPOINT, so a refusal leaves the caller's transaction usable and
nothing written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from layers.workflow.errors import CaseNotFound, WorkflowError, from_db_error


@dataclass(frozen=True)
class TransitionResult:
    """The case after a transition."""

    case_id: int
    status: str
    version: int
    event_id: int


@contextmanager
def refusals_as_errors(conn: Connection, *, savepoint: bool = True) -> Iterator[None]:
    """Run a block in a SAVEPOINT; database refusals become :class:`WorkflowError`.

    Parameters
    ----------
    savepoint
        False when the caller discards its whole transaction on any error (one
        request, one transaction): saves two round trips.

    Raises
    ------
    WorkflowError
        The matching subclass for a ``GGnnn`` SQLSTATE; the savepoint is rolled back.
    """
    try:
        if savepoint:
            with conn.begin_nested():
                yield
        else:
            yield
    except DBAPIError as exc:
        err = from_db_error(exc)
        if err is None:
            raise
        raise err from exc


def transition(  # noqa: PLR0913 (the fields of one case event, keyword-only)
    *,
    conn: Connection,
    case_id: int,
    action: str,
    actor: str,
    role: str,
    expected_version: int,
    reason: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    changes: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> TransitionResult:
    """Take ``action`` on a case as ``actor`` in ``role``.

    Parameters
    ----------
    conn
        The caller's connection; its transaction is not committed here.
    expected_version
        The ``cases.version`` the actor saw; another change since then is refused.
    changes
        Fields the action sets: ``department_id``, ``deadline_at`` (ISO text),
        ``dispatch_rule``, ``dispatch_reason``, ``assists``, ``satisfaction``,
        ``merged_into``.
    at
        When it happened (default: the database's ``now()``).

    Raises
    ------
    WorkflowError
        ``StaleCase``, ``WrongState``, ``RoleForbidden``, ``MissingReason`` … (nothing written).
    """
    with refusals_as_errors(conn):
        row = conn.execute(
            sa.text("""
            SELECT case_id, status, version, event_id FROM case_transition(
                :case_id, :action, :actor, :role, :version, :reason,
                CAST(:attachments AS jsonb), CAST(:changes AS jsonb),
                coalesce(CAST(:at AS timestamptz), now()))
        """),
            {
                "case_id": case_id,
                "action": action,
                "actor": actor,
                "role": role,
                "version": expected_version,
                "reason": reason,
                "attachments": json.dumps(attachments or [], default=str),
                "changes": json.dumps(changes or {}, default=str),
                "at": at,
            },
        ).one()
    return TransitionResult(int(row.case_id), row.status, int(row.version), int(row.event_id))


def case_state(*, conn: Connection, case_id: int) -> dict[str, Any]:
    """Status, version, pending request and deadline of one case (as the caller may see it).

    Raises
    ------
    CaseNotFound
        No such case, or row-level security hides it.
    """
    row = (
        conn.execute(
            sa.text("""
        SELECT c.id, c.case_no, c.status, c.version, c.pending_request, c.department_id,
               c.category_id, c.urgency, c.street_code, c.community_id, c.reported_at,
               c.dispatched_at, c.deadline_at, c.closed_at, c.merged_into, c.dispatch_rule,
               s.open311
        FROM cases c JOIN case_statuses s ON s.code = c.status WHERE c.id = :id
    """),
            {"id": case_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise CaseNotFound(f"case {case_id} does not exist (or is outside your area)")
    return dict(row)


def history(*, conn: Connection, case_id: int) -> list[dict[str, Any]]:
    """Every history row of a case, oldest first (as the caller may see it)."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text("""
        SELECT id, at, actor, role, action, from_status, to_status, reason, attachments
        FROM case_events WHERE case_id = :id ORDER BY at, id
    """),
            {"id": case_id},
        ).mappings()
    ]


def history_violations(*, conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    """Stored history rows the transition table does not allow, or that break the chain.

    Returns an empty list when every history is legal and ends at its case's status.
    """
    return [
        dict(r)
        for r in conn.execute(
            sa.text("SELECT event_id, case_id, problem FROM case_history_violations(:n)"),
            {"n": limit},
        ).mappings()
    ]


__all__ = [
    "TransitionResult",
    "WorkflowError",
    "case_state",
    "history",
    "history_violations",
    "refusals_as_errors",
    "transition",
]
