"""Issue 14 item 4: a community in several pieces under one name is merged, not dropped."""

from __future__ import annotations

import geopandas as gpd
import shapely
import sqlalchemy as sa

from layers.ingest import load_boundaries, mapping_from_dict


def test_pieces_of_one_community_are_merged_into_one(iconn, tmp_path):
    def square(x: float, y: float) -> shapely.Polygon:
        return shapely.box(x, y, x + 0.01, y + 0.01)

    frame = gpd.GeoDataFrame(
        {"name": ["Mainland", "Islands", "Islands", "Islands"]},
        geometry=[
            square(10.0, 50.0),
            square(10.02, 50.0),
            square(10.04, 50.0),
            square(10.05, 50.0),
        ],
        crs=4326,
    )
    path = tmp_path / "areas.geojson"
    frame.to_file(path)
    mapping = mapping_from_dict(
        {
            "layer": "boundaries",
            "source": "pieces",
            "street": {"code": "999000001", "name": "Test street"},
            "columns": {"name": "name"},
        }
    )
    account = load_boundaries(path, mapping, conn=iconn, commit=False)
    assert (account.read, account.loaded, account.quarantined) == (4, 2, 0)
    assert account.already_present == 2 and account.adds_up
    assert account.notes == {"merged_parts": 2, "code_derived": 2}
    rows = iconn.execute(
        sa.text("""SELECT c.name_zh, ST_NumGeometries(c.geom), ST_Area(c.geom)
                   FROM communities c JOIN streets s ON s.id = c.street_id
                   WHERE s.code = '999000001' ORDER BY c.name_zh""")
    ).all()
    # the two touching squares (10.04 and 10.05) become one polygon: two pieces in all
    assert [(n, k) for n, k, _ in rows] == [("Islands", 2), ("Mainland", 1)]
    assert abs(rows[0][2] - 3e-4) < 1e-9
    street_area = iconn.execute(
        sa.text("SELECT ST_Area(geom) FROM streets WHERE code = '999000001'")
    ).scalar_one()
    assert abs(street_area - 4e-4) < 1e-9
