"""Loading the demo district: complete, one district however often, all or nothing."""

import pytest
import sqlalchemy as sa

from layers.bulk import BulkLoadError
from layers.demo import DemoError, load_demo, loaded_demo


def _count(conn, table):
    return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_every_layer_is_loaded(conn, small_district):
    report = load_demo(conn, small_district)
    assert report.loaded
    for table, expected in small_district.counts().items():
        name = {"street": "streets"}.get(table, table)
        assert _count(conn, name) == expected, table
    assert _count(conn, "patrols") > 0
    assert _count(conn, "grid_coverage") == _count(conn, "grids")
    assert conn.execute(sa.text("SELECT sum(n) FROM case_daily")).scalar_one() == len(
        small_district.cases
    )
    # cases point at the grid and community they lie in
    misplaced = conn.execute(
        sa.text("""
        SELECT count(*) FROM cases c JOIN grids g ON g.id = c.grid_id
        WHERE NOT ST_Intersects(g.geom, c.geom)""")
    ).scalar_one()
    assert misplaced == 0
    assert (
        conn.execute(
            sa.text("SELECT count(*) FROM cases WHERE grid_id IS NULL OR h3_r9 IS NULL")
        ).scalar_one()
        == 0
    )


def test_loading_twice_leaves_one_district(conn, small_district):
    load_demo(conn, small_district)
    again = load_demo(conn, small_district)
    assert not again.loaded and "already loaded" in again.message
    replaced = load_demo(conn, small_district, replace=True)
    assert replaced.loaded
    assert _count(conn, "streets") == 1
    assert _count(conn, "cases") == len(small_district.cases)
    assert loaded_demo(conn)["seed"] == small_district.seed


def test_other_data_is_never_overwritten(conn, small_district):
    conn.execute(
        sa.text("""INSERT INTO streets (code, name_zh, geom)
        VALUES ('110101001', '真实街道',
                ST_Multi(ST_SetSRID(ST_MakeEnvelope(116.3, 39.9, 116.4, 40.0), 4326)))""")
    )
    with pytest.raises(DemoError, match="not the demo"):
        load_demo(conn, small_district)


def test_a_crash_half_way_leaves_nothing(engine, small_district):
    broken = small_district.__class__(**vars(small_district))
    broken.case_events = broken.case_events.assign(to_status="no_such_status")
    with pytest.raises(BulkLoadError, match="case_events"), engine.begin() as conn:
        load_demo(conn, broken)
    with engine.connect() as conn:
        assert _count(conn, "streets") == 0
        assert _count(conn, "cases") == 0
        assert loaded_demo(conn) is None


def test_the_demo_handler_has_real_case_assignments(demo_engine):
    """Issue 13 (low): the demo handler was offered actions that all failed (no assignments)."""
    from layers.auth import DEMO_PASSWORD, authenticate
    from layers.workflow.states import allowed_actions

    with demo_engine.connect() as conn:
        handler = authenticate(conn=conn, username="handler", password=DEMO_PASSWORD)
        assert handler is not None
        open_assigned = (
            conn.execute(
                sa.text("""
            SELECT c.status FROM cases c
            JOIN case_assignments a ON a.case_id = c.id
            JOIN departments d ON d.id = a.department_id AND d.code = :d
            WHERE c.status IN ('dispatched', 'in_handling')
        """),
                {"d": handler.scope.department_code},
            )
            .scalars()
            .all()
        )
        missing = conn.execute(
            sa.text("""
            SELECT count(*) FROM cases c WHERE c.department_id IS NOT NULL
            AND EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id
                        AND e.action = 'dispatch')
            AND NOT EXISTS (SELECT 1 FROM case_assignments a WHERE a.case_id = c.id)
        """)
        ).scalar_one()
    assert open_assigned, "no open case is assigned to the demo handler's department"
    assert any(allowed_actions(s, "handler") for s in open_assigned)
    assert missing == 0
