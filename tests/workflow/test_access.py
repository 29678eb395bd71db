"""Roles and access: row-level security by area, masked reporters, audited contacts, API keys."""

import pytest
import sqlalchemy as sa

from layers.workflow import errors
from layers.workflow.access import (
    client_for_key,
    create_api_key,
    masked_reporters,
    personal_data_log,
    reporter_contacts,
    revoke_api_key,
)
from layers.workflow.transitions import transition
from tests.workflow.factories import (
    EAST,
    INSIDE_EAST,
    STREET,
    WEST,
    in_scope,
    make_case,
    walk_to,
)


def _visible(conn):
    return set(conn.execute(sa.text("SELECT id FROM cases")).scalars())


def test_area_roles_see_only_their_community(conn, area):
    west = make_case(conn)["case_id"]
    east = make_case(conn, where=INSIDE_EAST)["case_id"]
    with in_scope(conn=conn, role="grid_worker", area=WEST):
        assert _visible(conn) == {west}
        events = set(conn.execute(sa.text("SELECT case_id FROM case_events")).scalars())
        assert events == {west}
        assert masked_reporters(conn=conn, case_id=east) == []
    with in_scope(conn=conn, role="supervisor", area=STREET):
        assert {west, east} <= _visible(conn)
    with in_scope(conn=conn, role="grid_worker"):  # no area: fail closed
        assert _visible(conn) == set()
    with in_scope(conn=conn, role="operator"):
        assert {west, east} <= _visible(conn)


def test_handlers_see_their_departments_cases(conn, area):
    case = make_case(conn)["case_id"]
    walk_to(conn, case, "dispatched")
    dept = conn.execute(
        sa.text("SELECT department_id FROM cases WHERE id = :id"), {"id": case}
    ).scalar()
    with in_scope(conn=conn, role="handler", department_id=dept):
        assert case in _visible(conn)
    with in_scope(conn=conn, role="handler", department_id=area["dept_east"]):
        assert case not in _visible(conn)


def test_handlers_act_only_on_their_departments_cases(conn, area):
    case = make_case(conn)["case_id"]
    version = walk_to(conn, case, "dispatched")
    dept = conn.execute(
        sa.text("SELECT department_id FROM cases WHERE id = :id"), {"id": case}
    ).scalar()
    other = area["dept_east"] if dept != area["dept_east"] else area["dept_west"]
    common = {"conn": conn, "case_id": case, "actor": "h", "role": "handler"}
    with (
        pytest.raises(errors.OutsideYourArea, match="not assigned to department"),
        in_scope(conn=conn, role="handler", department_id=other),
    ):
        transition(**common, action="start", expected_version=version)
    with (
        pytest.raises(errors.OutsideYourArea, match="acts for a department"),
        in_scope(conn=conn, role="handler"),
    ):
        transition(**common, action="start", expected_version=version)
    history = conn.execute(
        sa.text("SELECT count(*) FROM case_events WHERE case_id = :id"), {"id": case}
    ).scalar()
    with in_scope(conn=conn, role="handler", department_id=dept):
        result = transition(**common, action="start", expected_version=version)
    assert result.status == "in_handling"
    after = conn.execute(
        sa.text("SELECT count(*) FROM case_events WHERE case_id = :id"), {"id": case}
    ).scalar()
    assert after == history + 1  # the refused attempts wrote nothing


def test_roles_cannot_write_around_the_workflow(conn, area):
    case = make_case(conn)["case_id"]
    with (
        pytest.raises(sa.exc.DBAPIError, match="permission denied"),
        conn.begin_nested(),
        in_scope(conn=conn, role="operator"),
    ):
        conn.execute(sa.text("UPDATE cases SET status = 'closed' WHERE id = :id"), {"id": case})
    with (
        pytest.raises(sa.exc.DBAPIError, match="permission denied"),
        conn.begin_nested(),
        in_scope(conn=conn, role="operator"),
    ):
        conn.execute(sa.text("SELECT name FROM reporters"))


def test_a_database_role_cannot_claim_another(conn, area):
    case = make_case(conn)["case_id"]
    with in_scope(conn=conn, role="dispatcher"), pytest.raises(errors.RoleNotHeld):
        transition(
            conn=conn,
            case_id=case,
            action="accept",
            actor="d",
            role="operator",
            expected_version=1,
        )
    with in_scope(conn=conn, role="operator"):
        r = transition(
            conn=conn,
            case_id=case,
            action="accept",
            actor="o",
            role="operator",
            expected_version=1,
        )
        assert r.status == "accepted"


def test_grid_workers_act_only_in_their_area(conn, area):
    case = make_case(conn, where=INSIDE_EAST)["case_id"]
    v = walk_to(conn, case, "handled")
    with in_scope(conn=conn, role="grid_worker", area=WEST), pytest.raises(errors.OutsideYourArea):
        transition(
            conn=conn,
            case_id=case,
            action="check",
            actor="gw",
            role="grid_worker",
            expected_version=v,
        )
    with in_scope(conn=conn, role="grid_worker", area=EAST):
        assert (
            transition(
                conn=conn,
                case_id=case,
                action="check",
                actor="gw",
                role="grid_worker",
                expected_version=v,
            ).status
            == "checked"
        )


def test_reporters_are_masked_and_unmasking_is_recorded(conn, area):
    case = make_case(conn)["case_id"]
    with in_scope(conn=conn, role="dispatcher"):
        (masked,) = masked_reporters(conn=conn, case_id=case)
        assert masked["name"] == "张**" and masked["phone"] == "138****5678"
        with pytest.raises(errors.RoleForbidden):
            reporter_contacts(conn=conn, case_ids=[case], actor="dp", role="dispatcher")
    with in_scope(conn=conn, role="operator"):
        (row,) = reporter_contacts(
            conn=conn, case_ids=[case], actor="op-01", role="operator", purpose="export"
        )
        assert row["phone"] == "13812345678"
    log = personal_data_log(conn=conn, limit=1)
    assert log[0]["actor"] == "op-01" and log[0]["purpose"] == "export"
    assert log[0]["case_ids"] == [case]


def test_api_keys_are_stored_hashed(conn):
    key = create_api_key(conn=conn, client="city-app")
    assert client_for_key(conn=conn, key=key) == "city-app"
    stored = conn.execute(sa.text("SELECT key_hash FROM api_keys WHERE client = 'city-app'"))
    assert key not in stored.scalar()
    with pytest.raises(errors.BadApiKey):
        client_for_key(conn=conn, key="guess")
    assert revoke_api_key(conn=conn, client="city-app")
    with pytest.raises(errors.BadApiKey):
        client_for_key(conn=conn, key=key)
