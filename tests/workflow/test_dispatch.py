"""Dispatch rules: statutory, territorial (boundaries), overrides, joint handling, deadlines."""

import pytest
import sqlalchemy as sa

from layers.workflow import errors
from layers.workflow.calendar import default_calendar
from layers.workflow.dispatch import Assist, assignments, dispatch_case, route_case
from layers.workflow.transitions import case_state
from tests.workflow.factories import (
    EAST,
    INSIDE_EAST,
    ON_BOUNDARY,
    T0,
    WEST,
    category_with_department,
    category_without_department,
    make_case,
    walk_to,
)


def test_statutory_rule_from_the_responsibility_list(conn, area):
    case = make_case(conn)
    routing = route_case(conn=conn, case_id=case["case_id"])
    assert routing.rule == "statutory" and "responsibility rule" in routing.reason


def test_an_area_rule_beats_the_general_rule(conn, area):
    code = category_with_department(conn)
    conn.execute(
        sa.text("""
        INSERT INTO responsibility_rules (category_id, area_code, department_id, role, note)
        SELECT id, :area, :dept, 'lead', 'east handles it here' FROM categories
        WHERE service_code = :c
    """),
        {"area": EAST, "dept": area["dept_east"], "c": code},
    )
    east = make_case(conn, service_code=code, where=INSIDE_EAST)
    west = make_case(conn, service_code=code)
    assert route_case(conn=conn, case_id=east["case_id"]).department_code == EAST
    assert route_case(conn=conn, case_id=west["case_id"]).department_code != EAST


def test_territorial_fallback_and_the_boundary_rule(conn, area):
    code = category_without_department(conn)
    east = make_case(conn, service_code=code, where=INSIDE_EAST)
    edge = make_case(conn, service_code=code, where=ON_BOUNDARY)
    r_east = route_case(conn=conn, case_id=east["case_id"])
    assert (r_east.rule, r_east.department_code) == ("territorial", EAST)
    # a point on the shared boundary goes to the community with the lowest id (west)
    assert route_case(conn=conn, case_id=edge["case_id"]).department_code == WEST


def test_dispatch_stores_rule_reason_deadline_and_joint_units(conn, area):
    case = make_case(conn)
    v = walk_to(conn, case["case_id"], "registered")
    r = dispatch_case(
        conn=conn,
        case_id=case["case_id"],
        actor="dp",
        role="dispatcher",
        expected_version=v,
        at=T0,
        assists=[Assist(WEST, limit_hours=2, reason="community clears the pavement")],
    )
    state = case_state(conn=conn, case_id=case["case_id"])
    assert r.status == "dispatched" and state["dispatch_rule"] == "statutory"
    limit = conn.execute(
        sa.text("""
        SELECT time_limit, time_unit FROM categories k JOIN cases c ON c.category_id = k.id
        WHERE c.id = :id
    """),
        {"id": case["case_id"]},
    ).one()
    assert state["deadline_at"] == default_calendar().deadline(T0, *limit)
    units = assignments(conn=conn, case_id=case["case_id"])
    assert [u["role"] for u in units] == ["lead", "assist"]
    assert units[1]["deadline_at"] == default_calendar().add_working_hours(T0, 2)
    assert all(u["reason"] for u in units)


def test_overrides_need_a_reason_and_designation_a_leader(conn, area):
    case = make_case(conn)
    v = walk_to(conn, case["case_id"], "registered")
    common = {"conn": conn, "case_id": case["case_id"], "actor": "x", "at": T0}
    with pytest.raises(errors.MissingReason):
        dispatch_case(
            **common,
            role="dispatcher",
            expected_version=v,
            department_code=EAST,
            rule="negotiated",
        )
    with pytest.raises(errors.RoleForbidden):
        dispatch_case(
            **common,
            role="dispatcher",
            expected_version=v,
            department_code=EAST,
            rule="designated",
            reason="the leader said so",
        )
    with pytest.raises(errors.BadValue):
        dispatch_case(**common, role="leader", expected_version=v, rule="designated")
    r = dispatch_case(
        **common,
        role="leader",
        expected_version=v,
        department_code=EAST,
        rule="designated",
        reason="joint meeting 2026-11-16",
    )
    state = case_state(conn=conn, case_id=case["case_id"])
    assert r.status == "dispatched" and state["dispatch_rule"] == "designated"
    assert state["department_id"] == area["dept_east"]
