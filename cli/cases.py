"""`gridgov case …`: the case workflow for operators (a front door: no SQL here).

Every command runs in one transaction as the GridGov role given with
``--role`` (``SET LOCAL ROLE gridgov_<role>``; ``--area`` for area-scoped
roles), so the database checks the role, the area and the transition.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Connection

from city import time_zone
from cli.errors import fail, reported_errors
from layers.workflow.access import create_api_key, masked_reporters, revoke_api_key
from layers.workflow.cases_api import report_case, validate_report
from layers.workflow.dispatch import Assist, assignments, deadline_status, dispatch_case
from layers.workflow.duplicates import find_duplicates, merge_duplicate
from layers.workflow.errors import WorkflowError
from layers.workflow.transitions import case_state, history, history_violations, transition
from services.uow import Scope, open_engine, unit_of_work

console = Console()
err = Console(stderr=True)
case_app = typer.Typer(
    help="Cases through the closed loop: report, act, dispatch, duplicates, deadlines.",
    no_args_is_help=True,
)

Actor = Annotated[str, typer.Option(help="Who acts (user name or code).")]
Role = Annotated[str, typer.Option(help="GridGov role: operator, dispatcher, shift_leader, …")]
Area = Annotated[str | None, typer.Option(help="Street (9) or community (12 digit) code.")]
Version = Annotated[int, typer.Option(help="The case version you saw (optimistic lock).")]


@contextmanager
def _session(role: str | None = None, area: str | None = None) -> Iterator[Connection]:
    """One committed unit of work as ``role`` in ``area``; an error ends the command."""
    scope = Scope(role, area) if role else None
    with reported_errors(), unit_of_work(open_engine(), scope, write=True) as conn:
        yield conn


def _now() -> datetime:
    return datetime.now(time_zone())


@case_app.command("report")
def report(
    *,
    service_code: str,
    lon: float,
    lat: float,
    actor: Actor,
    role: Role = "operator",
    datum: Annotated[str, typer.Option(help="wgs84, gcj02 or bd09")] = "wgs84",
    source: str = "hotline",
    description: str | None = None,
    urgent: bool = False,
) -> None:
    """Report a case at LON LAT (converted to WGS 84 from --datum)."""
    with _session(role) as conn:
        try:
            checked = validate_report(
                service_code=service_code,
                lon=lon,
                lat=lat,
                datum=datum,
                source=source,
                description=description,
                urgency="urgent" if urgent else "normal",
            )
        except WorkflowError as exc:
            fail(exc)
        made = report_case(conn=conn, report=checked, actor=actor, role=role)
    console.print(f"case {made['case_no']} (id {made['case_id']}, version 1) reported")


@case_app.command("act")
def act(
    *,
    case_id: int,
    action: str,
    actor: Actor,
    role: Role,
    version: Version,
    reason: str | None = None,
    photo: Annotated[list[str] | None, typer.Option(help="Photo URL (repeatable).")] = None,
    satisfaction: int | None = None,
    area: Area = None,
) -> None:
    """Take ACTION (accept, register, start, handle, check, close, …) on a case."""
    with _session(role, area) as conn:
        r = transition(
            conn=conn,
            case_id=case_id,
            action=action,
            actor=actor,
            role=role,
            expected_version=version,
            reason=reason,
            attachments=[{"type": "photo", "url": u} for u in photo or []],
            changes={"satisfaction": satisfaction} if satisfaction else None,
        )
    console.print(f"case {r.case_id}: {r.status} (version {r.version})")


@case_app.command("dispatch")
def dispatch(
    *,
    case_id: int,
    actor: Actor,
    version: Version,
    role: Role = "dispatcher",
    department: Annotated[str | None, typer.Option(help="Override: department code.")] = None,
    rule: Annotated[str | None, typer.Option(help="Override: negotiated or designated.")] = None,
    reason: str | None = None,
    assist: Annotated[list[str] | None, typer.Option(help="Assisting department.")] = None,
) -> None:
    """Dispatch a registered case by the rules (or an override), with deadlines."""
    with _session(role) as conn:
        r = dispatch_case(
            conn=conn,
            case_id=case_id,
            actor=actor,
            role=role,
            expected_version=version,
            at=_now(),
            department_code=department,
            rule=rule,
            reason=reason,
            assists=[Assist(code) for code in assist or []],
        )
        units = assignments(conn=conn, case_id=case_id)
    console.print(f"case {r.case_id}: {r.status} (version {r.version})")
    for u in units[-(1 + len(assist or [])) :]:
        console.print(f"  {u['role']:6s} {u['department_code']:12s} due {u['deadline_at']}")


@case_app.command("show")
def show(case_id: int, role: Role = "operator", area: Area = None) -> None:
    """A case: state, deadline, history, assignments and masked reporters."""
    with _session(role, area) as conn:
        state = case_state(conn=conn, case_id=case_id)
        due = deadline_status(conn=conn, case_id=case_id, now=_now())
        steps = history(conn=conn, case_id=case_id)
        units = assignments(conn=conn, case_id=case_id)
        people = masked_reporters(conn=conn, case_id=case_id)
    console.print(
        f"case {state['case_no']} (id {case_id}): {state['status']} / Open311 "
        f"{state['open311']}, version {state['version']}, pending "
        f"{state['pending_request'] or '-'}"
    )
    console.print(
        f"deadline {due['deadline_at']}, remaining {due['remaining_hours']} working hours, "
        f"escalation level {due['escalation_level']}"
    )
    table = Table("at", "action", "from", "to", "who", "role", "reason")
    for s in steps:
        table.add_row(
            str(s["at"]),
            s["action"],
            s["from_status"] or "",
            s["to_status"],
            s["actor"],
            s["role"],
            s["reason"] or "",
        )
    console.print(table)
    for u in units:
        console.print(f"  {u['role']} {u['department_code']} ({u['rule']}: {u['reason']})")
    for p in people:
        console.print(f"  reporter {p['name']} {p['phone']} via {p['channel']}")


@case_app.command("duplicates")
def duplicates(
    case_id: int, radius_m: float = 50.0, days: float = 3.0, role: Role = "operator"
) -> None:
    """Open cases of the same category near a case (candidates for merging)."""
    from datetime import timedelta

    with _session(role) as conn:
        found = find_duplicates(
            conn=conn, case_id=case_id, radius_m=radius_m, window=timedelta(days=days)
        )
    for f in found:
        console.print(f"{f['id']} {f['case_no']} {f['status']} {f['distance_m']} m")
    if not found:
        console.print("no duplicates")


@case_app.command("merge")
def merge(
    duplicate_id: int, target_id: int, actor: Actor, version: Version, role: Role = "operator"
) -> None:
    """Merge a duplicate into an open case, keeping every reporter."""
    with _session(role) as conn:
        r = merge_duplicate(
            conn=conn,
            duplicate_id=duplicate_id,
            target_id=target_id,
            actor=actor,
            role=role,
            expected_version=version,
        )
    console.print(f"case {r.case_id}: {r.status}, merged into {target_id}")


@case_app.command("audit")
def audit(limit: int = 100) -> None:
    """Check every stored history against the transition rules."""
    with _session() as conn:
        problems = history_violations(conn=conn, limit=limit)
    for p in problems:
        console.print(json.dumps(p, default=str))
    console.print(f"{len(problems)} problem(s)" if problems else "every history is legal")
    if problems:
        raise typer.Exit(1)


@case_app.command("api-key")
def api_key(client: str) -> None:
    """Create (or replace) the Open311 API key of CLIENT; it is shown only once."""
    with _session() as conn:
        key = create_api_key(conn=conn, client=client)
    console.print(key)


@case_app.command("revoke-api-key")
def revoke_key(client: str) -> None:
    """Revoke the Open311 API key of CLIENT: the API refuses it from the next request on."""
    with _session() as conn:
        revoked = revoke_api_key(conn=conn, client=client)
    if not revoked:
        console.print(f"[red]no active API key for client {client!r}[/red]")
        raise typer.Exit(1)
    console.print(f"API key of {client!r} revoked / 已吊销")
