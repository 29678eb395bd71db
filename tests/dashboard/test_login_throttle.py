"""Issue 13 findings 7 and 8: login throttling, lockout with back-off, an audit of
failures, NUL bytes in a name, rehashing old scrypt hashes, sessions ended by
disabling a user and by idle time."""

import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from layers.auth import add_user, disable_user, is_active, verify_password
from layers.login import LoginLocked, LoginPolicy, failed_logins, log_in, session_expired
from tests.dashboard.conftest import _fresh_caches
from tests.dashboard.test_pages import APP
from tests.dashboard.test_pages import log_in as form_log_in

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
POLICY = LoginPolicy(max_failures=5, max_address_failures=20, window_s=900, lockout_s=60)
GOOD = "a good long password"


@pytest.fixture
def op(conn):
    add_user(conn=conn, username="op_t", password=GOOD, role="operator")
    return conn


def _try(conn, password, at, name="op_t", address="10.0.0.9"):
    return log_in(
        conn=conn, username=name, password=password, address=address, policy=POLICY, now=at
    )


def test_25_wrong_passwords_then_the_right_one_is_locked_out(op):
    # the finding: 25 wrong passwords in 15 s, then success
    refused = 0
    for i in range(25):
        try:
            assert _try(op, f"guess {i}", T0 + timedelta(milliseconds=600 * i)) is None
        except LoginLocked:
            refused += 1
    assert refused == 20  # five failures, then the name is locked
    with pytest.raises(LoginLocked) as locked:
        _try(op, GOOD, T0 + timedelta(seconds=15))
    assert 0 < locked.value.retry_after_s <= 60
    # after the lockout the right password works again
    assert _try(op, GOOD, T0 + timedelta(seconds=70)).username == "op_t"
    audit = failed_logins(conn=op, since=T0)
    assert sum(a["reason"] == "bad_password" for a in audit) == 5
    assert sum(a["reason"] == "locked" for a in audit) == 21
    assert {a["address"] for a in audit} == {"10.0.0.9"}


def test_the_lockout_doubles_with_each_further_failure(op):
    for i in range(5):
        _try(op, "wrong", T0 + timedelta(seconds=i))
    with pytest.raises(LoginLocked):
        _try(op, GOOD, T0 + timedelta(seconds=30))
    assert _try(op, "wrong", T0 + timedelta(seconds=65)) is None  # lock over: a 6th failure
    with pytest.raises(LoginLocked) as locked:
        _try(op, GOOD, T0 + timedelta(seconds=66))
    assert 115 <= locked.value.retry_after_s <= 120  # 60 s doubled, counted from the 6th


def test_a_password_spray_from_one_address_is_locked_out(op):
    for i in range(20):
        assert _try(op, "wrong", T0 + timedelta(seconds=i), name=f"user{i:02d}") is None
    with pytest.raises(LoginLocked):
        _try(op, GOOD, T0 + timedelta(seconds=21))
    # the same name from another address is not locked by the spray
    assert _try(op, GOOD, T0 + timedelta(seconds=22), address="10.0.0.10") is not None


def test_a_nul_byte_in_the_name_is_a_failed_login_not_an_error(op):
    assert _try(op, GOOD, T0, name="op_t\x00' OR 1=1 --") is None
    (row,) = failed_logins(conn=op, since=T0)
    assert row["reason"] == "malformed_name" and "\x00" not in row["username"]
    assert row["username"].startswith("op_t\ufffd")


def test_an_old_scrypt_hash_is_rehashed_at_the_next_good_login(op):
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(GOOD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    old = f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    op.execute(
        sa.text("UPDATE app_users SET password_hash = :h WHERE username = 'op_t'"), {"h": old}
    )
    assert _try(op, "wrong", T0) is None
    assert _stored(op) == old  # a failure changes nothing
    assert _try(op, GOOD, T0 + timedelta(seconds=1)) is not None
    new = _stored(op)
    assert new.startswith("scrypt$65536$8$2$") and verify_password(GOOD, new)


def _stored(conn):
    return conn.execute(
        sa.text("SELECT password_hash FROM app_users WHERE username = 'op_t'")
    ).scalar_one()


def test_a_disabled_user_is_no_longer_active(op):
    assert is_active(conn=op, username="op_t")
    disable_user(conn=op, username="op_t")
    assert not is_active(conn=op, username="op_t")
    assert not is_active(conn=op, username="op_t\x00")


def test_idle_timeout_and_policy_from_env(monkeypatch):
    assert not session_expired(100.0, 100.0 + 1799, POLICY)
    assert session_expired(100.0, 100.0 + 1801, POLICY)
    monkeypatch.setenv("GRIDGOV_SESSION_IDLE_S", "60")
    monkeypatch.setenv("GRIDGOV_LOGIN_MAX_FAILURES", "3")
    assert LoginPolicy.from_env() == LoginPolicy(max_failures=3, idle_timeout_s=60)
    monkeypatch.setenv("GRIDGOV_LOGIN_WINDOW_S", "soon")
    with pytest.raises(ValueError, match="GRIDGOV_LOGIN_WINDOW_S"):
        LoginPolicy.from_env()


# --- the dashboard itself (AppTest on the writable district) ---


@pytest.fixture
def scratch_caches():
    """AppTests share the process's Streamlit caches: another database needs empty ones."""
    _fresh_caches()
    yield
    _fresh_caches()


@pytest.fixture
def session(scratch_engine, scratch_caches, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", scratch_engine.url.render_as_string(hide_password=False))
    with scratch_engine.begin() as conn:
        add_user(conn=conn, username="op_s", password=GOOD, role="operator", replace=True)
    at = AppTest.from_file(str(APP), default_timeout=60)
    form_log_in(at, "op_s", GOOD)
    assert not at.exception and at.session_state["user"].username == "op_s"
    return at


def test_disabling_a_user_ends_its_open_session(session, scratch_engine):
    with scratch_engine.begin() as conn:
        disable_user(conn=conn, username="op_s")
    at = session.run()
    assert "user" not in at.session_state
    assert any("会话已结束" in w.value for w in at.warning)
    assert at.button[0].label == "登录"


def test_an_idle_session_ends(session):
    session.session_state["last_active"] = time.monotonic() - 1801  # idle past 30 min
    at = session.run()
    assert "user" not in at.session_state
    assert any("会话已结束" in w.value for w in at.warning)


def test_a_nul_byte_on_the_login_page_shows_no_traceback(
    scratch_engine, scratch_caches, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", scratch_engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(APP), default_timeout=60)
    form_log_in(at, "operator\x00", GOOD)
    assert not at.exception
    assert [e.value for e in at.error] == ["用户名或密码不正确。"]
