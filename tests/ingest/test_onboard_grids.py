"""Issue 14 item 1: delineation on a city with no roads and no grids yet (not the demo)."""

from __future__ import annotations

import sqlalchemy as sa

from layers.grids import current_report, delineation_input, propose_grids
from layers.ingest import load_buildings, load_mapping
from tests.ingest.conftest import DATA, MAPPINGS


def _busiest_community(iconn) -> str:
    load_buildings(
        DATA / "sf_addresses_sample.csv",
        load_mapping(MAPPINGS / "sf_addresses.yaml"),
        conn=iconn,
        commit=False,
    )
    iconn.execute(sa.text("UPDATE buildings SET households = 90"))
    return iconn.execute(
        sa.text("""SELECT c.code FROM buildings b JOIN communities c ON c.id = b.community_id
                   GROUP BY c.code ORDER BY count(*) DESC, c.code LIMIT 1""")
    ).scalar_one()


def test_a_city_without_roads_or_grids_can_be_delineated(iconn):
    code = _busiest_community(iconn)
    assert iconn.execute(sa.text("SELECT count(*) FROM roads")).scalar_one() == 0
    source = delineation_input(conn=iconn, communities=[code])
    assert source.barriers.empty and source.current.empty
    assert source.barriers.crs.to_epsg() == source.epsg == source.current.crs.to_epsg()
    proposal = propose_grids(conn=iconn, communities=[code])
    assert len(proposal.redraw.grids) >= 1
    assert proposal.redraw.grids.households.sum() == 90 * len(source.buildings)


def test_report_on_a_city_without_grids(iconn):
    code = _busiest_community(iconn)
    report = current_report(conn=iconn, communities=[code])
    assert "Households per grid" in report.to_text()
