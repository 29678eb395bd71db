"""The CLI prints every GridGov error the same way, from one place: ``error (code): why``."""

import pytest
import typer
from typer.testing import CliRunner

from cli import app
from cli.errors import fail
from gis.delineate import DelineationError
from layers.cluster import ClusterError
from layers.workflow.errors import StaleCase

runner = CliRunner()


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (StaleCase("case 7 changed since version 3"), "(stale_case): case 7 changed"),
        (ClusterError("port 54329 is in use"), "(cluster): port 54329 is in use"),
        (DelineationError("target must be > 0"), "(bad_delineation_input): target must"),
    ],
)
def test_fail_prints_the_code_and_the_message(error, line, capsys):
    with pytest.raises(typer.Exit) as ended:
        fail(error)
    assert ended.value.exit_code == 1
    printed = capsys.readouterr().err
    assert line in printed and printed.startswith("error")


@pytest.fixture
def env(scratch_engine, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", scratch_engine.url.render_as_string(hide_password=False))
    return scratch_engine


def test_users_refusals_carry_their_code(env):
    result = runner.invoke(
        app,
        ["users", "add", "sup_d", "--role", "supervisor"],
        input="a long password\na long password\n",
    )
    assert result.exit_code == 1
    assert "error (bad_user): area" in result.output.replace("\n", " ")
