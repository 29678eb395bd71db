"""`gridgov case …` drives the same workflow functions (sub-app tested on its own)."""

import re

from typer.testing import CliRunner

from cli.cases import case_app
from tests.workflow.factories import INSIDE_WEST, OUTSIDE

runner = CliRunner()


def test_report_act_show_audit(served_engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", served_engine.url.render_as_string(hide_password=False))
    lon, lat = INSIDE_WEST
    r = runner.invoke(case_app, ["report", "P0101", str(lon), str(lat), "--actor", "op-01"])
    assert r.exit_code == 0, r.output
    case_id = re.search(r"id (\d+)", r.output).group(1)
    r = runner.invoke(
        case_app,
        ["act", case_id, "accept", "--actor", "op-01", "--role", "operator", "--version", "1"],
    )
    assert r.exit_code == 0 and "accepted (version 2)" in r.output, r.output
    r = runner.invoke(
        case_app,
        ["act", case_id, "accept", "--actor", "op-02", "--role", "operator", "--version", "1"],
    )
    assert r.exit_code == 1 and "(stale_case)" in r.output
    r = runner.invoke(case_app, ["show", case_id])
    assert r.exit_code == 0 and "accept" in r.output, r.output
    assert runner.invoke(case_app, ["audit"]).exit_code == 0


def test_bad_input_exits_with_the_error_code(served_engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", served_engine.url.render_as_string(hide_password=False))
    lon, lat = OUTSIDE
    r = runner.invoke(case_app, ["report", "P0101", str(lon), str(lat), "--actor", "op"])
    assert r.exit_code == 1 and "(outside_served_area)" in r.output
