"""Writing a delineation as a new version of the grids layer (real PostGIS)."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa

from layers.grids import GridWriteError, delineation_input, grid_history, write_grids

COMMUNITY = "320508097001"
V1 = date(2026, 1, 1)
REDRAW = date(2026, 6, 1)
WEST, SOUTH, STRIP, NORTH = 120.60, 31.30, 0.005, 31.31


def _strip(k: float, width: float = 1.0) -> shapely.Geometry:
    return shapely.box(WEST + k * STRIP, SOUTH, WEST + (k + width) * STRIP, NORTH)


def make_area(conn, *, grids: int = 4) -> dict[str, int]:
    """A street with one community cut into ``grids`` north-south strips (version 1)."""
    outline = shapely.box(WEST, SOUTH, WEST + grids * STRIP, NORTH)
    wkt = shapely.to_wkt(shapely.MultiPolygon([outline]))
    statements = [
        """INSERT INTO streets (id, code, name_zh, geom)
           VALUES (950, '320508097', '测试街道', ST_GeomFromText(:g, 4326))""",
        """INSERT INTO communities (id, code, street_id, name_zh, geom)
           VALUES (950, :c, 950, '测试社区', ST_GeomFromText(:g, 4326))""",
        "INSERT INTO workers (id, code, name_zh, community_id) VALUES (950, 'W950', '张三', 950)",
        """INSERT INTO roads (street_id, road_class, geom) VALUES
           (950, 'major', ST_SetSRID(ST_MakeLine(ST_Point(120.59, 31.305),
                                                 ST_Point(120.63, 31.305)), 4326)),
           (950, 'minor', ST_SetSRID(ST_MakeLine(ST_Point(120.601, 31.30),
                                                 ST_Point(120.601, 31.31)), 4326))""",
    ]
    for statement in statements:
        conn.execute(sa.text(statement), {"g": wkt, "c": COMMUNITY})
    ids = {}
    for k in range(grids):
        code = f"{COMMUNITY}{k + 1:03d}"
        ids[code] = conn.execute(
            sa.text("""
            INSERT INTO grids (code, community_id, households, worker_id, valid_from, geom)
            VALUES (:code, 950, 400, :w, :d, ST_Multi(ST_GeomFromText(:g, 4326))) RETURNING id
        """),
            {"code": code, "w": 950 if k == 0 else None, "d": V1, "g": _strip(k).wkt},
        ).scalar_one()
    return ids


def make_case_in(conn, grid_id: int, lon: float, lat: float) -> int:
    category = conn.execute(
        sa.text("SELECT id FROM categories WHERE service_code = 'E0504'")
    ).scalar_one()
    return conn.execute(
        sa.text("""
        INSERT INTO cases (case_no, category_id, street_code, community_id, grid_id, source,
                           status, reported_at, geom)
        VALUES ('G1', :c, '320508097', 950, :g, 'app', 'reported', now(),
                ST_SetSRID(ST_Point(:lon, :lat), 4326)) RETURNING id
    """),
        {"c": category, "g": grid_id, "lon": lon, "lat": lat},
    ).scalar_one()


def make_part_in(conn, grid_id: int, lon: float, lat: float) -> int:
    category = conn.execute(
        sa.text("SELECT id FROM categories WHERE kind = 'part' AND level = 2 LIMIT 1")
    ).scalar_one()
    return conn.execute(
        sa.text("""
        INSERT INTO parts (part_code, category_id, community_id, grid_id, geom)
        VALUES ('3205080101000001', :c, 950, :g, ST_SetSRID(ST_Point(:lon, :lat), 4326))
        RETURNING id
    """),
        {"c": category, "g": grid_id, "lon": lon, "lat": lat},
    ).scalar_one()


def proposal(rows: list[tuple[str, str, int, shapely.Geometry | None]], retired=()):
    """A proposal as gis.redraw returns it (WGS 84 here) and its change list."""
    grids = gpd.GeoDataFrame(
        {
            "code": [r[0] for r in rows],
            "community": [r[0][:12] for r in rows],
            "action": [r[1] for r in rows],
            "households": [r[2] for r in rows],
        },
        geometry=[r[3] for r in rows],
        crs=4326,
    )
    changes = pd.DataFrame(
        {
            "code": [*grids.code, *retired],
            "action": [*grids.action, *["retired"] * len(retired)],
        }
    )
    return grids, changes


def _current(conn) -> pd.DataFrame:
    return pd.read_sql(
        sa.text("SELECT id, code, households, version, worker_id FROM grids_current ORDER BY code"),
        conn,
    ).assign(code=lambda f: f.code.str.strip())


def _redraw(conn, ids):
    """Keep 001 (households refreshed) and 004, change 002, retire 003, add 005."""
    c = COMMUNITY
    grids, changes = proposal(
        [
            (f"{c}001", "kept", 420, _strip(0)),
            (f"{c}002", "changed", 610, _strip(1, 1.5)),
            (f"{c}004", "kept", 400, _strip(3)),
            (f"{c}005", "new", 330, _strip(2.5, 0.5)),
        ],
        retired=[f"{c}003"],
    )
    return write_grids(grids, changes, conn=conn, valid_from=REDRAW)


def test_a_redraw_is_a_new_version_and_history_is_kept(conn):
    ids = make_area(conn)
    summary = _redraw(conn, ids)
    assert (summary.kept, summary.changed, summary.retired, summary.new) == (2, 1, 1, 1)
    assert summary.households_updated == 1
    current = _current(conn)
    c = COMMUNITY
    assert list(current.code) == [f"{c}001", f"{c}002", f"{c}004", f"{c}005"]
    assert current.code.is_unique
    # kept grids are the same rows; the household count is refreshed in place
    assert current.set_index("code").id[f"{c}001"] == ids[f"{c}001"]
    assert current.set_index("code").households[f"{c}001"] == 420
    assert current.set_index("code").id[f"{c}004"] == ids[f"{c}004"]
    # a changed grid keeps its code, gets a new row and version
    history = grid_history(conn=conn, code=f"{c}002")
    assert list(history.version) == [1, 2]
    assert list(history.valid_to) == [REDRAW, None]
    assert list(history.valid_from) == [V1, REDRAW]
    # a retired grid is closed, not deleted
    retired = grid_history(conn=conn, code=f"{c}003")
    assert list(retired.valid_to) == [REDRAW]
    assert grid_history(conn=conn, code=f"{c}005").version.tolist() == [1]


def test_a_changed_grid_keeps_its_worker(conn):
    ids = make_area(conn)
    c = COMMUNITY
    grids, changes = proposal([(f"{c}001", "changed", 450, _strip(0, 1.2))])
    write_grids(grids, changes, conn=conn, valid_from=REDRAW)
    row = _current(conn).set_index("code").loc[f"{c}001"]
    assert row.worker_id == 950 and row.version == 2 and row.id != ids[f"{c}001"]


def test_a_retired_grids_worker_takes_over_the_new_grid_it_overlaps_most(conn):
    ids = make_area(conn)
    c = COMMUNITY
    conn.execute(
        sa.text("""INSERT INTO workers (id, code, name_zh, community_id)
                   VALUES (951, 'W951', '李四', 950), (952, 'W952', '王五', 950)""")
    )
    conn.execute(sa.text("UPDATE grids SET worker_id = 951 WHERE id = :g"), {"g": ids[f"{c}003"]})
    conn.execute(sa.text("UPDATE grids SET worker_id = 952 WHERE id = :g"), {"g": ids[f"{c}004"]})
    grids, changes = proposal(
        [
            (f"{c}005", "new", 330, _strip(1.9, 0.4)),  # overlaps 003 by 0.3 strip
            (f"{c}006", "new", 330, _strip(2.3, 0.7)),  # overlaps 003 by 0.7 strip: wins
            (f"{c}002", "changed", 380, _strip(1, 0.9)),  # had no worker, overlaps no old grid
        ],
        retired=[f"{c}003", f"{c}004"],
    )
    summary = write_grids(grids, changes, conn=conn, valid_from=REDRAW)
    workers = _current(conn).set_index("code").worker_id
    assert summary.handed_over == [("W951", f"{c}003", f"{c}006")]
    assert workers[f"{c}006"] == 951
    assert pd.isna(workers[f"{c}005"]) and pd.isna(workers[f"{c}002"])
    assert summary.without_worker == [f"{c}005", f"{c}002"]
    assert summary.freed == ["W952"]  # 004 overlaps none of the grids left without a worker


def test_cases_keep_their_grid_and_parts_follow_the_current_grids(conn):
    ids = make_area(conn)
    lon, lat = WEST + 2.2 * STRIP, 31.305  # in old 003, in new 002 (strips 1.0-2.5)
    case = make_case_in(conn, ids[f"{COMMUNITY}003"], lon, lat)
    part = make_part_in(conn, ids[f"{COMMUNITY}003"], lon, lat)
    summary = _redraw(conn, ids)
    assert summary.parts_moved == 1
    case_grid = conn.execute(sa.text("SELECT grid_id FROM cases WHERE id = :i"), {"i": case})
    assert case_grid.scalar_one() == ids[f"{COMMUNITY}003"]  # the grid it was filed in
    part_grid = conn.execute(
        sa.text("""SELECT g.code FROM parts p JOIN grids g ON g.id = p.grid_id
                   WHERE p.id = :i AND g.valid_to IS NULL"""),
        {"i": part},
    ).scalar_one()
    assert part_grid.strip() == f"{COMMUNITY}002"


def test_a_stale_proposal_writes_nothing(conn):
    ids = make_area(conn)
    _redraw(conn, ids)
    before = _current(conn)
    c = COMMUNITY
    grids, changes = proposal([(f"{c}003", "kept", 400, _strip(2))])
    with pytest.raises(GridWriteError, match=r"out of date.*320508097001003"):
        write_grids(grids, changes, conn=conn, valid_from=date(2026, 7, 1))
    pd.testing.assert_frame_equal(_current(conn), before)


def test_retired_codes_are_never_reused(conn):
    ids = make_area(conn)
    _redraw(conn, ids)
    grids, changes = proposal([(f"{COMMUNITY}003", "new", 400, _strip(2))])
    with pytest.raises(GridWriteError, match="used before"):
        write_grids(grids, changes, conn=conn, valid_from=date(2026, 7, 1))


def test_a_grid_cannot_be_redrawn_twice_on_its_first_day(conn):
    ids = make_area(conn)
    _redraw(conn, ids)
    grids, changes = proposal([(f"{COMMUNITY}002", "changed", 500, _strip(1))])
    with pytest.raises(GridWriteError, match=r"320508097001002 took effect on 2026-06-01"):
        write_grids(grids, changes, conn=conn, valid_from=REDRAW)
    write_grids(grids, changes, conn=conn, valid_from=date(2026, 6, 2))
    assert grid_history(conn=conn, code=f"{COMMUNITY}002").version.tolist() == [1, 2, 3]


def test_delineation_input_reads_metric_layers(conn):
    make_area(conn)
    conn.execute(
        sa.text("""INSERT INTO buildings (community_id, households, geom) VALUES
                   (950, 40, ST_SetSRID(ST_Point(120.602, 31.302), 4326)),
                   (950, 60, ST_SetSRID(ST_Point(120.612, 31.307), 4326))""")
    )
    got = delineation_input(conn=conn, communities=[COMMUNITY])
    assert got.buildings.crs.is_projected and got.buildings.crs == got.current.crs
    assert got.buildings.households.tolist() == [40, 60]
    assert len(got.barriers) == 1  # the major road only
    assert got.current.code.tolist() == [f"{COMMUNITY}{k:03d}" for k in range(1, 5)]
    assert got.highest == {COMMUNITY: 4}
    with pytest.raises(GridWriteError, match="unknown community code"):
        delineation_input(conn=conn, communities=["999999999999"])
