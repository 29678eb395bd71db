"""Dispatch: who handles a case, why, and by when.

Routing rules, in order (DOMAIN.md, "The closed loop", step 4):

1. **statutory** (法定) — the responsibility list: a rule for the case's category
   and its community or street (the most specific area wins, then the lowest
   ``priority``), else a rule for the category everywhere;
2. **territorial** (属地) — the fallback: the community committee of the place,
   else the street office. A point on a boundary belongs to the community with
   the lowest id (the rule ``case_report()`` and ``gis.assign`` share);
3. **negotiated** (商定) and **designated** (指定) — an override naming the
   department, with a reason (designated: by a leader or shift leader).

Joint handling (吹哨报到): one lead unit plus assisting units, each with its
own deadline; every dispatch stores its rule and reason in ``cases`` and one
row per unit in ``case_assignments``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.workflow.calendar import WorkingCalendar, default_calendar
from layers.workflow.errors import BadValue, CaseNotFound, NoRoute
from layers.workflow.transitions import TransitionResult, transition

DEFAULT_LIMIT = (5.0, "working_days")
"""Time limit for categories that have none in the catalogue."""


@dataclass(frozen=True)
class Routing:
    """Where a case goes and why."""

    department_id: int
    department_code: str
    rule: str
    reason: str
    assists: tuple[int, ...] = ()


@dataclass(frozen=True)
class Assist:
    """An assisting unit of a joint dispatch, with its own time limit in working hours."""

    department_code: str
    limit_hours: float | None = None
    reason: str = "joint handling"


def route_case(*, conn: Connection, case_id: int) -> Routing:
    """The statutory or territorial routing of a case (see module notes).

    Raises
    ------
    CaseNotFound
        No such case.
    NoRoute
        Neither a responsibility rule nor a community or street department covers it.
    """
    case = (
        conn.execute(
            sa.text("""
        SELECT c.id, c.category_id, k.service_code, c.street_code, m.code AS community_code,
               c.community_id
        FROM cases c JOIN categories k ON k.id = c.category_id
        LEFT JOIN communities m ON m.id = c.community_id WHERE c.id = :id
    """),
            {"id": case_id},
        )
        .mappings()
        .first()
    )
    if case is None:
        raise CaseNotFound(f"case {case_id} does not exist")
    rules = (
        conn.execute(
            sa.text("""
        SELECT r.id, r.department_id, d.code, r.role, r.area_code
        FROM responsibility_rules r JOIN departments d ON d.id = r.department_id
        WHERE r.category_id = :category
          AND (r.area_code IS NULL OR r.area_code IN (:community, :street))
        ORDER BY length(coalesce(r.area_code, '')) DESC, r.priority, r.id
    """),
            {
                "category": case["category_id"],
                "community": case["community_code"] or "",
                "street": case["street_code"],
            },
        )
        .mappings()
        .all()
    )
    leads = [r for r in rules if r["role"] == "lead"]
    assists = tuple(
        dict.fromkeys(
            r["department_id"]
            for r in rules
            if r["role"] == "assist"
            and (not leads or r["department_id"] != leads[0]["department_id"])
        )
    )
    if leads:
        lead = leads[0]
        where = f"area {lead['area_code']}" if lead["area_code"] else "everywhere"
        return Routing(
            lead["department_id"],
            lead["code"],
            "statutory",
            f"responsibility rule {lead['id']}: {case['service_code']} ({where}) -> {lead['code']}",
            assists,
        )
    local = (
        conn.execute(
            sa.text("""
        SELECT d.id, d.code, d.kind FROM departments d
        WHERE (d.kind = 'community' AND d.community_id = :community)
           OR (d.kind = 'street' AND d.street_id = (SELECT id FROM streets WHERE code = :street))
        ORDER BY (d.kind = 'community') DESC, d.id LIMIT 1
    """),
            {"community": case["community_id"], "street": case["street_code"]},
        )
        .mappings()
        .first()
    )
    if local is None:
        raise NoRoute(
            f"case {case_id}: no responsibility rule for {case['service_code']} and no "
            "community or street department for its place; add a rule or an area department"
        )
    return Routing(
        local["id"],
        local["code"],
        "territorial",
        f"no responsibility rule for {case['service_code']}: the {local['kind']} where it "
        f"happened ({local['code']})",
        assists,
    )


def case_time_limit(*, conn: Connection, case_id: int) -> tuple[float, str]:
    """The (time limit, unit) of a case: its category's, the urgent one when urgent."""
    row = conn.execute(
        sa.text("""
        SELECT k.time_limit, k.time_unit, k.urgent_time_limit, c.urgency
        FROM cases c JOIN categories k ON k.id = c.category_id WHERE c.id = :id
    """),
        {"id": case_id},
    ).first()
    if row is None:
        raise CaseNotFound(f"case {case_id} does not exist")
    if row.time_limit is None:
        return DEFAULT_LIMIT
    limit = (
        row.urgent_time_limit
        if row.urgency == "urgent" and row.urgent_time_limit
        else row.time_limit
    )
    return float(limit), row.time_unit


def dispatch_case(  # noqa: PLR0913 (the fields of a dispatch event, keyword-only)
    *,
    conn: Connection,
    case_id: int,
    actor: str,
    role: str,
    expected_version: int,
    at: datetime,
    department_code: str | None = None,
    rule: str | None = None,
    reason: str | None = None,
    assists: list[Assist] | None = None,
    calendar: WorkingCalendar | None = None,
) -> TransitionResult:
    """Dispatch a registered case to its lead unit (and assisting units) with deadlines.

    Parameters
    ----------
    department_code, rule
        An override: ``rule`` ``negotiated`` or ``designated`` with the department
        agreed or named, and a ``reason``. Without them the case is routed by
        :func:`route_case`.
    assists
        Assisting units; each gets its own deadline (default: the lead's).
    at
        When the dispatch happens (tz-aware); deadlines count from it.

    Raises
    ------
    BadValue
        An override without a department or with an unknown rule or department.
    WorkflowError
        Whatever ``case_transition()`` refuses (stale, wrong state, role …).
    """
    cal = calendar or default_calendar()
    if department_code or rule:
        if rule not in ("negotiated", "designated") or not department_code:
            raise BadValue("an override needs rule negotiated|designated and a department code")
        routing = Routing(
            _department_id(conn, department_code), department_code, rule, reason or ""
        )
    else:
        routing = route_case(conn=conn, case_id=case_id)
    limit, unit = case_time_limit(conn=conn, case_id=case_id)
    deadline = cal.deadline(at, limit, unit)
    assist_rows: list[dict[str, Any]] = [
        {"department_id": d, "deadline_at": deadline.isoformat(), "reason": "statutory assist"}
        for d in routing.assists
    ]
    for a in assists or []:
        due = cal.add_working_hours(at, a.limit_hours) if a.limit_hours else deadline
        assist_rows.append(
            {
                "department_id": _department_id(conn, a.department_code),
                "deadline_at": due.isoformat(),
                "reason": a.reason,
            }
        )
    return transition(
        conn=conn,
        case_id=case_id,
        action="dispatch",
        actor=actor,
        role=role,
        expected_version=expected_version,
        reason=reason or routing.reason,
        changes={
            "department_id": routing.department_id,
            "dispatch_rule": routing.rule,
            "dispatch_reason": routing.reason or reason,
            "deadline_at": deadline.isoformat(),
            "assists": assist_rows,
        },
        at=at,
    )


def approve_extension(  # noqa: PLR0913 (the fields of an extension event, keyword-only)
    *,
    conn: Connection,
    case_id: int,
    actor: str,
    role: str,
    expected_version: int,
    reason: str,
    at: datetime,
    extra_hours: float | None = None,
    calendar: WorkingCalendar | None = None,
) -> TransitionResult:
    """Approve a pending extension request: the deadline moves by ``extra_hours`` working hours.

    ``extra_hours`` defaults to the case's whole time limit again.
    """
    cal = calendar or default_calendar()
    limit, unit = case_time_limit(conn=conn, case_id=case_id)
    extra = extra_hours if extra_hours is not None else cal.limit_hours(limit, unit)
    current = conn.execute(
        sa.text("SELECT deadline_at FROM cases WHERE id = :id"), {"id": case_id}
    ).scalar()
    base = max(current, at) if current else at
    return transition(
        conn=conn,
        case_id=case_id,
        action="extend",
        actor=actor,
        role=role,
        expected_version=expected_version,
        reason=reason,
        changes={"deadline_at": cal.add_working_hours(base, extra).isoformat()},
        at=at,
    )


def assignments(*, conn: Connection, case_id: int) -> list[dict[str, Any]]:
    """Every unit a case was dispatched to (lead and assisting), oldest dispatch first."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text("""
        SELECT a.id, d.code AS department_code, a.role, a.rule, a.reason, a.assigned_at,
               a.deadline_at, a.event_id
        FROM case_assignments a JOIN departments d ON d.id = a.department_id
        WHERE a.case_id = :id ORDER BY a.assigned_at, a.role DESC, a.id
    """),
            {"id": case_id},
        ).mappings()
    ]


def _department_id(conn: Connection, code: str) -> int:
    found = conn.execute(
        sa.text("SELECT id FROM departments WHERE code = :c"), {"c": code}
    ).scalar()
    if found is None:
        raise BadValue(f"unknown department code {code!r}")
    return int(found)


def deadline_status(
    *, conn: Connection, case_id: int, now: datetime, calendar: WorkingCalendar | None = None
) -> dict[str, Any]:
    """Remaining working time and escalation level of a case at ``now``.

    Returns
    -------
    dict
        ``deadline_at`` (None before dispatch), ``limit_hours``, ``remaining_hours``
        (negative: overdue), ``overdue`` and ``escalation_level`` (0–3, see
        :data:`layers.workflow.calendar.ESCALATION_LEVELS`). Closed cases count to
        their closing time.
    """
    from layers.workflow.calendar import escalation_level

    cal = calendar or default_calendar()
    row = conn.execute(
        sa.text("SELECT deadline_at, closed_at FROM cases WHERE id = :id"), {"id": case_id}
    ).first()
    if row is None:
        raise CaseNotFound(f"case {case_id} does not exist")
    limit_hours = cal.limit_hours(*case_time_limit(conn=conn, case_id=case_id))
    if row.deadline_at is None:
        return {
            "deadline_at": None,
            "limit_hours": limit_hours,
            "remaining_hours": None,
            "overdue": False,
            "escalation_level": 0,
        }
    until = row.closed_at or now
    remaining = cal.remaining_hours(row.deadline_at, until)
    return {
        "deadline_at": row.deadline_at,
        "limit_hours": limit_hours,
        "remaining_hours": round(remaining, 2),
        "overdue": remaining < 0,
        "escalation_level": escalation_level(remaining, limit_hours),
    }
