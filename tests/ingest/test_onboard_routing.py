"""Issue 14 item 5: imported open cases are routed and get deadlines; the history says so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from city import time_zone
from layers.ingest import load_cases, load_mapping
from layers.ingest.routing import _minutes_iso
from tests.ingest.conftest import MAPPINGS, write_cases_csv

NOW = pd.Timestamp("2026-11-20 12:00", tz="UTC")


def test_open_imported_cases_get_a_unit_a_deadline_and_a_history_row(clean_engine, tmp_path):
    rows = [
        {"status": "Open", "closed_date": ""},  # Graffiti, open -> routed by the catalogue
        {},  # closed: left alone
        {"status": "Open", "closed_date": "", "category": "Graffiti Public Property"},
    ]
    path = write_cases_csv(tmp_path / "c.csv", rows)
    mapping = load_mapping(MAPPINGS / "sf311_bigquery.yaml")
    with clean_engine.connect() as conn:
        first = load_cases(path, mapping, conn=conn, now=NOW)
        second = load_cases(path, mapping, conn=conn, now=NOW)
        cases = pd.read_sql(
            sa.text("""SELECT c.source_id, c.status, d.code AS unit, c.deadline_at,
                              c.reported_at, c.dispatched_at
                       FROM cases c LEFT JOIN departments d ON d.id = c.department_id
                       ORDER BY c.source_id"""),
            conn,
        )
        events = conn.execute(
            sa.text("""SELECT c.source_id, e.action, e.role, e.reason FROM case_events e
                       JOIN cases c ON c.id = e.case_id WHERE e.action = 'route'
                       ORDER BY c.source_id""")
        ).all()
        assignments = conn.execute(
            sa.text("SELECT role, rule, deadline_at FROM case_assignments ORDER BY case_id")
        ).all()
        expected_unit = conn.execute(
            sa.text("""SELECT d.code FROM categories k JOIN departments d
                       ON d.id = k.default_department_id WHERE k.service_code = 'E0202'""")
        ).scalar_one()
    assert first.notes == {"routed": 2}
    assert "routed" not in second.notes  # a re-run routes nothing twice
    open_ = cases[cases.status == "dispatched"]
    assert list(open_.source_id) == ["1000", "1002"]
    assert (open_.unit == expected_unit).all()
    assert (open_.deadline_at > open_.reported_at).all()
    assert (open_.dispatched_at == open_.reported_at).all()
    closed = cases[cases.status == "closed"]
    assert closed.unit.isna().all() and closed.deadline_at.isna().all()
    assert [(s, a, r) for s, a, r, _ in events] == [("1000", "route", "system")] * 1 + [
        ("1002", "route", "system")
    ]
    assert "responsibility rule" in events[0][3] and "deadline" in events[0][3]
    assert [(r, k) for r, k, _ in assignments] == [("lead", "statutory")] * 2
    assert list(pd.to_datetime([d for *_, d in assignments], utc=True)) == list(open_.deadline_at)


@pytest.mark.parametrize(
    # the city's own zone (named only in its profile) and three with other offsets
    "zone",
    [time_zone().key, "America/Los_Angeles", "Australia/Lord_Howe", "Asia/Kolkata"],
)
def test_deadlines_read_as_strftime_wrote_them(zone):
    """The reasons' deadline text (numpy, one offset at a time) is strftime's, offset as +hh:mm."""
    rng = np.random.default_rng(11)
    seconds = rng.integers(946_684_800, 2_000_000_000, 20_000)
    times = pd.Series(pd.to_datetime(seconds * 1_000_000 + 123, unit="us", utc=True))
    times = times.dt.tz_convert(zone)
    stamp = times.dt.strftime("%Y-%m-%dT%H:%M%z")
    expected = stamp.str[:-2] + ":" + stamp.str[-2:]
    assert _minutes_iso(times).tolist() == expected.tolist()
    assert _minutes_iso(times.iloc[:0]).tolist() == []
