"""Issue 13, findings 4, 5, 9, 10 and the low one: the database is the guard, as the app's login.

Every test here logs in as the app does — a non-superuser member of
``gridgov_app`` — against a committed database, because the defects were
exactly what such a login could do: forge change keys, times, actors and
attachments through ``case_transition``, widen its area with ``set_config``,
read derived tables of other areas, and read reporters without a record that
survives a rollback.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from layers.auth import add_user, demo_users, disable_user
from layers.rollups import refresh_rollups
from layers.workflow import errors
from layers.workflow.access import Scope, enter_scope, reporter_contacts
from layers.workflow.transitions import case_state, transition
from tests.conftest import app_login_engine
from tests.workflow.factories import EAST, STREET, T0, WEST, make_case, served_database, walk_to

PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def admin():
    """A committed test area with one case per status we need and one user per role."""
    eng = served_database("gridgov_test_hardening")
    with eng.begin() as conn:
        # territorial routing: a west case goes to the west community's department
        conn.execute(sa.text("DELETE FROM responsibility_rules"))
        for name, role, area, dept in [
            ("op", "operator", None, None),
            ("dp", "dispatcher", None, None),
            ("hd", "handler", None, WEST),
            ("sv_west", "supervisor", WEST, None),
            ("gw_west", "grid_worker", WEST, None),
        ]:
            add_user(
                conn=conn,
                username=name,
                password=PASSWORD,
                role=role,
                area=area,
                department_code=dept,
            )
        for where in ("west", "east"):
            point = (120.605, 31.305) if where == "west" else (120.635, 31.305)
            case = make_case(conn, where=point)["case_id"]
            conn.execute(
                sa.text(
                    "INSERT INTO gridgov_meta (key, value) VALUES (:k, to_jsonb(CAST(:v AS int)))"
                ),
                {"k": f"case_{where}", "v": case},
            )
        in_handling = make_case(conn)["case_id"]
        walk_to(conn, in_handling, "in_handling", at=datetime.now(T0.tzinfo))
        conn.execute(
            sa.text(
                "INSERT INTO gridgov_meta (key, value) "
                "VALUES ('case_ih', to_jsonb(CAST(:v AS int)))"
            ),
            {"v": in_handling},
        )
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def app(admin):
    eng = app_login_engine(admin)
    yield eng
    eng.dispose()


def _meta(admin, key: str) -> int:
    with admin.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT value FROM gridgov_meta WHERE key = :k"), {"k": key}
            ).scalar_one()
        )


def _handler_scope() -> Scope:
    return Scope("handler", None, WEST, "hd")


# -- finding 4: case_transition trusts nothing the action does not need -----------------


@pytest.mark.parametrize(
    "changes",
    [
        {"deadline_at": "2099-01-01T00:00:00+08:00"},
        {"department_id": 1},
        {"merged_into": 1},
        {"satisfaction": 5},
    ],
)
def test_a_handler_request_cannot_carry_change_keys(app, admin, changes):
    case = _meta(admin, "case_ih")
    with app.connect() as conn, conn.begin():
        enter_scope(conn=conn, scope=_handler_scope())
        version = case_state(conn=conn, case_id=case)["version"]
        with pytest.raises(errors.BadValue, match="request_extension may not change"):
            transition(
                conn=conn,
                case_id=case,
                action="request_extension",
                actor="hd",
                role="handler",
                expected_version=version,
                reason="need more time",
                changes=changes,
            )
    with admin.connect() as conn:
        row = conn.execute(
            sa.text("SELECT deadline_at, department_id, pending_request FROM cases WHERE id = :i"),
            {"i": case},
        ).one()
    assert row.deadline_at.year < 2099 and row.pending_request is None


def test_time_and_actor_come_from_the_database_not_the_caller(app, admin):
    case = _meta(admin, "case_ih")
    with app.connect() as conn, conn.begin():
        enter_scope(conn=conn, scope=_handler_scope())
        version = case_state(conn=conn, case_id=case)["version"]
        result = transition(
            conn=conn,
            case_id=case,
            action="request_suspension",
            actor="the mayor",  # forged
            role="handler",
            expected_version=version,
            reason="waiting for parts",
            at=datetime(2001, 1, 1, tzinfo=T0.tzinfo),  # backdated
        )
        event = conn.execute(
            sa.text("SELECT actor, at, now() AS now FROM case_events WHERE id = :e"),
            {"e": result.event_id},
        ).one()
    assert event.actor == "hd"
    assert event.at == event.now


@pytest.mark.parametrize(
    "attachment",
    [
        {"type": "photo", "path": "../../etc/passwd"},
        {"type": "photo", "path": f"1/{'a' * 64}.jpg"},  # another case's photo
        {"type": "photo", "url": "file:///etc/passwd"},
        {"type": "script", "url": "https://example.org/x.js"},
        "just text",
    ],
)
def test_only_stored_photos_of_the_case_or_http_urls_are_attachments(app, admin, attachment):
    case = _meta(admin, "case_ih")
    with app.connect() as conn, conn.begin():
        enter_scope(conn=conn, scope=_handler_scope())
        version = case_state(conn=conn, case_id=case)["version"]
        with pytest.raises(errors.BadValue, match="attachment"):
            transition(
                conn=conn,
                case_id=case,
                action="handle",
                actor="hd",
                role="handler",
                expected_version=version,
                reason="fixed",
                attachments=[attachment],
            )


def test_a_stored_photo_of_the_case_is_accepted(admin):
    case = _meta(admin, "case_ih")
    with admin.connect() as conn, conn.begin() as tx:  # privileged: no department scope
        version = case_state(conn=conn, case_id=case)["version"]
        done = transition(
            conn=conn,
            case_id=case,
            action="handle",
            actor="hd",
            role="handler",
            expected_version=version,
            reason="fixed",
            attachments=[{"type": "photo", "path": f"{case}/{'b' * 64}.jpg"}],
        )
        assert done.status == "handled"
        tx.rollback()


def test_a_deadline_must_lie_after_the_action(admin):
    case = make_case_committed(admin)
    with admin.connect() as conn, conn.begin() as tx:
        version = walk_to(conn, case, "registered")
        with pytest.raises(errors.BadValue, match=r"deadline_at .* must lie after"):
            transition(
                conn=conn,
                case_id=case,
                action="dispatch",
                actor="dp",
                role="dispatcher",
                expected_version=version,
                at=T0,
                changes={
                    "department_id": 1,
                    "dispatch_rule": "statutory",
                    "deadline_at": (T0 - timedelta(days=1)).isoformat(),
                },
            )
        tx.rollback()


def make_case_committed(admin) -> int:
    with admin.begin() as conn:
        return int(make_case(conn)["case_id"])


# -- finding 5: the area is verified, not a setting; derived tables have RLS -----------------


def test_a_supervisor_cannot_widen_its_area_with_set_config(app, admin):
    west, east = _meta(admin, "case_west"), _meta(admin, "case_east")
    with app.connect() as conn, conn.begin():
        enter_scope(conn=conn, scope=Scope("supervisor", WEST, None, "sv_west"))
        conn.execute(sa.text(f"SELECT set_config('gridgov.area', '{STREET}', true)"))
        seen = set(conn.execute(sa.text("SELECT id FROM cases")).scalars())
        communities = set(conn.execute(sa.text("SELECT code FROM communities")).scalars())
    assert west in seen and east not in seen
    assert communities == {WEST}


def test_the_area_is_the_users_own_and_one_identity_per_transaction(app):
    with app.connect() as conn, conn.begin(), pytest.raises(errors.OutsideYourArea):
        enter_scope(conn=conn, scope=Scope("supervisor", EAST, None, "sv_west"))
    with app.connect() as conn, conn.begin(), pytest.raises(errors.RoleNotHeld):
        enter_scope(conn=conn, scope=Scope("operator", None, None, "sv_west"))
    with app.connect() as conn, conn.begin(), pytest.raises(errors.RoleNotHeld):
        enter_scope(conn=conn, scope=Scope("supervisor", WEST, None, None))
    with app.connect() as conn, conn.begin():
        enter_scope(conn=conn, scope=Scope("supervisor", WEST, None, "sv_west"))
        conn.execute(sa.text("RESET ROLE"))
        with pytest.raises(errors.RoleNotHeld, match="one identity per transaction"):
            enter_scope(conn=conn, scope=Scope("operator", None, None, "op"))
    with (
        app.connect() as conn,
        conn.begin(),
        pytest.raises(sa.exc.ProgrammingError, match="permission denied"),
    ):
        conn.execute(
            sa.text(
                "INSERT INTO gridgov_entries VALUES (pg_backend_pid(), "
                "pg_current_xact_id(), 'operator', NULL, NULL, 'x', 'privileged')"
            )
        )


DERIVED = [
    "case_daily",
    "case_daily_major",
    "density_bands",
    "hotspot_cells",
    "emerging_cells",
    "grid_coverage",
    "workers",
    "patrol_points",
    "patrols",
    "patrol_plans",
]


def test_every_derived_table_has_row_level_security(admin):
    with admin.connect() as conn:
        off = conn.execute(
            sa.text("SELECT relname FROM pg_class WHERE relname = ANY(:t) AND NOT relrowsecurity"),
            {"t": DERIVED},
        ).scalars()
        assert list(off) == []


def test_a_grid_worker_sees_only_its_communitys_workers_and_rollups(app, admin):
    with admin.begin() as conn:
        refresh_rollups(conn=conn)
        conn.execute(
            sa.text("""
            INSERT INTO workers (code, name_zh, phone, community_id)
            SELECT 'w-' || code, 'worker ' || code, '13900000000', id FROM communities
            ON CONFLICT DO NOTHING
        """)
        )
    with app.connect() as conn, conn.begin():
        enter_scope(conn=conn, scope=Scope("grid_worker", WEST, None, "gw_west"))
        workers = set(conn.execute(sa.text("SELECT code FROM workers")).scalars())
        daily = set(
            conn.execute(
                sa.text(
                    "SELECT DISTINCT m.code FROM case_daily d JOIN communities m "
                    "ON m.id = d.community_id"
                )
            ).scalars()
        )
        rows = conn.execute(sa.text("SELECT count(*) FROM case_daily")).scalar()
    assert workers == {f"w-{WEST}"}
    assert daily == {WEST} and rows >= 1
    with admin.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(DISTINCT community_id) FROM case_daily")).scalar()
            == 2
        )


# -- finding 10: personal data access is recorded even when the reader rolls back ---------


def test_reading_reporters_and_rolling_back_leaves_the_record(app, admin):
    case = _meta(admin, "case_west")
    with admin.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM personal_data_access")).scalar()
    with app.connect() as conn:
        tx = conn.begin()
        enter_scope(conn=conn, scope=Scope("operator", None, None, "op"))
        (row,) = reporter_contacts(conn=conn, case_ids=[case], actor="op", role="operator")
        assert row["phone"] == "13812345678"
        tx.rollback()
    with admin.connect() as conn:
        log = conn.execute(
            sa.text("SELECT actor, case_ids FROM personal_data_access ORDER BY id DESC LIMIT 1")
        ).one()
        after = conn.execute(sa.text("SELECT count(*) FROM personal_data_access")).scalar()
    assert after == before + 1
    assert log.actor == "op" and log.case_ids == [case]


def test_an_uncommitted_access_record_does_not_unlock_reporters(app, admin):
    case = _meta(admin, "case_west")
    with app.connect() as conn, conn.begin():
        enter_scope(conn=conn, scope=Scope("operator", None, None, "op"))
        access = conn.execute(
            sa.text("SELECT personal_data_access_open(ARRAY[:c]::bigint[], 'op', 'operator')"),
            {"c": case},
        ).scalar_one()
        with pytest.raises(sa.exc.DBAPIError, match="must be committed first"):
            conn.execute(sa.text("SELECT * FROM reporter_contacts(:a)"), {"a": access})


def test_audit_tables_are_append_only(admin):
    for table, values in [
        ("export_audit", "('x', 'operator', 'cases', '{}', 'csv', '/tmp/x', 0, false)"),
    ]:
        with admin.connect() as conn, conn.begin() as tx:
            conn.execute(
                sa.text(
                    f"INSERT INTO {table} (actor, role, layer, filters, format, path, n_rows, "
                    f"include_personal_data) VALUES {values}"
                )
            )
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                conn.execute(sa.text(f"UPDATE {table} SET actor = 'someone else'"))
            tx.rollback()
        with admin.connect() as conn, conn.begin() as tx:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                conn.execute(sa.text("DELETE FROM personal_data_access"))
            tx.rollback()


# -- finding 9: demo logins only on a demo database, never re-enabling --------------------------


def test_demo_logins_are_refused_on_a_database_without_the_demo(admin):
    from layers.auth import UserError

    with admin.connect() as conn, conn.begin() as tx:
        with pytest.raises(UserError, match="no demo district"):
            demo_users(conn=conn)
        tx.rollback()


def test_a_demo_reload_does_not_re_enable_a_disabled_demo_login(admin):
    with admin.connect() as conn, conn.begin() as tx:
        conn.execute(sa.text("INSERT INTO gridgov_meta (key, value) VALUES ('demo', '{}')"))
        made = {u.username for u in demo_users(conn=conn)}
        assert "operator" in made
        assert disable_user(conn=conn, username="operator")
        again = {u.username for u in demo_users(conn=conn)}
        assert "operator" not in again
        disabled = conn.execute(
            sa.text("SELECT disabled_at IS NOT NULL FROM app_users WHERE username = 'operator'")
        ).scalar_one()
        assert disabled
        tx.rollback()
