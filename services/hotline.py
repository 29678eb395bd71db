"""Hotline intake (12345): an operator registers a caller's report on their behalf.

The call becomes a case through the same report workflow as every other channel
(``case_report()``), with source ``hotline``. The caller's name and phone go to the
``reporters`` table, apart from the case, and every role reads them masked
(``reporters_masked``); the public Open311 face of a hotline case shows no description
and a rounded point. Each call carries a client-made ``call_id``: sending the same call
twice (a double click, a retry after a network error) gives the one case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import geopandas as gpd
from sqlalchemy.engine import Engine

from layers import areas, cases, intake, place_search
from layers.workflow import duplicates
from layers.workflow.access import Scope
from layers.workflow.cases_api import MAX_DESCRIPTION, report_case, validate_report
from layers.workflow.errors import BadValue
from services.uow import unit_of_work

__all__ = [
    "Category",
    "HotlineCall",
    "NearbyCase",
    "Place",
    "Registered",
    "categories",
    "duplicate_hint",
    "find_places",
    "hotline_area",
    "register_call",
    "validate_call",
]

SOURCE_SYSTEM = "hotline"
MAX_NAME = 40
_PHONE = re.compile(r"^(?:\+?86)?(?:1[3-9]\d{9}|0\d{2,3}\d{7,8}|\d{7,8})$")
_CALL_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
HINT_RADIUS_M = 100.0
HINT_WINDOW = timedelta(days=30)


class HotlineError(BadValue):
    """A field of a hotline call is missing or malformed (the message names it)."""

    code = "bad_hotline_call"


@dataclass(frozen=True)
class HotlineCall:
    """One caller's report as the operator takes it down."""

    call_id: str
    caller_phone: str
    service_code: str
    lon: float | None
    lat: float | None
    description: str
    caller_name: str | None = None
    urgency: str = "normal"


@dataclass(frozen=True)
class Registered:
    """The case a call became; ``created`` false when the call had been registered before."""

    case_id: int
    case_no: str
    created: bool


@dataclass(frozen=True)
class Category:
    """A minor class of the catalogue as the form offers it."""

    service_code: str
    name_zh: str
    name_en: str
    major_zh: str
    major_en: str


@dataclass(frozen=True)
class Place:
    """A place a caller may mean: a building, road, community, grid or facility."""

    kind: str
    ref: str
    name_zh: str
    name_en: str
    lon: float
    lat: float


@dataclass(frozen=True)
class NearbyCase:
    """An open case near the caller's place: the report may be its duplicate."""

    id: int
    case_no: str
    status: str
    service_code: str
    name_zh: str
    name_en: str
    reported_at: datetime
    distance_m: float
    status_zh: str
    status_en: str


@dataclass
class HotlineArea:
    """The served area the hotline map shows: its extent and communities."""

    extent: tuple[float, float, float, float] | None
    communities: gpd.GeoDataFrame


def hotline_area(engine: Engine, *, scope: Scope) -> HotlineArea:
    """The whole served area the user may register calls in."""
    with unit_of_work(engine, scope) as conn:
        return HotlineArea(areas.extent(conn=conn), areas.communities(conn=conn))


def categories(engine: Engine, *, scope: Scope) -> list[Category]:
    """Every category a call can be filed under."""
    with unit_of_work(engine, scope) as conn:
        rows = intake.minor_categories(conn=conn)
    return [Category(**{k: r[k] for k in Category.__dataclass_fields__}) for r in rows]


def find_places(engine: Engine, *, scope: Scope, text: str, limit: int = 10) -> list[Place]:
    """Places matching what the caller said (our own layers: :mod:`layers.place_search`)."""
    with unit_of_work(engine, scope) as conn:
        rows = place_search.find_places(conn=conn, text=text, limit=limit)
    return [Place(**{k: r[k] for k in Place.__dataclass_fields__}) for r in rows]


def duplicate_hint(
    engine: Engine,
    *,
    scope: Scope,
    lon: float,
    lat: float,
    service_code: str | None,
    at: datetime,
    radius_m: float = HINT_RADIUS_M,
) -> list[NearbyCase]:
    """Open cases near the point (of the category, or any) that the call may duplicate."""
    with unit_of_work(engine, scope) as conn:
        rows = duplicates.open_cases_near(
            conn=conn,
            lon=lon,
            lat=lat,
            service_code=service_code,
            at=at,
            radius_m=radius_m,
            window=HINT_WINDOW,
        )
        names = cases.status_names(conn=conn)
    for r in rows:
        r["status_zh"], r["status_en"] = names.get(r["status"], (r["status"], r["status"]))
    return [NearbyCase(**{k: r[k] for k in NearbyCase.__dataclass_fields__}) for r in rows]


def validate_call(call: HotlineCall) -> HotlineCall:
    """The call with its text fields trimmed and the phone's spaces and dashes removed.

    Raises
    ------
    HotlineError
        Naming the field and why: call id, caller phone, caller name, category, location,
        description or urgency.
    """
    if not _CALL_ID.match(call.call_id or ""):
        raise HotlineError("call_id: 8-64 letters, digits, '-' or '_' (made when the form opens)")
    phone = re.sub(r"[\s()-]", "", call.caller_phone or "")
    if not phone:
        raise HotlineError("caller_phone / 来电号码: required, to call the resident back")
    if not _PHONE.match(phone):
        raise HotlineError(
            f"caller_phone / 来电号码: {call.caller_phone!r} is not a mobile (11 digits) "
            "or a landline number"
        )
    name = (call.caller_name or "").strip() or None
    if name is not None and len(name) > MAX_NAME:
        raise HotlineError(f"caller_name / 来电人: at most {MAX_NAME} characters")
    if not (call.service_code or "").strip():
        raise HotlineError("service_code / 类别: choose the category of the problem")
    if call.lon is None or call.lat is None:
        raise HotlineError("location / 位置: search a place or click the map")
    description = (call.description or "").strip()
    if not description:
        raise HotlineError("description / 描述: say what the caller reported")
    if len(description) > MAX_DESCRIPTION:
        raise HotlineError(f"description / 描述: at most {MAX_DESCRIPTION} characters")
    if call.urgency not in ("normal", "urgent"):
        raise HotlineError(f"urgency / 紧急程度: {call.urgency!r} is not normal or urgent")
    return HotlineCall(
        call_id=call.call_id,
        caller_phone=phone,
        service_code=call.service_code.strip(),
        lon=call.lon,
        lat=call.lat,
        description=description,
        caller_name=name,
        urgency=call.urgency,
    )


def register_call(engine: Engine, *, scope: Scope, actor: str, call: HotlineCall) -> Registered:
    """Register a call as a case (source hotline) and commit; the same ``call_id`` again
    returns the case it made.

    Raises
    ------
    HotlineError
        A field is missing or malformed.
    layers.workflow.errors.WorkflowError
        What the report workflow refuses (unknown category, outside the served area,
        a role that may not report); nothing is written.
    """
    call = validate_call(call)
    report = validate_report(
        service_code=call.service_code,
        lon=call.lon,
        lat=call.lat,
        source="hotline",
        description=call.description,
        urgency=call.urgency,
    )
    with unit_of_work(engine, scope, write=True) as conn:
        before = intake.case_by_source(
            conn=conn, source_system=SOURCE_SYSTEM, source_id=call.call_id
        )
        if before is not None:
            return Registered(int(before["case_id"]), str(before["case_no"]), created=False)
        made = report_case(
            conn=conn,
            report=report,
            actor=actor,
            role=scope.role,
            reporter_name=call.caller_name,
            reporter_phone=call.caller_phone,
            source_system=SOURCE_SYSTEM,
            source_id=call.call_id,
        )
    return Registered(int(made["case_id"]), str(made["case_no"]), created=True)
