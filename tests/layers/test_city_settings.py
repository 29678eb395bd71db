"""The database takes the city's time zone from the profile (city_settings), not from SQL text."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from city import time_zone
from layers.migrate import sync_city_settings
from tests.workflow.factories import make_area, make_case

# 20:00 UTC on 20 November is already 21 November in Suzhou
LATE_EVENING_UTC = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)


def test_the_migrated_database_holds_the_profile_zone(conn):
    assert conn.execute(sa.text("SELECT gridgov_time_zone()")).scalar_one() == time_zone().key


def test_case_numbers_use_the_local_day_of_the_profile_zone(conn):
    make_area(conn)
    case = make_case(conn, at=LATE_EVENING_UTC)
    local_day = LATE_EVENING_UTC.astimezone(time_zone()).strftime("%Y%m%d")
    assert local_day == "20261121"
    assert case["case_no"].startswith(f"R{local_day}")


def test_another_zone_in_the_settings_changes_the_day_of_new_case_numbers(conn):
    make_area(conn)
    conn.execute(sa.text("UPDATE city_settings SET value = 'UTC' WHERE key = 'time_zone'"))
    case = make_case(conn, at=LATE_EVENING_UTC)
    assert case["case_no"].startswith("R20261120")
    # a migrate run writes the profile's zone back
    sync_city_settings(conn)
    assert conn.execute(sa.text("SELECT gridgov_time_zone()")).scalar_one() == time_zone().key
    again = make_case(conn, at=LATE_EVENING_UTC)
    assert again["case_no"].startswith("R20261121")


def test_no_function_names_a_zone_of_its_own(conn):
    bodies = conn.execute(
        sa.text("""SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                   WHERE n.nspname = 'public' AND p.prosrc ~ 'AT TIME ZONE ''[A-Za-z]'""")
    ).scalars()
    assert list(bodies) == []
