"""The lifecycle enforced by the database: legal steps, refusals, history rows."""

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from layers.workflow import errors
from layers.workflow.states import TRANSITIONS
from layers.workflow.transitions import case_state, history, history_violations, transition
from tests.workflow.factories import PHOTO, T0, make_case, walk_to


def test_the_python_mirror_is_the_database_table(conn):
    rows = conn.execute(
        sa.text("""
        SELECT from_status, action, to_status, role, needs_reason, needs_attachment,
               requires_request, sets_request, guard FROM case_transitions
    """)
    ).all()
    assert {tuple(r) for r in rows} == {
        (
            t.from_status,
            t.action,
            t.to_status,
            t.role,
            t.needs_reason,
            t.needs_attachment,
            t.requires_request,
            t.sets_request,
            t.guard,
        )
        for t in TRANSITIONS
    }


def test_the_whole_loop_leaves_one_history_row_per_step(conn, area):
    case = make_case(conn)
    version = walk_to(conn, case["case_id"], "closed")
    r = transition(
        conn=conn,
        case_id=case["case_id"],
        action="rate",
        actor="resident",
        role="resident",
        expected_version=version,
        changes={"satisfaction": 5},
        at=T0,
    )
    assert (r.status, r.version) == ("rated", 9)
    steps = history(conn=conn, case_id=case["case_id"])
    assert [s["action"] for s in steps] == [
        "report",
        "accept",
        "register",
        "dispatch",
        "start",
        "handle",
        "check",
        "close",
        "rate",
    ]
    assert steps[5]["attachments"] == PHOTO and steps[5]["reason"] == "fixed"
    state = case_state(conn=conn, case_id=case["case_id"])
    assert state["open311"] == "closed" and state["closed_at"] is not None
    assert history_violations(conn=conn) == []


@pytest.mark.parametrize(
    ("action", "role", "kwargs", "error"),
    [
        ("register", "operator", {}, errors.WrongState),  # from reported
        ("accept", "handler", {}, errors.RoleForbidden),
        ("accept", "operator", {"expected_version": 7}, errors.StaleCase),
        ("reject", "operator", {}, errors.MissingReason),
        ("fly", "operator", {}, errors.UnknownAction),
        ("accept", "wizard", {}, errors.UnknownRole),
        ("accept", "operator", {"actor": " "}, errors.BadValue),
    ],
)
def test_refusals_have_stable_codes_and_write_nothing(conn, area, action, role, kwargs, error):
    case = make_case(conn)
    before = conn.execute(sa.text("SELECT count(*) FROM case_events")).scalar()
    args = {"actor": "op", "expected_version": 1} | kwargs
    with pytest.raises(error) as info:
        transition(conn=conn, case_id=case["case_id"], action=action, role=role, **args)
    assert info.value.code == error.code
    assert conn.execute(sa.text("SELECT count(*) FROM case_events")).scalar() == before
    state = case_state(conn=conn, case_id=case["case_id"])
    assert (state["status"], state["version"]) == ("reported", 1)


def test_unknown_case(conn):
    with pytest.raises(errors.CaseNotFound):
        transition(
            conn=conn,
            case_id=10**12,
            action="accept",
            actor="a",
            role="operator",
            expected_version=1,
        )


def test_handling_needs_a_note_and_a_photo(conn, area):
    case = make_case(conn)
    version = walk_to(conn, case["case_id"], "in_handling")
    common = {"conn": conn, "case_id": case["case_id"], "actor": "h", "role": "handler"}
    with pytest.raises(errors.MissingReason):
        transition(**common, action="handle", expected_version=version, attachments=PHOTO)
    with pytest.raises(errors.MissingAttachment):
        transition(**common, action="handle", expected_version=version, reason="done")


def test_requests_need_approval(conn, area):
    case = make_case(conn)
    v = walk_to(conn, case["case_id"], "in_handling")
    common = {"conn": conn, "case_id": case["case_id"], "actor": "x"}
    with pytest.raises(errors.RequestRequired):
        transition(**common, role="shift_leader", action="extend", expected_version=v, reason="r")
    v = transition(
        **common, role="handler", action="request_extension", expected_version=v, reason="rain"
    ).version
    with pytest.raises(errors.RequestPending):
        transition(
            **common, role="handler", action="request_suspension", expected_version=v, reason="x"
        )
    with pytest.raises(errors.RequestRequired):
        transition(**common, role="shift_leader", action="suspend", expected_version=v)
    r = transition(**common, role="shift_leader", action="extend", expected_version=v, reason="ok")
    assert r.status == "in_handling"
    assert case_state(conn=conn, case_id=case["case_id"])["pending_request"] is None
    v = transition(
        **common,
        role="handler",
        action="request_return",
        expected_version=r.version,
        reason="not ours",
    ).version
    r = transition(**common, role="dispatcher", action="return", expected_version=v)
    assert r.status == "registered"


def test_logged_only_close_only_for_logged_only_categories(conn, area):
    full = make_case(conn)
    v = walk_to(conn, full["case_id"], "accepted")
    with pytest.raises(errors.WrongState):
        transition(
            conn=conn,
            case_id=full["case_id"],
            action="close",
            actor="o",
            role="operator",
            expected_version=v,
        )


def test_status_cannot_be_changed_behind_the_functions_back(conn, area):
    case = make_case(conn)
    with pytest.raises(DBAPIError, match="case_transition"), conn.begin_nested():
        conn.execute(
            sa.text("UPDATE cases SET status = 'closed' WHERE id = :id"), {"id": case["case_id"]}
        )
    # other fields may still be corrected
    conn.execute(
        sa.text("UPDATE cases SET description = 'typo fixed' WHERE id = :id"),
        {"id": case["case_id"]},
    )
