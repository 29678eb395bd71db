"""Which database is used, and what the user hears when it cannot be reached."""

import pytest
import sqlalchemy as sa

from layers.db import DatabaseError, check_connection, database_url, normalise_url


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
