"""The operator's desk: the live queue, a case's file, and finding a case by number."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy.engine import Connection, Engine

from layers import areas, cases, catalogue
from layers.cases import CaseRecord, Reporter
from layers.workflow import dispatch, duplicates
from layers.workflow.access import Scope
from layers.workflow.errors import BadValue
from layers.workflow.states import Transition, available_transitions, may_take
from services.areas import Extent, narrowed_community
from services.uow import unit_of_work

__all__ = [
    "CaseFile",
    "CaseRecord",
    "OperatorDesk",
    "Reporter",
    "case_file",
    "map_feature_limit",
    "operator_desk",
]

MAP_FEATURE_LIMIT = 2_000
"""Open cases the operator page lists and draws one by one; past it the map draws every
open case as vector tiles (``GRIDGOV_LIVE_TILES_ABOVE`` overrides)."""


@dataclass
class OperatorDesk:
    """The live queue of open cases (newest first) and the area it covers."""

    extent: Extent | None
    communities: gpd.GeoDataFrame
    queue: gpd.GeoDataFrame
    open_case_total: int
    now: datetime


def map_feature_limit() -> int:
    """``GRIDGOV_LIVE_TILES_ABOVE`` (default :data:`MAP_FEATURE_LIMIT`, 1…100,000): how many
    open cases the operator page's queue holds and its map draws as GeoJSON; with more
    open cases than that the map draws them all from vector tiles.

    Raises
    ------
    BadValue
        The variable is set but not a whole number within 1…100,000.
    """
    raw = os.environ.get("GRIDGOV_LIVE_TILES_ABOVE")
    if raw is None or not raw.strip():
        return MAP_FEATURE_LIMIT
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadValue(
            f"GRIDGOV_LIVE_TILES_ABOVE: {raw!r} is not a whole number of open cases"
        ) from exc
    if not 1 <= value <= 100_000:
        raise BadValue(f"GRIDGOV_LIVE_TILES_ABOVE: {value} is outside 1…100,000")
    return value


def operator_desk(
    engine: Engine,
    *,
    scope: Scope | None = None,
    now: datetime,
    limit: int | None = None,
    community: str | None = None,
) -> OperatorDesk:
    """Open cases, overdue first then newest (at most ``limit`` on the map and in the queue;
    default :func:`map_feature_limit`)."""
    limit = map_feature_limit() if limit is None else limit
    area = {"community": narrowed_community(scope, community)}
    with unit_of_work(engine, scope) as conn:
        return OperatorDesk(
            extent=areas.extent(conn=conn, **area),
            communities=areas.communities(conn=conn, **area),
            queue=cases.open_cases(conn=conn, now=now, limit=limit, **area),
            open_case_total=cases.count_open(conn=conn, **area),
            now=now,
        )


@dataclass(frozen=True)
class Deadline:
    """A case's deadline at a moment: working hours left (negative: overdue), escalation."""

    deadline_at: datetime | None
    limit_hours: float | None
    remaining_hours: float | None
    overdue: bool
    escalation_level: int


@dataclass(frozen=True)
class Assignment:
    """One unit a case was dispatched to (lead or assisting)."""

    department_code: str
    role: str
    rule: str | None
    reason: str | None
    assigned_at: datetime
    deadline_at: datetime | None


@dataclass(frozen=True)
class Duplicate:
    """An open case the current one may duplicate (same category, near, same time)."""

    id: int
    case_no: str
    status: str
    distance_m: float
    reported_at: datetime


@dataclass
class CaseFile:
    """Everything the operator's case file shows, as the scope may see it."""

    case: CaseRecord
    history: pd.DataFrame
    deadline: Deadline
    assignments: list[Assignment]
    actions: list[str]
    """Actions the scope's role may take now (from ``layers.workflow.states``)."""
    departments: list[tuple[str, str, str]]
    photo_actions: list[str] = field(default_factory=list)
    """Those of ``actions`` that need a photo (a handler's feedback)."""
    duplicates: list[Duplicate] = field(default_factory=list)
    """Open cases this one may duplicate, nearest first: the targets of ``merge``,
    offered only when the role may merge."""
    status_names: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Status code -> (name_zh, name_en), from ``case_statuses``."""


def case_file(
    engine: Engine, *, scope: Scope | None = None, case_id: int, now: datetime | None = None
) -> CaseFile | None:
    """A case's record (reporters masked), history, deadline countdown, routing, and the
    actions ``scope``'s role may take on it now; None when the case is hidden or gone."""
    with unit_of_work(engine, scope) as conn:
        record = cases.case_record(conn=conn, case_id=case_id)
        if record is None:
            return None
        at = now or datetime.now().astimezone()
        deadline = dispatch.deadline_status(conn=conn, case_id=case_id, now=at)
        routed = dispatch.assignments(conn=conn, case_id=case_id)
        history = cases.case_history(conn=conn, case_id=case_id)
        departments = catalogue.departments(conn=conn)
        may_merge = scope is not None and may_take("merge", record.status, scope.role)
        twins = _duplicates(conn, case_id) if may_merge else []
        names = cases.status_names(conn=conn)
    offered = _offered(record, scope, has_twins=bool(twins))
    actions = [t.action for t in offered]
    return CaseFile(
        case=record,
        history=history,
        deadline=Deadline(**{k: deadline[k] for k in Deadline.__dataclass_fields__}),
        assignments=[_assignment(a) for a in routed],
        actions=actions,
        departments=departments,
        photo_actions=[t.action for t in offered if t.needs_attachment],
        duplicates=twins if "merge" in actions else [],
        status_names=names,
    )


def find_case(engine: Engine, *, scope: Scope | None, case_no: str) -> int | None:
    """The id of the case numbered ``case_no`` (spaces ignored) if ``scope`` may see it."""
    with unit_of_work(engine, scope) as conn:
        return cases.find_case_id(conn=conn, case_no=case_no)


def _offered(record: CaseRecord, scope: Scope | None, *, has_twins: bool) -> list[Transition]:
    """The lifecycle's available transitions, less ``merge`` when there is nothing to merge
    into (the one rule that needs data beyond the case: a candidate duplicate)."""
    if scope is None:
        return []
    return [
        t
        for t in available_transitions(record.status, scope.role, record.pending_request)
        if t.action != "merge" or has_twins
    ]


def _duplicates(conn: Connection, case_id: int) -> list[Duplicate]:
    return [
        Duplicate(
            id=int(d["id"]),
            case_no=str(d["case_no"]),
            status=str(d["status"]),
            distance_m=float(d["distance_m"]),
            reported_at=d["reported_at"],
        )
        for d in duplicates.find_duplicates(conn=conn, case_id=case_id)
    ]


def _assignment(row: dict[str, Any]) -> Assignment:
    return Assignment(**{k: row[k] for k in Assignment.__dataclass_fields__})
