"""Issue 14 item 3: `gridgov city init` on an empty database, local classes, what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli import app
from tests.conftest import recreate_database

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
SF = ["--name", "旧金山", "--name-en", "San Francisco", "--timezone", "America/Los_Angeles"]


@pytest.fixture(scope="module")
def empty_engine():
    """A database with nothing in it: not even the schema."""
    eng = recreate_database("gridgov_test_city")
    yield eng
    eng.dispose()


def gridgov(engine, *args):
    url = engine.url.render_as_string(hide_password=False)
    return runner.invoke(app, [*map(str, args)], env={"DATABASE_URL": url, "COLUMNS": "200"})


def test_loading_cases_into_a_fresh_database_says_what_is_missing(empty_engine, tmp_path):
    from layers import migrate

    migrate.upgrade(empty_engine)
    result = gridgov(
        empty_engine,
        "load", "cases", ROOT / "tests/data/sf311_bigquery_sample.csv",
        "-m", ROOT / "data/mappings/sf311_bigquery.yaml",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "catalogue is empty" in result.output and "gridgov city init" in result.output


def test_city_init_stores_the_profile_loads_the_catalogue_and_lists_what_is_next(empty_engine):
    result = gridgov(empty_engine, "city", "init", *SF, "--code", "060750")
    assert result.exit_code == 0, result.output
    assert "93 categories" in result.output
    assert "✗ 街道 streets: 0  ->  gridgov load boundaries" in result.output
    assert "下一步 Next: gridgov load boundaries" in result.output
    assert (
        "· 道路 roads (major roads are grid barriers) (可选 optional): 0  ->  gridgov load roads"
        in (result.output)
    )
    again = gridgov(empty_engine, "city", "init", *SF, "--code", "060750")
    assert again.exit_code == 0, again.output
    with empty_engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT name, name_en, timezone, admin_code FROM city")).all()
        n = conn.execute(sa.text("SELECT count(*) FROM categories")).scalar_one()
    assert rows == [("旧金山", "San Francisco", "America/Los_Angeles", "060750")]
    assert n == 93


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--timezone", "Pacific Time"], "timezone: 'Pacific Time' is not an IANA time zone"),
        (["--code", "6075"], "admin_code: '6075' is not 6 digits"),
        (["--name", " "], "name: the city's name is empty"),
    ],
)
def test_city_init_names_the_bad_field(empty_engine, args, needle):
    base = dict(zip(SF[::2], SF[1::2], strict=True)) | {"--code": "060750"}
    base |= dict(zip(args[::2], args[1::2], strict=True))
    result = gridgov(empty_engine, "city", "init", *[x for kv in base.items() for x in kv])
    assert result.exit_code == 1
    assert needle in result.output


def test_points_before_boundaries_are_refused_with_the_next_command(empty_engine):
    result = gridgov(
        empty_engine,
        "load", "cases", ROOT / "tests/data/sf311_bigquery_sample.csv",
        "-m", ROOT / "data/mappings/sf311_bigquery.yaml",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "no streets are loaded yet" in result.output
    assert "gridgov load boundaries" in result.output


def test_local_categories_go_under_the_national_majors(empty_engine, tmp_path):
    result = gridgov(empty_engine, "city", "categories", ROOT / "data/local/san_francisco")
    assert result.exit_code == 0, result.output
    again = gridgov(empty_engine, "city", "categories", ROOT / "data/local/san_francisco")
    assert again.exit_code == 0, again.output
    with empty_engine.connect() as conn:
        row = conn.execute(
            sa.text("""SELECT p.service_code, c.name_zh, c.time_limit, d.code, r.role
                       FROM categories c JOIN categories p ON p.id = c.parent_id
                       JOIN departments d ON d.id = c.default_department_id
                       JOIN responsibility_rules r ON r.category_id = c.id
                       WHERE c.service_code = 'E0695'""")
        ).all()
        n = conn.execute(sa.text("SELECT count(*) FROM categories")).scalar_one()
    assert row == [("E06", "公交意见", 10, "SFMTA", "lead")]
    assert n == 93 + 9
    bad = tmp_path / "bad"
    bad.mkdir()
    header = (ROOT / "data/local/san_francisco/categories.csv").read_text().splitlines()[0]
    for line, needle in [
        ("E0101,event,2,E01,,,x,x,1,working_days,,,true", "is a national class"),
        ("E0790,event,2,E07,,,x,x,1,working_days,,,true", "parent 'E07' is not in"),
        ("E0690,event,2,E06,,,x,x,,,,,true", "needs time_limit"),
        ("E0690,event,2,E06,,,x,x,1,working_days,,NOPE,true", "unknown departments"),
    ]:
        (bad / "categories.csv").write_text(f"{header}\n{line}\n")
        result = gridgov(empty_engine, "city", "categories", bad)
        assert result.exit_code == 1 and needle in result.output, (line, result.output)
