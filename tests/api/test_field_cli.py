"""`gridgov field devices | revoke-device | link-worker` against a real database."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from api import create_app
from api.limits import RateLimits
from cli import app as cli_app
from tests.api.field_fixtures import sign_in
from tests.api.server import serving


def test_devices_are_listed_revoked_and_workers_linked(field_db, field_app_engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", field_db.url.render_as_string(hide_password=False))
    runner = CliRunner()
    with serving(
        create_app(field_app_engine, limits=RateLimits(per_address=None, per_key=None))
    ) as url:
        token, device_id = sign_in(url, "gw2")
        listed = runner.invoke(cli_app, ["field", "devices", "--username", "gw2"])
        assert listed.exit_code == 0, listed.output
        assert device_id[:8] in listed.output and token not in listed.output
        revoked = runner.invoke(cli_app, ["field", "revoke-device", device_id])
        assert revoked.exit_code == 0 and "revoked" in revoked.output
        again = runner.invoke(cli_app, ["field", "revoke-device", device_id])
        assert again.exit_code == 1
        with httpx.Client(base_url=url, timeout=30) as c:
            me = c.get("/field/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401
    bad = runner.invoke(cli_app, ["field", "link-worker", "op1", "W-T1"])
    assert bad.exit_code == 1 and "grid-worker" in bad.output
    unknown = runner.invoke(cli_app, ["field", "link-worker", "gw2", "W-NONE"])
    assert unknown.exit_code == 1 and "worker_code" in unknown.output
    ok = runner.invoke(cli_app, ["field", "link-worker", "gw2", "W-T2"])
    assert ok.exit_code == 0 and "W-T2" in ok.output


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
