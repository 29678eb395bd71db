"""Dashboard logins: password hashes, users, and every view run under the user's role."""

from datetime import datetime

import pytest
import sqlalchemy as sa

from city import time_zone
from layers.auth import (
    DEMO_PASSWORD,
    LOGIN_ROLES,
    Scope,
    UserError,
    add_user,
    authenticate,
    hash_password,
    list_users,
    verify_password,
)
from services.areas import community_choices, rollup_days
from services.district import district_map
from services.leader import (
    leader_density,
    leader_grid_heat,
    leader_heat,
    leader_hotspots,
    performance,
)
from services.operator import operator_desk
from services.supervisor import supervisor_coverage
from services.uow import unit_of_work

NOW = datetime(2026, 11, 20, 18, tzinfo=time_zone())


def test_password_hash_roundtrip_and_salt():
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b  # a fresh salt each time
    assert verify_password("correct horse", a) and verify_password("correct horse", b)
    assert not verify_password("wrong horse", a)
    assert not verify_password("correct horse", "not a hash")


def test_add_user_refuses_bad_fields(demo_engine):
    with demo_engine.connect() as conn:
        community = conn.execute(sa.text("SELECT min(code) FROM communities")).scalar()
        cases = [
            ({"username": "x y", "role": "operator"}, "username"),
            ({"username": "ok", "role": "pilot"}, "role"),
            ({"username": "ok", "role": "supervisor"}, "area"),
            ({"username": "ok", "role": "supervisor", "area": "12"}, "area"),
            ({"username": "ok", "role": "supervisor", "area": "999999999999"}, "area"),
            ({"username": "ok", "role": "handler"}, "department"),
            ({"username": "ok", "role": "handler", "department_code": "nope"}, "department"),
            ({"username": "operator", "role": "operator"}, "already taken"),
        ]
        for kwargs, field in cases:
            with pytest.raises(UserError, match=field):
                add_user(conn=conn, password="long enough", **kwargs)
        with pytest.raises(UserError, match="password"):
            add_user(conn=conn, username="ok", password="short", role="operator")
        user = add_user(
            conn=conn, username="sup2", password="long enough", role="supervisor", area=community
        )
        assert user.scope == Scope("supervisor", community)
        conn.rollback()


def test_demo_users_log_in(demo_engine):
    with demo_engine.connect() as conn:
        users = {u["username"]: u for u in list_users(conn=conn)}
        assert {u["role"] for u in users.values()} == set(LOGIN_ROLES)
        assert "password_hash" not in next(iter(users.values()))
        user = authenticate(conn=conn, username="supervisor", password=DEMO_PASSWORD)
        assert user is not None and user.scope.community == users["supervisor"]["area"]
        assert authenticate(conn=conn, username="supervisor", password="wrong") is None
        assert authenticate(conn=conn, username="nobody", password=DEMO_PASSWORD) is None


def test_rls_narrows_a_community_supervisor(demo_engine, small_district):
    """No community passed: row-level security alone keeps the other communities out."""
    one = small_district.communities.code.iloc[0]
    supervisor = Scope("supervisor", one)
    with demo_engine.connect() as conn:
        open_here = conn.execute(
            sa.text("""SELECT count(*) FROM cases c JOIN case_statuses s ON s.code = c.status
                       JOIN communities m ON m.id = c.community_id
                       WHERE s.is_open AND m.code = :c"""),
            {"c": one},
        ).scalar_one()
    # the layers functions, called without any community, under the supervisor's role
    from layers import areas, cases, grids

    with unit_of_work(demo_engine, supervisor) as conn:
        assert cases.count_open(conn=conn) == open_here
        assert set(grids.current_grids(conn=conn).community_code) == {one}
        assert list(areas.communities(conn=conn).code) == [one]
    with unit_of_work(demo_engine, Scope("leader")) as conn:
        assert cases.count_open(conn=conn) > open_here
        assert len(areas.communities(conn=conn)) == len(small_district.communities)
    data = district_map(demo_engine, scope=supervisor, now=NOW)
    assert set(data.grids.community_code) == {one}
    assert data.open_case_total == open_here


@pytest.mark.parametrize("role", LOGIN_ROLES)
def test_every_view_runs_under_every_role(demo_engine, small_district, role):
    scope = Scope(
        role,
        small_district.communities.code.iloc[0] if role in ("supervisor", "grid_worker") else None,
        "x" if role == "handler" else None,
    )
    if role == "handler":
        with demo_engine.connect() as conn:
            scope = Scope(
                role, None, conn.execute(sa.text("SELECT min(code) FROM departments")).scalar()
            )
    district_map(demo_engine, scope=scope, now=NOW)
    operator_desk(demo_engine, scope=scope, now=NOW)
    supervisor_coverage(demo_engine, scope=scope)
    heat = leader_heat(demo_engine, scope=scope)
    community_choices(demo_engine, scope=scope)
    rollup_days(demo_engine, scope=scope)
    leader_hotspots(demo_engine, scope=scope, start=heat.days[0], end=heat.days[1])
    performance(demo_engine, scope=scope, start=heat.days[0], end=heat.days[1], now=NOW)
    window = {"start": heat.days[0], "end": heat.days[1]}
    grid_heat = leader_grid_heat(demo_engine, scope=scope, **window)
    smooth = leader_density(demo_engine, scope=scope, **window)
    if role in ("supervisor", "grid_worker"):  # their community only
        assert set(grid_heat.community_code) == {scope.area}
    assert not grid_heat.empty and not smooth.bands.empty
