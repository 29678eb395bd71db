"""Assignment on entry: a point in the seam between community edges and grids."""

import numpy as np
import shapely

from layers.ingest.assignment import SEAM_TOLERANCE, ServedArea, assign_points


def _area() -> ServedArea:
    street = shapely.box(0.0, 0.0, 2.0, 1.0)
    west, east = shapely.box(0.0, 0.0, 1.0, 1.0), shapely.box(1.0, 0.0, 2.0, 1.0)
    # the west community's grids stop 2e-6 degrees short of its outer edges and
    # cover only its southern 0.6; the east community has no grids yet
    south, north = shapely.box(2e-6, 2e-6, 0.5, 0.6), shapely.box(0.5, 2e-6, 1.0, 0.6)
    return ServedArea(
        street_code=np.array(["110101001"], dtype=object),
        street_geom=np.array([street], dtype=object),
        community_id=np.array([10, 20]),
        community_street=np.array(["110101001", "110101001"], dtype=object),
        community_geom=np.array([west, east], dtype=object),
        grid_id=np.array([101, 102]),
        grid_community=np.array([10, 10]),
        grid_geom=np.array([south, north], dtype=object),
    )


def test_a_point_in_the_seam_gets_the_nearest_grid_and_its_community():
    lon = np.array([0.25, 1e-6, 0.75, 0.25, 1.0 + 1e-6, 0.5 + SEAM_TOLERANCE, 3.0, 1.5])
    lat = np.array([0.3, 0.3, 1e-6, 0.9, 0.3, 0.6 + 2 * SEAM_TOLERANCE, 0.5, 0.5])
    where = assign_points(_area(), lon, lat)
    assert where.community_id.tolist() == [10, 10, 10, 10, 10, 10, -1, 20]
    assert where.grid_id.tolist() == [
        101,  # inside a grid
        101,  # in the seam on the west edge
        102,  # in the seam on the south edge
        -1,  # in the ungridded north of the community, far from any grid
        102,  # 1e-6 over the boundary of a community without grids: on the boundary
        -1,  # just beyond the tolerance
        -1,  # outside the street
        -1,  # inside the community without grids
    ]
    assert where.street_code.tolist() == ["110101001"] * 6 + [None, "110101001"]
