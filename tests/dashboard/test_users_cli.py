"""`gridgov users`: add, list, disable; bad input named, nothing written."""

import pytest
from typer.testing import CliRunner

from cli import app
from layers.auth import authenticate

runner = CliRunner()


@pytest.fixture
def env(scratch_engine, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", scratch_engine.url.render_as_string(hide_password=False))
    return scratch_engine


def test_add_list_disable(env, small_district):
    community = small_district.communities.code.iloc[1]
    added = runner.invoke(
        app,
        ["users", "add", "sup_b", "--role", "supervisor", "--area", community],
        input="a long password\na long password\n",
    )
    assert added.exit_code == 0, added.output
    with env.connect() as conn:
        user = authenticate(conn=conn, username="sup_b", password="a long password")
    assert user is not None and user.scope.community == community
    listed = runner.invoke(app, ["users", "list"])
    assert "sup_b" in listed.output and "scrypt" not in listed.output
    assert runner.invoke(app, ["users", "disable", "sup_b"]).exit_code == 0
    with env.connect() as conn:
        assert authenticate(conn=conn, username="sup_b", password="a long password") is None
    assert runner.invoke(app, ["users", "disable", "sup_b"]).exit_code == 1


def test_a_supervisor_without_area_is_refused(env):
    result = runner.invoke(
        app,
        ["users", "add", "sup_c", "--role", "supervisor"],
        input="a long password\na long password\n",
    )
    assert result.exit_code == 1
    assert "area" in result.output
    assert "sup_c" not in runner.invoke(app, ["users", "list"]).output
