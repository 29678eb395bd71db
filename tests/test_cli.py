"""The `gridgov` command: help, and one clear sentence when something is wrong."""

import os
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "serve", "db", "catalogue"):
        assert command in result.output
    db_help = runner.invoke(app, ["db", "--help"])
    for command in ("up", "down", "status", "url", "migrate"):
        assert command in db_help.output


def _gridgov(*args, env_extra):
    env = {**os.environ, **env_extra}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("postgresql://nobody:wrong@127.0.0.1:1/nowhere", "Cannot connect to"),
        ("mysql://root@localhost/db", "needs PostgreSQL"),
    ],
)
def test_a_wrong_database_url_is_one_sentence(url, fragment):
    result = _gridgov("db", "status", env_extra={"DATABASE_URL": url})
    assert result.returncode == 1
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_db_commands_with_database_url_do_not_start_a_cluster():
    result = _gridgov("db", "up", env_extra={"DATABASE_URL": "postgresql://u@127.0.0.1:1/x"})
    assert result.returncode == 0
    assert "starts none of its own" in result.stdout


def test_demo_twice_is_one_district(demo_url):
    # the session's demo database already holds a demo district
    result = _gridgov("demo", "--households", "2000", env_extra={"DATABASE_URL": demo_url})
    assert result.returncode == 0, result.stderr
    assert "already loaded" in result.stdout


def test_demo_leaves_planner_statistics_behind():
    # an ANALYZE rolled back with its connection leaves no statistics: the leader's
    # measures then plan for 0.5 % of the cases and take minutes instead of seconds
    import sqlalchemy as sa

    from tests.conftest import recreate_database

    engine = recreate_database("gridgov_test_cli_demo")
    url = engine.url.render_as_string(hide_password=False)
    small = ("--households", "1000", "--communities", "1", "--cases", "300", "--parts", "20")
    result = _gridgov(
        "demo", *small, "--as-of", "2026-11-20 18:00", env_extra={"DATABASE_URL": url}
    )
    assert result.returncode == 0, result.stderr
    with engine.connect() as conn:
        stats = conn.execute(
            sa.text("SELECT count(*) FROM pg_stats WHERE tablename = 'cases'")
        ).scalar_one()
    engine.dispose()
    assert stats > 0


def test_analyse_recomputes_the_derived_layers(demo_url, demo_engine):
    import sqlalchemy as sa

    for what in ("rollups", "coverage", "hotspots", "emerging"):
        result = _gridgov("analyse", what, env_extra={"DATABASE_URL": demo_url})
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    assert "emerging_cells:" in result.stdout
    with demo_engine.connect() as conn:
        categories = {
            r[0] for r in conn.execute(sa.text("SELECT DISTINCT category FROM emerging_cells"))
        }
        patterns = (
            "new",
            "consecutive",
            "intensifying",
            "persistent",
            "diminishing",
            "sporadic",
            "oscillating",
            "historical",
        )
        allowed = {f"{p} {kind} spot" for p in patterns for kind in ("hot", "cold")}
        assert categories and categories <= allowed | {"no pattern"}
        rows, srid = conn.execute(
            sa.text("SELECT count(*), max(ST_SRID(geom)) FROM hotspot_cells")
        ).one()
    assert rows > 0 and srid == 4326


def test_analyse_rollups_since_a_day_rewrites_the_measures_of_the_days_touched(
    demo_url, demo_engine, small_district
):
    import sqlalchemy as sa

    env = {"DATABASE_URL": demo_url}
    with demo_engine.connect() as conn:
        before = conn.execute(sa.text("SELECT sum(cases) FROM case_measures_daily")).scalar_one()
    since = (small_district.as_of - pd.Timedelta(days=10)).date().isoformat()
    result = _gridgov("analyse", "rollups", "--since", since, env_extra=env)
    assert result.returncode == 0, result.stderr
    assert f"since {since}" in result.stdout
    with demo_engine.connect() as conn:
        after = conn.execute(sa.text("SELECT sum(cases) FROM case_measures_daily")).scalar_one()
        cases = conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
    assert before == after == cases  # rewritten, nothing lost or counted twice
    bad = _gridgov("analyse", "rollups", "--since", "last week", env_extra=env)
    assert bad.returncode != 0 and "--since" in bad.stderr and "YYYY-MM-DD" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_analyse_rollups_dirty_rebuilds_the_queued_days(demo_url, demo_engine, small_district):
    import sqlalchemy as sa

    from layers.rollup_queue import dirty_days, queue_days

    env = {"DATABASE_URL": demo_url}
    day = (small_district.as_of - pd.Timedelta(days=3)).date()
    with demo_engine.begin() as conn:
        street = conn.execute(sa.text("SELECT min(code) FROM streets")).scalar_one()
        queue_days(conn, {street: [day]})
    result = _gridgov("analyse", "rollups", "--dirty", env_extra=env)
    assert result.returncode == 0, result.stderr
    assert "days queued as changed" in result.stdout
    with demo_engine.connect() as conn:
        assert dirty_days(conn) == []
        rolled = conn.execute(sa.text("SELECT sum(cases) FROM case_measures_daily")).scalar_one()
        cases = conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
    assert rolled == cases
    both = _gridgov("analyse", "rollups", "--dirty", "--since", "2026-01-01", env_extra=env)
    assert both.returncode != 0 and "not both" in both.stderr


def test_analyse_density_writes_bands_qgis_can_open(demo_url, demo_engine):
    import itertools

    import sqlalchemy as sa

    env = {"DATABASE_URL": demo_url}
    result = _gridgov("analyse", "density", "--levels", "4", "--bandwidth", "300", env_extra=env)
    assert result.returncode == 0, result.stderr
    assert "density_bands: 4 bands" in result.stdout
    with demo_engine.connect() as conn:
        rows = conn.execute(
            sa.text("""
            SELECT band, lower_per_km2, upper_per_km2, ST_IsValid(geom), ST_SRID(geom),
                   ST_Area(geom::geography) FROM density_bands ORDER BY band
        """)
        ).all()
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert all(r[3] and r[4] == 4326 and r[5] > 0 for r in rows)
    assert all(a[2] == b[1] for a, b in itertools.pairwise(rows))
    bad = _gridgov("analyse", "density", "--kernel", "box", env_extra=env)
    assert bad.returncode == 2 and "kernel 'box'" in bad.stdout


def test_db_status_warns_when_the_apps_login_is_a_superuser(demo_url, demo_app_url):
    as_superuser = _gridgov("db", "status", env_extra={"DATABASE_URL": demo_url})
    assert as_superuser.returncode == 0, as_superuser.stderr
    assert "log in as a superuser" in as_superuser.stderr
    as_app = _gridgov("db", "status", env_extra={"DATABASE_URL": demo_app_url})
    assert as_app.returncode == 0, as_app.stderr
    assert "superuser" not in as_app.stderr
    assert "app login: gridgov_test_app" in as_app.stdout


def test_users_demo_is_refused_on_a_database_without_the_demo(engine):
    url = engine.url.render_as_string(hide_password=False)
    result = _gridgov("users", "demo", env_extra={"DATABASE_URL": url})
    assert result.returncode == 1
    assert "no demo district" in result.stderr + result.stdout


def test_db_partitions_ensure_list_and_a_bad_month(tmp_path):
    from layers import migrate
    from tests.conftest import recreate_database

    engine = recreate_database("gridgov_test_partitions_cli")
    try:
        migrate.upgrade(engine)
        url = engine.url.render_as_string(hide_password=False)
        env = {"DATABASE_URL": url}
        first = _gridgov("db", "partitions", "ensure", "--months-ahead", "5", env_extra=env)
        assert first.returncode == 0, first.stderr
        # migrate made this month and three ahead: months 4 and 5 of the three tables
        assert "6 partitions created" in first.stdout
        again = _gridgov("db", "partitions", "ensure", "--months-ahead", "5", env_extra=env)
        assert "nothing to do" in again.stdout
        listed = _gridgov("db", "partitions", "list", env_extra=env)
        assert listed.returncode == 0, listed.stderr
        assert "默认 / default" in listed.stdout and "patrol_points" in listed.stdout
        bad = _gridgov(
            "db", "partitions", "detach", "2026-13", "--archive", str(tmp_path), env_extra=env
        )
        assert bad.returncode != 0
        assert "YYYY-MM" in bad.stderr and "Traceback" not in bad.stderr + bad.stdout
        help_text = _gridgov("db", "partitions", "--help", env_extra=env).stdout
        assert "按月分区" in help_text and "detach" in help_text
    finally:
        engine.dispose()
