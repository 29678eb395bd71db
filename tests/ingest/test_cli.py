"""`gridgov load …` and `gridgov export …` (mounted here as they will be in cli/__init__.py)."""

import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from cli.ingest import export_app, load_app
from tests.ingest.conftest import DATA, MAPPINGS

app = typer.Typer()
app.add_typer(load_app, name="load")
app.add_typer(export_app, name="export")
runner = CliRunner()


def _gridgov(engine, *args):
    url = engine.url.render_as_string(hide_password=False)
    return runner.invoke(app, list(map(str, args)), env={"DATABASE_URL": url, "COLUMNS": "200"})


def test_load_prints_an_account_that_adds_up_and_export_writes(clean_engine, tmp_path):
    result = _gridgov(
        clean_engine,
        "load",
        "cases",
        DATA / "sf311_bigquery_sample.csv",
        "--mapping",
        MAPPINGS / "sf311_bigquery.yaml",
    )
    assert result.exit_code == 0, result.output
    assert "zero_coordinates" in result.output and "adds up" in result.output
    again = _gridgov(
        clean_engine,
        "load",
        "cases",
        DATA / "sf311_bigquery_sample.csv",
        "-m",
        MAPPINGS / "sf311_bigquery.yaml",
    )
    assert "loaded 0 " in again.output.replace(",", "")
    runs = _gridgov(clean_engine, "load", "runs")
    assert runs.exit_code == 0 and "finished" in runs.output
    quarantine = _gridgov(clean_engine, "load", "quarantine", "1", "--limit", "500")
    assert "zero_coordinates" in quarantine.output
    out = tmp_path / "cases.gpkg"
    exported = _gridgov(clean_engine, "export", "cases", out, "--category", "E02")
    assert exported.exit_code == 0, exported.output
    assert out.exists() and "written to" in exported.output


def test_cli_errors_are_one_line_not_a_traceback(clean_engine, tmp_path):
    wrong = _gridgov(
        clean_engine,
        "load",
        "parts",
        DATA / "sf311_bigquery_sample.csv",
        "-m",
        MAPPINGS / "sf311_bigquery.yaml",
    )
    assert wrong.exit_code == 1 and "is a mapping for cases, not parts" in wrong.output
    refused = _gridgov(
        clean_engine,
        "export",
        "cases",
        tmp_path / "x.csv",
        "--include-personal-data",
        "--role",
        "viewer",
    )
    assert refused.exit_code == 1 and "may not export personal data" in refused.output


def test_load_cases_bulk_flag_takes_the_bulk_path(clean_engine):
    result = _gridgov(
        clean_engine,
        "load",
        "cases",
        DATA / "sf311_bigquery_sample.csv",
        "-m",
        MAPPINGS / "sf311_bigquery.yaml",
        "--bulk",
    )
    assert result.exit_code == 0, result.output
    assert "adds up" in result.output
    with clean_engine.connect() as conn:
        invalid = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_index "
                "WHERE indrelid = 'cases'::regclass AND NOT indisvalid"
            )
        ).scalar_one()
        loaded = conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
    assert invalid == 0 and loaded > 0
