"""Which database is used, and what the user hears when it cannot be reached."""

import pytest
import sqlalchemy as sa

from layers.db import DatabaseError, check_connection, database_url, engine_for, normalise_url
from tests.conftest import server_url


def test_urls_are_normalised_to_psycopg():
    assert normalise_url("postgresql://u:p@h:5/d") == "postgresql+psycopg://u:p@h:5/d"
    assert normalise_url("postgres://u@h/d").startswith("postgresql+psycopg://")


@pytest.mark.parametrize(
    "raw, message",
    [
        ("mysql://u@h/d", "needs PostgreSQL"),
        ("not a url", "is not a database URL"),
    ],
)
def test_wrong_urls_are_refused(raw, message):
    with pytest.raises(DatabaseError, match=message):
        normalise_url(raw)


def test_database_url_wins_and_nothing_is_started(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone@db.example:5432/city")
    assert database_url() == "postgresql+psycopg://someone@db.example:5432/city"


def test_an_unreachable_server_gets_one_clear_sentence(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1:1/none")
    engine = sa.create_engine(database_url())
    with pytest.raises(
        DatabaseError,
        match=r"Cannot connect to .*127\.0\.0\.1:1/none .*check "
        r"DATABASE_URL",
    ):
        check_connection(engine)


def test_gridgov_sessions_run_without_jit_even_where_the_server_has_it_on():
    """A URL asking for JIT (as a server's own default might) still gets none."""
    url = sa.engine.make_url(server_url()).update_query_dict({"options": "-c jit=on"})
    plain = sa.create_engine(url)
    with plain.connect() as conn:
        assert conn.execute(sa.text("SHOW jit")).scalar_one() == "on"
    plain.dispose()
    with engine_for(url.render_as_string(hide_password=False)).connect() as conn:
        assert conn.execute(sa.text("SHOW jit")).scalar_one() == "off"
