"""Issue 13, finding 10: an export's role and actor are verified, its audit append-only and
committed before personal data reaches a file."""

import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from cli.ingest import export_app
from layers.auth import add_user

app = typer.Typer()
app.add_typer(export_app, name="export")
runner = CliRunner()


def _export(engine, *args, password: str | None = None):
    url = engine.url.render_as_string(hide_password=False)
    return runner.invoke(
        app,
        ["export", "cases", *map(str, args)],
        env={"DATABASE_URL": url, "COLUMNS": "200"},
        input=f"{password}\n" if password is not None else None,
    )


def _audit(engine):
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT actor, role, include_personal_data FROM export_audit ORDER BY id")
        ).all()


def test_a_typed_role_does_not_unlock_personal_data(clean_engine, tmp_path):
    before = _audit(clean_engine)
    typed = _export(
        clean_engine, tmp_path / "a.csv", "--include-personal-data", "--role", "operator"
    )
    assert typed.exit_code == 1 and "give --user" in typed.output
    assert not (tmp_path / "a.csv").exists()
    assert _audit(clean_engine) == before


def test_personal_data_needs_the_logins_password_and_records_that_login(clean_engine, tmp_path):
    with clean_engine.begin() as conn:
        add_user(
            conn=conn, username="op_export", password="s3cret-pass", role="operator", replace=True
        )
    wrong = _export(
        clean_engine,
        tmp_path / "b.csv",
        "--include-personal-data",
        "--user",
        "op_export",
        password="guess",
    )
    assert wrong.exit_code == 1 and "wrong password" in wrong.output
    assert not (tmp_path / "b.csv").exists()
    right = _export(
        clean_engine,
        tmp_path / "c.csv",
        "--include-personal-data",
        "--user",
        "op_export",
        password="s3cret-pass",
    )
    assert right.exit_code == 0, right.output
    assert _audit(clean_engine)[-1] == ("op_export", "operator", True)
    plain = _export(clean_engine, tmp_path / "d.csv")
    assert plain.exit_code == 0, plain.output
    actor, role, personal = _audit(clean_engine)[-1]
    assert actor.startswith("os:") and role == "viewer" and not personal
