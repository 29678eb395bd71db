"""Rollups answer what a scan of the raw cases answers: per H3 cell, per grid, per class."""

import pytest
import sqlalchemy as sa

from city import time_zone
from layers.demo import load_demo
from layers.rollups import counts_by_grid, counts_by_h3, day_range, refresh_rollups

TZ = time_zone().key


def _raw(conn, where: str, params: dict) -> int:
    return conn.execute(
        sa.text(f"""
        SELECT count(*) FROM cases x JOIN categories k ON k.id = x.category_id
        LEFT JOIN categories m ON m.id = k.parent_id
        LEFT JOIN communities c ON c.id = x.community_id
        WHERE (x.reported_at AT TIME ZONE '{TZ}')::date BETWEEN :start AND :end AND {where}
    """),
        params,
    ).scalar_one()


@pytest.fixture
def loaded(conn, small_district):
    load_demo(conn, small_district)  # refreshes the rollups
    span = day_range(conn=conn)
    assert span is not None
    return conn, span


def test_counts_per_cell_and_grid_match_the_raw_cases(loaded):
    conn, (first, last) = loaded
    start, end = first + (last - first) / 2, last
    window = {"start": start, "end": end}
    cells = counts_by_h3(conn=conn, start=start, end=end)
    assert cells.n.sum() == _raw(conn, "x.h3_r9 IS NOT NULL", window)
    grids = counts_by_grid(conn=conn, start=start, end=end)
    assert grids.n.sum() == _raw(conn, "x.grid_id IS NOT NULL", window)
    assert grids.crs.to_epsg() == 4326 and (grids.n >= 0).all()
    current = conn.execute(sa.text("SELECT count(*) FROM grids_current")).scalar_one()
    assert len(grids) >= current  # quiet grids are listed with 0
    busiest = grids.sort_values("n").iloc[-1]
    assert busiest.per_1000_households == pytest.approx(
        1000 * busiest.n / busiest.households, abs=0.01
    )


def test_category_and_community_filters_match_the_raw_cases(loaded):
    conn, (first, last) = loaded
    window = {"start": first, "end": last}
    major = conn.execute(
        sa.text("""
        SELECT m.service_code FROM cases x JOIN categories k ON k.id = x.category_id
        JOIN categories m ON m.id = k.parent_id GROUP BY 1 ORDER BY count(*) DESC LIMIT 1
    """)
    ).scalar_one()
    community = conn.execute(sa.text("SELECT min(code) FROM communities")).scalar_one()
    got = counts_by_grid(
        conn=conn, start=first, end=last, categories=[major], community=community
    ).n.sum()
    expected = _raw(
        conn,
        "x.grid_id IS NOT NULL AND m.service_code = :major AND c.code = :community",
        window | {"major": major, "community": community},
    )
    assert got == expected > 0
    cells = counts_by_h3(conn=conn, start=first, end=last, categories=[major])
    assert cells.n.sum() == _raw(
        conn, "x.h3_r9 IS NOT NULL AND m.service_code = :major", window | {"major": major}
    )


def test_rollups_rebuild_to_the_same_rows(loaded):
    conn, _ = loaded
    before = conn.execute(sa.text("SELECT count(*), sum(n) FROM case_daily")).one()
    refresh_rollups(conn=conn)
    assert conn.execute(sa.text("SELECT count(*), sum(n) FROM case_daily")).one() == before
    assert before[1] == conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
