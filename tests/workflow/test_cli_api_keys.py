"""Issue 13 (low): `gridgov case revoke-api-key CLIENT` ends a key; revoking twice fails."""

import sqlalchemy as sa
from typer.testing import CliRunner

from cli.cases import case_app
from layers.workflow.access import client_for_key

runner = CliRunner()


def test_create_then_revoke_an_api_key(served_engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", served_engine.url.render_as_string(hide_password=False))
    made = runner.invoke(case_app, ["api-key", "cli-revoke-app"])
    assert made.exit_code == 0, made.output
    key = made.output.strip()
    with served_engine.connect() as conn:
        assert client_for_key(conn=conn, key=key) == "cli-revoke-app"
    r = runner.invoke(case_app, ["revoke-api-key", "cli-revoke-app"])
    assert r.exit_code == 0 and "revoked" in r.output
    with served_engine.connect() as conn:
        revoked = conn.execute(
            sa.text("SELECT revoked_at IS NOT NULL FROM api_keys WHERE client = 'cli-revoke-app'")
        ).scalar_one()
    assert revoked
    again = runner.invoke(case_app, ["revoke-api-key", "cli-revoke-app"])
    assert again.exit_code == 1 and "no active API key" in again.output
