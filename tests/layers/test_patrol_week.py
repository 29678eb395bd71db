"""The week of patrol fixes that coverage reads: cut at the city's midnight (PostGIS)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa

from city import time_zone
from layers.patrols import week_fixes
from tests.workflow.factories import STREET, make_area


def _fix(conn, worker: int, at: str) -> None:  # type: ignore[no-untyped-def]
    conn.execute(
        sa.text(f"""INSERT INTO patrol_points (worker_id, street_code, at, geom)
               VALUES (:w, '{STREET}', :at, ST_SetSRID(ST_MakePoint(120.61, 31.305), 4326))"""),
        {"w": worker, "at": datetime.fromisoformat(at)},
    )


def test_the_week_is_cut_at_the_city_midnight_whatever_the_session_zone(conn):
    make_area(conn)
    worker = conn.execute(
        sa.text("INSERT INTO workers (code, name_zh) VALUES ('w-week', '测试员') RETURNING id")
    ).scalar_one()
    zone = conn.execute(sa.text("SELECT gridgov_time_zone()")).scalar_one()
    city = time_zone()
    assert zone == city.key  # the database and the profile name the same zone
    assert datetime(2026, 11, 16, tzinfo=city).utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]
    for at in [
        "2026-11-15T23:30:00+08:00",  # the Sunday before: out (15:30 UTC on the 15th)
        "2026-11-16T00:30:00+08:00",  # Monday 00:30 in the city: in (16:30 UTC on the 15th)
        "2026-11-22T23:30:00+08:00",  # Sunday 23:30 in the city: in
        "2026-11-23T00:30:00+08:00",  # the next Monday: out (16:30 UTC on the 22nd)
    ]:
        _fix(conn, worker, at)
    for session_zone in ("UTC", "America/New_York", city.key):
        conn.execute(sa.text(f"SET LOCAL TimeZone = '{session_zone}'"))
        got = week_fixes(
            conn=conn,
            week_start=date(2026, 11, 16),
            week_end=date(2026, 11, 22),
            worker_ids=[worker],
        )
        local = sorted(t.tz_convert(city.key).strftime("%m-%d %H:%M") for t in got["at"])
        assert local == ["11-16 00:30", "11-22 23:30"], session_zone
