"""The unit of work: one transaction as the user's scope; reads never leave anything."""

import pytest
import sqlalchemy as sa

from layers.workflow.errors import BadValue, UnknownRole
from services.uow import Scope, unit_of_work


def _settings(conn):  # type: ignore[no-untyped-def]
    return conn.execute(sa.text("SELECT current_user, gridgov_area()")).one()


def test_the_scope_is_taken_for_the_transaction_only(demo_engine, small_district):
    area = small_district.communities.code.iloc[0]
    with unit_of_work(demo_engine, Scope("supervisor", area)) as conn:
        assert tuple(_settings(conn)) == ("gridgov_supervisor", area)
    with demo_engine.connect() as conn:  # the pooled connection carries nothing over
        user, setting = _settings(conn)
        assert user != "gridgov_supervisor" and not setting


def test_a_read_is_rolled_back_and_a_write_commits(demo_engine):
    with unit_of_work(demo_engine, None) as conn:
        conn.execute(sa.text("CREATE TABLE uow_probe (x int)"))
    with demo_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('uow_probe')")).scalar() is None
    with unit_of_work(demo_engine, None, write=True) as conn:
        conn.execute(sa.text("CREATE TABLE uow_probe (x int)"))
    with unit_of_work(demo_engine, None, write=True) as conn:
        assert conn.execute(sa.text("SELECT to_regclass('uow_probe')")).scalar() is not None
        conn.execute(sa.text("DROP TABLE uow_probe"))


def test_a_scope_the_database_cannot_take_is_refused(demo_engine):
    with pytest.raises(UnknownRole), unit_of_work(demo_engine, Scope("mayor")):
        pass
    with (
        pytest.raises(BadValue, match="area"),
        unit_of_work(demo_engine, Scope("supervisor", "12")),
    ):
        pass
    with (
        pytest.raises(BadValue, match="no such department"),
        unit_of_work(demo_engine, Scope("handler", None, "NOPE")),
    ):
        pass
