"""Live operations through the services the pages call: the change feed, the hotline and
the supervision board, on the writable demo district (real PostGIS, row-level security)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from layers.auth import DEMO_PASSWORD, authenticate
from layers.workflow import errors
from layers.workflow.calendar import default_calendar
from services import board, hotline, live
from services.login import User
from tests.dashboard.scratch import new_case


def _login(engine, username: str) -> User:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        user = authenticate(conn=conn, username=username, password=DEMO_PASSWORD)
    assert user is not None
    return user


def _inside(engine) -> tuple[float, float, str]:  # type: ignore[no-untyped-def]
    """A point in the first community and an event category."""
    with engine.connect() as conn:
        lon, lat, code = conn.execute(
            sa.text("""
            SELECT ST_X(p), ST_Y(p), k.service_code
            FROM (SELECT ST_PointOnSurface(geom) AS p FROM communities ORDER BY code LIMIT 1) c,
                 categories k WHERE k.kind = 'event' AND k.level = 2
            ORDER BY k.service_code OFFSET 3 LIMIT 1""")
        ).one()
    return float(lon), float(lat), str(code)


def test_the_feed_returns_each_change_once_and_honours_the_area(scratch_engine):
    operator = _login(scratch_engine, "operator").scope
    cursor = live.start(scratch_engine, scope=operator)
    assert live.poll(scratch_engine, scope=operator, cursor=cursor).changes == []
    case_id, case_no = new_case(scratch_engine, upto="accepted")
    found = live.poll(scratch_engine, scope=operator, cursor=cursor)
    mine = [c for c in found.changes if c.case_id == case_id]
    assert [(c.action, c.case_no) for c in mine] == [("report", case_no), ("accept", case_no)]
    assert mine[0].is_new_report and mine[1].status == "accepted"
    assert found.cursor.last_id == max(c.event_id for c in found.changes)
    # polled again from the new cursor: nothing new
    assert live.poll(scratch_engine, scope=operator, cursor=found.cursor).changes == []
    # a change committed late (its id below the cursor, not seen yet) still comes once
    late = live.LiveCursor(found.cursor.last_id, found.cursor.seen - {mine[1].event_id})
    again = live.poll(scratch_engine, scope=operator, cursor=late)
    assert [c.event_id for c in again.changes] == [mine[1].event_id]
    # narrowed to another community the case is not there
    with scratch_engine.connect() as conn:
        other = conn.execute(
            sa.text("SELECT code FROM communities ORDER BY code OFFSET 1 LIMIT 1")
        ).scalar_one()
    narrowed = live.poll(scratch_engine, scope=operator, cursor=cursor, community=other)
    assert case_id not in {c.case_id for c in narrowed.changes}


def test_a_hotline_call_becomes_one_hotline_case_with_the_caller_kept_apart(scratch_engine):
    me = _login(scratch_engine, "operator")
    lon, lat, code = _inside(scratch_engine)
    call = hotline.HotlineCall(
        call_id=uuid.uuid4().hex,
        caller_name=" 李四 ",
        caller_phone="138-0013-8000",
        service_code=code,
        lon=lon,
        lat=lat,
        description="路灯不亮 / street light out",
        urgency="urgent",
    )
    first = hotline.register_call(scratch_engine, scope=me.scope, actor=me.username, call=call)
    again = hotline.register_call(scratch_engine, scope=me.scope, actor=me.username, call=call)
    assert first.created and not again.created
    assert (again.case_id, again.case_no) == (first.case_id, first.case_no)
    with scratch_engine.connect() as conn:
        case = conn.execute(
            sa.text("""SELECT source, source_system, urgency, description, status
                       FROM cases WHERE source_id = :s"""),
            {"s": call.call_id},
        ).all()
        stored = conn.execute(
            sa.text("SELECT name, phone, channel FROM reporters WHERE case_id = :c"),
            {"c": first.case_id},
        ).one()
        masked = conn.execute(
            sa.text("SELECT name, phone FROM reporters_masked WHERE case_id = :c"),
            {"c": first.case_id},
        ).one()
        event = conn.execute(
            sa.text("SELECT action, actor, role FROM case_events WHERE case_id = :c"),
            {"c": first.case_id},
        ).one()
    assert case == [("hotline", "hotline", "urgent", "路灯不亮 / street light out", "reported")]
    assert tuple(stored) == ("李四", "13800138000", "hotline")
    assert "13800138000" not in str(masked.phone) and masked.name != "李四"
    assert tuple(event) == ("report", "operator", "operator")
    # the next caller at the same place is told about the open case there
    hint = hotline.duplicate_hint(
        scratch_engine,
        scope=me.scope,
        lon=lon + 0.0001,
        lat=lat,
        service_code=code,
        at=datetime.now().astimezone(),
    )
    assert first.case_id in {d.id for d in hint}
    near = next(d for d in hint if d.id == first.case_id)
    assert 0 < near.distance_m < 20 and near.status_zh and near.status_en


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"caller_phone": ""}, "caller_phone"),
        ({"caller_phone": "12345"}, "caller_phone"),
        ({"lon": None}, "location"),
        ({"description": "  "}, "description"),
        ({"service_code": ""}, "service_code"),
        ({"caller_name": "名" * 41}, "caller_name"),
        ({"call_id": "x"}, "call_id"),
        ({"urgency": "now"}, "urgency"),
    ],
)
def test_a_bad_call_names_its_field_and_writes_nothing(scratch_engine, change, field):
    me = _login(scratch_engine, "operator")
    lon, lat, code = _inside(scratch_engine)
    values = {
        "call_id": uuid.uuid4().hex,
        "caller_phone": "13800138000",
        "service_code": code,
        "lon": lon,
        "lat": lat,
        "description": "占道经营",
    } | change
    with pytest.raises(hotline.HotlineError, match=field):
        hotline.register_call(
            scratch_engine, scope=me.scope, actor=me.username, call=hotline.HotlineCall(**values)
        )
    with scratch_engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM cases WHERE source_id = :s"),
                {"s": values["call_id"]},
            ).scalar_one()
            == 0
        )


def test_places_come_from_the_districts_own_layers(scratch_engine):
    me = _login(scratch_engine, "operator")
    with scratch_engine.connect() as conn:
        road, community, grid = conn.execute(
            sa.text("""SELECT (SELECT name_zh FROM roads WHERE name_zh IS NOT NULL
                               ORDER BY id LIMIT 1),
                              (SELECT name_zh FROM communities ORDER BY code LIMIT 1),
                              (SELECT code FROM grids_current ORDER BY code LIMIT 1)""")
        ).one()
    roads = hotline.find_places(scratch_engine, scope=me.scope, text=road)
    assert roads and roads[0].kind == "road" and roads[0].name_zh == road
    assert {"community"} <= {
        p.kind for p in hotline.find_places(scratch_engine, scope=me.scope, text=community)
    }
    grids = hotline.find_places(scratch_engine, scope=me.scope, text=grid[:-1])
    assert grid in {p.ref for p in grids}
    with scratch_engine.connect() as conn:
        inside = conn.execute(
            sa.text("""SELECT bool_and(ST_Intersects(s.geom, ST_SetSRID(ST_MakePoint(:x, :y),
                       4326))) FROM streets s"""),
            {"x": roads[0].lon, "y": roads[0].lat},
        ).scalar_one()
    assert inside
    # wildcards are text: "%" finds nothing
    assert hotline.find_places(scratch_engine, scope=me.scope, text="%") == []


def test_the_board_marks_yellow_then_red_and_records_the_escalation(scratch_engine):
    operator = _login(scratch_engine, "operator")
    case_id, case_no = new_case(scratch_engine, upto="in_handling")
    with scratch_engine.connect() as conn:
        deadline, department = conn.execute(
            sa.text("""SELECT c.deadline_at, d.code FROM cases c
                       JOIN departments d ON d.id = c.department_id WHERE c.id = :c"""),
            {"c": case_id},
        ).one()

    def marked(at: datetime, user: User = operator) -> dict[int, board.BoardCase]:
        shown = board.supervision_board(scratch_engine, scope=user.scope, now=at)
        return {c.id: c for c in shown.cases}

    now = datetime.now().astimezone()
    assert case_id not in marked(now)  # just dispatched: time enough
    soon = marked(deadline - timedelta(minutes=20))[case_id]
    assert (soon.mark, soon.level, soon.department_code) == ("yellow", 1, department)
    assert 0 <= soon.remaining_hours <= 0.25 * soon.limit_hours
    # one working hour past the deadline (two days after it can be a weekend: no working
    # time past the deadline yet, still yellow)
    overdue = default_calendar().add_working_hours(deadline, 1.0)
    late = board.supervision_board(scratch_engine, scope=operator.scope, now=overdue)
    red = {c.id: c for c in late.cases}[case_id]
    assert red.mark == "red" and red.remaining_hours < 0
    line = next(d for d in late.departments if d.department_code == department)
    assert line.red >= 1 and late.departments[0].red >= line.red
    # the handler's board holds its own department's case
    handler = _login(scratch_engine, "handler")
    assert case_id in marked(overdue, handler)
    # escalation: a reason is needed, only an operator escalates, the history keeps it
    with pytest.raises(errors.MissingReason):
        board.escalate(
            scratch_engine,
            scope=operator.scope,
            actor="operator",
            case_id=case_id,
            expected_version=red.version,
            reason=" ",
        )
    with pytest.raises(errors.RoleForbidden):
        board.escalate(
            scratch_engine,
            scope=_login(scratch_engine, "dispatcher").scope,
            actor="dispatcher",
            case_id=case_id,
            expected_version=red.version,
            reason="超期未办",
        )
    done = board.escalate(
        scratch_engine,
        scope=operator.scope,
        actor="operator",
        case_id=case_id,
        expected_version=red.version,
        reason="超期未办，报值班长 / overdue",
    )
    assert done.status == "in_handling" and done.version == red.version + 1
    with scratch_engine.connect() as conn:
        step = conn.execute(
            sa.text("""SELECT action, actor, role, from_status, to_status, reason
                       FROM case_events WHERE case_id = :c ORDER BY id DESC LIMIT 1"""),
            {"c": case_id},
        ).one()
    assert tuple(step) == (
        "escalate",
        "operator",
        "operator",
        "in_handling",
        "in_handling",
        "超期未办，报值班长 / overdue",
    )
    after = marked(overdue)[case_id]
    assert after.escalated_by == "operator" and after.escalated_at is not None
    assert case_no == after.case_no
