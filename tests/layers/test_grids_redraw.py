"""Proposing and writing a redraw of the demo district's grids (real PostGIS)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from dashboard.redraw_text import reason_text
from layers.demo import load_demo
from layers.grids import current_report, propose_grids, write_grids

REDRAW_DAY = date(2026, 11, 21)


@pytest.fixture
def demo_conn(conn, small_district):
    """The small demo district, loaded inside this test's rolled-back transaction."""
    load_demo(conn, small_district)
    return conn


def _grid_rows(conn) -> pd.DataFrame:
    return pd.read_sql(
        sa.text("SELECT id, code, households, valid_from, valid_to FROM grids ORDER BY id"), conn
    )


def _grow_one_grid(conn, community: str, extra: int) -> str:
    """Add ``extra`` households to three buildings of one grid; return its code."""
    code = conn.execute(
        sa.text("""SELECT g.code FROM grids_current g JOIN communities c ON c.id = g.community_id
                   WHERE c.code = :c ORDER BY g.code LIMIT 1"""),
        {"c": community},
    ).scalar_one()
    conn.execute(
        sa.text("""UPDATE buildings SET households = households + :x WHERE id IN (
                     SELECT b.id FROM buildings b JOIN grids_current g ON ST_Within(b.geom, g.geom)
                     WHERE g.code = :g ORDER BY b.id LIMIT 3)"""),
        {"g": code, "x": extra},
    )
    return code.strip()


def test_the_demo_grids_come_from_the_delineation(demo_conn):
    report = current_report(conn=demo_conn)
    assert report.buildings_not_covered == 0
    assert report.households_total == 8_000
    assert report.share_in_range >= 0.8
    assert report.not_contiguous == 0


def test_a_redraw_keeps_unchanged_grids_and_cases_keep_their_grid(demo_conn, small_district):
    conn = demo_conn
    community = small_district.communities.code.iloc[0]
    grown = _grow_one_grid(conn, community, 150)
    before = _grid_rows(conn)
    cases_before = pd.read_sql(sa.text("SELECT id, grid_id FROM cases ORDER BY id"), conn)
    proposal = propose_grids(conn=conn, communities=[community], redraw=True)
    changes = proposal.redraw.changes.set_index("code")
    assert changes.action[grown] != "kept"
    assert reason_text(changes.reason[grown]).endswith("after +450")
    kept = set(changes.index[changes.action == "kept"])
    summary = write_grids(
        proposal.redraw.grids, proposal.redraw.changes, conn=conn, valid_from=REDRAW_DAY
    )
    assert summary.changed + summary.retired >= 1
    after = _grid_rows(conn)
    # history kept: every old row is still there, the kept ones untouched and current
    assert set(before.id) <= set(after.id)
    old = before.assign(code=before.code.str.strip()).set_index("code")
    new = after.assign(code=after.code.str.strip())
    current = new[new.valid_to.isna()]
    assert current.code.is_unique
    assert set(old.loc[sorted(kept)].id) <= set(current.id)
    closed = new[new.valid_to.notna()]
    assert set(closed.code) == set(changes.index[changes.action.isin(["changed", "retired"])])
    assert (closed.valid_to == REDRAW_DAY).all()
    # cases keep the grid row they were filed in
    cases_after = pd.read_sql(sa.text("SELECT id, grid_id FROM cases ORDER BY id"), conn)
    pd.testing.assert_frame_equal(cases_before, cases_after)
    # the redraw of other communities is not touched
    others = conn.execute(
        sa.text("""SELECT count(*) FROM grids g JOIN communities c ON c.id = g.community_id
                   WHERE c.code <> :c AND g.valid_to IS NOT NULL"""),
        {"c": community},
    ).scalar_one()
    assert others == 0
    # proposing again changes nothing
    again = propose_grids(conn=conn, communities=[community], redraw=True)
    assert set(again.redraw.changes.action) == {"kept"}
