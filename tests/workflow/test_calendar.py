"""The working calendar: hours, holidays, make-up days, remaining time, escalation."""

from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from city import time_zone
from layers.workflow.calendar import (
    CalendarError,
    WorkingCalendar,
    default_calendar,
    escalation_level,
)

TZ = time_zone()
CAL = default_calendar()


def at(y, m, d, hh=9, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def test_working_hours_skip_lunch_night_and_weekend():
    # Friday 17:00 + 4 working hours -> Monday 12:00 (1 h Friday, 3 h Monday morning)
    assert CAL.add_working_hours(at(2026, 11, 20, 17), 4) == at(2026, 11, 23, 12)
    # Monday 11:00 + 2 h -> 14:00 (lunch 12-13 does not count)
    assert CAL.add_working_hours(at(2026, 11, 23, 11), 2) == at(2026, 11, 23, 14)


def test_working_days_and_holidays():
    assert CAL.day_hours == 8
    # Tuesday 10:00 + 3 working days -> Friday 10:00
    assert CAL.deadline(at(2026, 11, 17, 10), 3, "working_days") == at(2026, 11, 20, 10)
    # National Day week 2026: 30 Sep (Wed) + 1 working day -> 8 Oct (1-7 off)
    assert CAL.deadline(at(2026, 9, 30, 10), 1, "working_days") == at(2026, 10, 8, 10)


def test_adjusted_working_weekends_count():
    assert CAL.is_working_day(date(2026, 10, 10))  # a Saturday make-up day
    assert not CAL.is_working_day(date(2026, 10, 5))  # a Monday in the holiday
    # Friday 9 Oct 17:00 + 2 h -> Saturday 10 Oct 10:00
    assert CAL.add_working_hours(at(2026, 10, 9, 17), 2) == at(2026, 10, 10, 10)


def test_remaining_time_and_escalation():
    deadline = at(2026, 11, 23, 12)
    assert CAL.remaining_hours(deadline, at(2026, 11, 23, 10)) == 2
    assert CAL.remaining_hours(deadline, at(2026, 11, 23, 15)) == -2
    assert escalation_level(10, 16) == 0
    assert escalation_level(2, 16) == 1
    assert escalation_level(-2, 16) == 2
    assert escalation_level(-20, 16) == 3


def test_configurable_hours_and_bad_input():
    early = WorkingCalendar(hours=((time(8), time(12)),))
    assert early.day_hours == 4
    # a whole working day from its start ends when that day's work ends
    assert early.deadline(at(2026, 11, 23, 8), 1, "working_days") == at(2026, 11, 23, 12)
    assert early.deadline(at(2026, 11, 23, 9), 1, "working_days") == at(2026, 11, 24, 9)
    with pytest.raises(CalendarError):
        WorkingCalendar(hours=((time(13), time(12)),))
    with pytest.raises(CalendarError):
        CAL.add_working_hours(datetime(2026, 1, 5, 9), 1)  # naive
    with pytest.raises(CalendarError):
        CAL.limit_hours(3, "fortnights")


@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 6, 30)).map(
        lambda d: d.replace(tzinfo=TZ)
    ),
    hours=st.floats(min_value=0, max_value=200, allow_nan=False),
)
def test_adding_then_measuring_gives_the_hours_back(start, hours):
    end = CAL.add_working_hours(start, hours)
    assert end >= start
    assert CAL.working_hours_between(start, end) == pytest.approx(hours, abs=1e-6)
    assert CAL.working_hours_between(end, start) == pytest.approx(-hours, abs=1e-6)


def test_every_listed_year_has_its_spring_festival():
    for year in (2025, 2026, 2027):
        days = [date(year, 1, 20) + timedelta(days=i) for i in range(40)]
        assert sum(not CAL.is_working_day(d) and d.weekday() < 5 for d in days) >= 3


def test_many_deadlines_at_once_match_the_walk_one_by_one():
    """The vectorised deadlines (the import's routing) equal the walk, edges included:
    a start on a period's end, zero hours, a holiday week, a make-up weekend."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    n = 3_000
    starts = pd.Series(
        pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 730 * 86400, n), "s")
    )
    starts.iloc[:20] = pd.Timestamp(at(2025, 3, 3, 12))  # the end of the morning period
    starts.iloc[20:40] = pd.Timestamp(at(2025, 9, 28, 8))  # a make-up Sunday, before work
    starts.iloc[40:60] = pd.Timestamp(at(2025, 10, 2, 10))  # National Day week
    hours = rng.choice([0.0, 0.5, 3.0, 8.0, 16.0, 40.0, 120.0], n)
    hours[:10] = 0.0
    many = CAL.add_working_hours_many(starts, hours)
    one_by_one = [
        CAL.add_working_hours(s.to_pydatetime(), h) for s, h in zip(starts, hours, strict=True)
    ]
    assert [m.to_pydatetime() for m in many] == one_by_one
    with pytest.raises(CalendarError):
        CAL.add_working_hours_many(starts.dt.tz_localize(None), hours)
