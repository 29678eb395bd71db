"""The supervision board (督办): per department, what is about to go or has gone overdue.

A dispatched case is marked **yellow** when a quarter of its time limit or less is left
(escalation level 1) and **red** once its deadline has passed (levels 2–3), counted in
working hours on the working calendar. An operator escalates a marked case to the shift
leader with a reason: the ``escalate`` step of the lifecycle (migration 0095), recorded
in the case's history like every other step.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from layers import supervision
from layers.workflow.access import Scope
from layers.workflow.calendar import WorkingCalendar, default_calendar, escalation_level
from layers.workflow.dispatch import DEFAULT_LIMIT
from layers.workflow.transitions import TransitionResult
from services.areas import narrowed_community
from services.case_commands import ActionRequest, take_action
from services.uow import unit_of_work

__all__ = ["BoardCase", "DepartmentLine", "SupervisionBoard", "escalate", "supervision_board"]

YELLOW, RED = "yellow", "red"


@dataclass(frozen=True)
class BoardCase:
    """A supervised case: its deadline, working hours left and its mark."""

    id: int
    case_no: str
    version: int
    status_zh: str
    status_en: str
    urgency: str
    category_zh: str
    category_en: str
    department_code: str | None
    department_zh: str
    department_en: str
    community_zh: str | None
    community_en: str | None
    deadline_at: datetime
    limit_hours: float
    remaining_hours: float
    level: int
    mark: str
    escalated_at: datetime | None
    escalated_by: str | None
    escalation_reason: str | None


@dataclass(frozen=True)
class DepartmentLine:
    """One department's line on the board: cases near (yellow) and past (red) deadline."""

    department_code: str | None
    department_zh: str
    department_en: str
    yellow: int
    red: int
    escalated: int
    supervised: int


@dataclass
class SupervisionBoard:
    """The board at ``now``: departments with marked cases first, then the marked cases."""

    now: datetime
    departments: list[DepartmentLine]
    cases: list[BoardCase]


def supervision_board(
    engine: Engine,
    *,
    scope: Scope,
    now: datetime,
    community: str | None = None,
    calendar: WorkingCalendar | None = None,
) -> SupervisionBoard:
    """Dispatched cases near or past their deadline at ``now``, per department.

    Cases are ordered red before yellow, then by working hours left; departments by their
    red, then yellow count. Row-level security applies (a handler sees its department's).
    """
    cal = calendar or default_calendar()
    with unit_of_work(engine, scope) as conn:
        rows = supervision.supervised_cases(
            conn=conn, community=narrowed_community(scope, community)
        )
    marked: list[BoardCase] = []
    counts: dict[str | None, dict[str, Any]] = {}
    tally: dict[str | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        code = row["department_code"]
        counts.setdefault(code, row)
        tally[code]["supervised"] += 1
        case = _board_case(row, cal, now)
        if case is None:
            continue
        marked.append(case)
        tally[code][case.mark] += 1
        tally[code]["escalated"] += case.escalated_at is not None
    lines = [
        DepartmentLine(
            department_code=code,
            department_zh=row["department_zh"],
            department_en=row["department_en"],
            yellow=tally[code][YELLOW],
            red=tally[code][RED],
            escalated=tally[code]["escalated"],
            supervised=tally[code]["supervised"],
        )
        for code, row in counts.items()
    ]
    lines.sort(key=lambda d: (-d.red, -d.yellow, d.department_zh))
    marked.sort(key=lambda c: (c.mark != RED, c.remaining_hours))
    return SupervisionBoard(now=now, departments=lines, cases=marked)


def escalate(
    engine: Engine,
    *,
    scope: Scope,
    actor: str,
    case_id: int,
    expected_version: int,
    reason: str,
) -> TransitionResult:
    """Escalate a case to the shift leader (督办) with a reason, recorded in its history.

    Raises
    ------
    layers.workflow.errors.WorkflowError
        MissingReason without a reason, RoleForbidden for a role other than operator,
        WrongState for a case that is not dispatched or in handling, StaleCase when it
        changed since it was read; nothing is written then.
    """
    return take_action(
        engine,
        scope=scope,
        actor=actor,
        request=ActionRequest(
            case_id=case_id,
            action="escalate",
            expected_version=expected_version,
            reason=reason.strip() or None,
        ),
    )


def _limit_hours(row: dict[str, Any], cal: WorkingCalendar) -> float:
    """The case's time limit in working hours (the urgent one when urgent)."""
    if row["time_limit"] is None:
        return cal.limit_hours(*DEFAULT_LIMIT)
    limit = row["time_limit"]
    if row["urgency"] == "urgent" and row["urgent_time_limit"]:
        limit = row["urgent_time_limit"]
    return cal.limit_hours(float(limit), row["time_unit"])


def _board_case(row: dict[str, Any], cal: WorkingCalendar, now: datetime) -> BoardCase | None:
    """The case with its mark, or None when it has time enough (level 0)."""
    limit = _limit_hours(row, cal)
    remaining = cal.remaining_hours(row["deadline_at"], now)
    level = escalation_level(remaining, limit)
    if level == 0:
        return None
    fields = {k: row[k] for k in BoardCase.__dataclass_fields__ if k in row}
    return BoardCase(
        **fields,
        limit_hours=round(limit, 1),
        remaining_hours=round(remaining, 1),
        level=level,
        mark=YELLOW if level == 1 else RED,
    )
