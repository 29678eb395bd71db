"""`gridgov notify …`: receivers add | list, dead, run --once — as a person types them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from cli import app
from layers.db import engine_for
from tests.services.notify_kit import HttpReceiver, free_port, report
from tests.workflow.factories import served_database

runner = CliRunner()


@pytest.fixture
def db(monkeypatch):  # type: ignore[no-untyped-def]
    eng = served_database("gridgov_test_notify_cli")
    url = eng.url.render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)
    for name in ("GRIDGOV_SMTP_HOST", "GRIDGOV_SMS_URL", "GRIDGOV_WECHAT_URL"):
        monkeypatch.delenv(name, raising=False)
    yield eng
    engine_for(url).dispose()  # the CLI's own pooled engine
    eng.dispose()


def _gridgov(db, *args: str) -> SimpleNamespace:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["notify", *args])
    return SimpleNamespace(returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr)


def test_receivers_run_once_and_dead_letters_from_the_command_line(db) -> None:  # type: ignore[no-untyped-def]
    first = _gridgov(db, "run", "--once")
    assert first.returncode == 0, first.stderr
    assert "not configured" in first.stdout and "email" in first.stdout
    receiver = HttpReceiver(port=free_port())
    receiver.start()
    try:
        added = _gridgov(db, "receivers", "add", "parks", receiver.url, "--max-tries", "1")
        assert added.returncode == 0, added.stderr
        secret = added.stdout.split("secret (shown once; verify X-GridGov-Signature with it): ")[1]
        assert len(secret.split()[0]) >= 32
        again = _gridgov(db, "receivers", "add", "parks", receiver.url)
        assert again.returncode == 1 and "name: a receiver named 'parks'" in again.stderr
        bad = _gridgov(db, "receivers", "add", "x", "ftp://nowhere", "--secret", "s" * 20)
        assert bad.returncode == 1
        case = report(db)
        ran = _gridgov(db, "run", "--once")
        assert ran.returncode == 0, ran.stderr
        assert "captured 1 events" in ran.stdout and "sent 1" in ran.stdout
        assert len(receiver.requests) == 1
        receiver.status = 503
        report(db)
        assert "dead 1" in _gridgov(db, "run", "--once").stdout
        listed = _gridgov(db, "receivers", "list")
        assert "parks" in listed.stdout and secret.split()[0] not in listed.stdout
        dead = _gridgov(db, "dead", "--retry")
        assert "HTTP 503" in dead.stdout and "queued again: 1" in dead.stdout
        assert case["case_no"] not in dead.stdout  # only the failed one is listed
    finally:
        receiver.stop()
