"""`gridgov grids …`: delineate, redraw, dry run, report, history, export, bad input."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli import app
from tests.conftest import recreate_database

runner = CliRunner()


@pytest.fixture(scope="module")
def grids_engine(small_district):
    """A writable database holding the small demo district (this module's own)."""
    from layers import migrate
    from layers.demo import load_demo

    eng = recreate_database("gridgov_test_grids_cli")
    migrate.upgrade(eng)
    with eng.begin() as conn:
        load_demo(conn, small_district)
    yield eng
    eng.dispose()


def _url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def gridgov(engine, *args):
    return runner.invoke(
        app, ["grids", *map(str, args)], env={"DATABASE_URL": _url(engine), "COLUMNS": "200"}
    )


def _grids(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.text("SELECT * FROM grids ORDER BY id"), conn).drop(columns="geom")


def test_every_command_has_help():
    for command in ("delineate", "report", "history", "export"):
        result = runner.invoke(app, ["grids", command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_dry_run_prints_the_report_and_writes_nothing(demo_engine):
    before = _grids(demo_engine)
    result = gridgov(demo_engine, "delineate", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "户数 Households per grid" in result.output
    assert "dry run" in result.output
    redraw = gridgov(demo_engine, "delineate", "--dry-run", "--redraw")
    assert redraw.exit_code == 0, redraw.output
    assert "grids kept 保留" in redraw.output
    pd.testing.assert_frame_equal(_grids(demo_engine), before)


def test_report_of_the_grids_in_force(demo_engine):
    result = gridgov(demo_engine, "report")
    assert result.exit_code == 0, result.output
    assert "覆盖 Buildings assigned" in result.output and "not covered: 0" in result.output


def test_delineate_writes_a_new_version_and_redraw_then_keeps_it(grids_engine, small_district):
    community = small_district.communities.code.iloc[1]
    before = _grids(grids_engine)
    result = gridgov(grids_engine, "delineate", "-c", community, "--valid-from", "2026-11-21")
    assert result.exit_code == 0, result.output
    assert "written as the version of 2026-11-21" in result.output
    after = _grids(grids_engine)
    assert len(after) >= len(before)
    assert set(before.id) <= set(after.id)  # history kept
    current = after[after.valid_to.isna()]
    assert current.code.is_unique
    # grids of other communities untouched
    untouched = before[~before.code.str.startswith(community)]
    pd.testing.assert_frame_equal(
        after[after.id.isin(untouched.id)].reset_index(drop=True), untouched.reset_index(drop=True)
    )
    # the same delineation again changes nothing
    same = gridgov(grids_engine, "delineate", "-c", community, "--valid-from", "2026-11-22")
    assert same.exit_code == 0, same.output
    assert "changed 调整 0, retired 撤销 0, new 新增 0" in same.output
    assert len(_grids(grids_engine)) == len(after)
    # a redraw settles what the fresh delineation left out of range; then nothing moves
    settle = gridgov(grids_engine, "delineate", "-c", community, "--redraw", "--valid-from",
                     "2026-11-22")  # fmt: skip
    assert settle.exit_code == 0, settle.output
    again = gridgov(grids_engine, "delineate", "-c", community, "--redraw", "--dry-run")
    assert again.exit_code == 0, again.output
    assert "changed 调整 0, retired 撤销 0, new 新增 0" in again.output
    code = current[current.code.str.startswith(community)].code.iloc[0].strip()
    history = gridgov(grids_engine, "history", code)
    assert history.exit_code == 0 and code in history.output


def test_from_file_and_export(grids_engine, small_district, tmp_path):
    b = small_district.buildings
    community = small_district.communities.code.iloc[0]
    mine = b[b.community_code == community]
    path = tmp_path / "buildings.csv"
    mine[["lon", "lat", "households"]].assign(households=mine.households * 2).to_csv(path)
    result = gridgov(grids_engine, "delineate", "-c", community, "--from-file", path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"户数合计 Households: {int(mine.households.sum()) * 2} in grids" in result.output
    out = tmp_path / "grids.geojson"
    exported = gridgov(grids_engine, "export", out, "--community", community)
    assert exported.exit_code == 0, exported.output
    assert out.exists() and out.stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-c", "999999999999"], "unknown community code(s) 999999999999"),
        (["--low", "600", "--high", "500"], "0 < low ≤ target ≤ high"),
        (["--from-file", "nowhere.csv"], "does not exist"),
        (["--from-file", "{no_households}"], "no 'households' column"),
        (["--from-file", "{no_coordinates}"], "no coordinate columns"),
    ],
)
def test_bad_input_is_one_clear_line(grids_engine, tmp_path, args, message):
    (tmp_path / "h.csv").write_text("lon,lat,flats\n120.6,31.3,4\n")
    (tmp_path / "c.csv").write_text("where,households\nhere,4\n")
    files = {"no_households": tmp_path / "h.csv", "no_coordinates": tmp_path / "c.csv"}
    args = [a.format(**files) for a in args]
    before = _grids(grids_engine)
    result = gridgov(grids_engine, "delineate", *args)
    assert result.exit_code == 1
    assert message in result.output.replace("\n", " ")
    assert "Traceback" not in result.output
    pd.testing.assert_frame_equal(_grids(grids_engine), before)


def test_a_city_sized_list_of_grids_without_a_worker_is_counted_not_printed():
    """Issue 14 item 11: writing 8,629 grids printed every code under "No worker yet"."""
    from cli.grids import SHOWN_CODES, _some

    codes = [f"0607500010{i:05d}" for i in range(8_629)]
    text = _some(codes)
    assert codes[0] in text and codes[SHOWN_CODES - 1] in text and codes[-1] not in text
    assert f"and {8_629 - SHOWN_CODES:,} more" in text
    assert _some(codes[:3]) == ", ".join(codes[:3])
