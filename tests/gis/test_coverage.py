"""Patrol coverage on shapes whose answer is known."""

import geopandas as gpd
import pytest
import shapely

from city import time_zone
from gis.coverage import grid_coverage

UTM51 = 32651
X0, Y0 = 300_000.0, 3_465_000.0  # near Suzhou, in metres


def _gdf(geoms, **cols):
    return gpd.GeoDataFrame(cols, geometry=list(geoms), crs=UTM51).to_crs(4326)


def test_a_track_through_the_middle_covers_a_band():
    square = shapely.box(X0, Y0, X0 + 200, Y0 + 200)
    other = shapely.box(X0 + 200, Y0, X0 + 400, Y0 + 200)
    track = shapely.LineString([(X0, Y0 + 100), (X0 + 200, Y0 + 100)])
    cov = grid_coverage(_gdf([square, other], id=[1, 2]), _gdf([track]), reach_m=25, spacing_m=2)
    first, second = cov.set_index("id").loc[1], cov.set_index("id").loc[2]
    assert first.covered_share == pytest.approx(50 * 200 / 200**2, abs=0.02)
    assert first.walked_m == pytest.approx(200, rel=0.01)
    # the end of the track reaches 25 m into the neighbour, and it walked nothing there
    assert 0 < second.covered_share < 0.05 and second.walked_m == 0


def test_no_tracks_means_no_coverage():
    square = shapely.box(X0, Y0, X0 + 100, Y0 + 100)
    cov = grid_coverage(_gdf([square], id=[7]), gpd.GeoDataFrame(geometry=[], crs=4326))
    assert cov.covered_share.tolist() == [0.0] and cov.walked_m.tolist() == [0.0]


def test_time_in_grids_credits_the_later_fix_and_skips_breaks():
    import pandas as pd

    from gis.coverage import time_in_grids

    a = shapely.box(120.60, 31.30, 120.61, 31.31)
    b = shapely.box(120.61, 31.30, 120.62, 31.31)
    grids = gpd.GeoDataFrame({"id": [1, 2]}, geometry=[a, b], crs=4326)
    t0 = pd.Timestamp("2026-11-16 09:00", tz=time_zone().key)
    s = pd.Timedelta(seconds=30)
    fixes = pd.DataFrame(
        {
            "worker_id": [7] * 5,
            "at": [
                t0,
                t0 + s,
                t0 + 2 * s,
                t0 + 2 * s + pd.Timedelta(minutes=10),
                t0 + 3 * s + pd.Timedelta(minutes=10),
            ],
            "lon": [120.605, 120.605, 120.605, 120.615, 120.615],
            "lat": [31.305] * 5,
        }
    )
    hours = time_in_grids(grids, fixes)
    assert hours[1] == pytest.approx(60 / 3600)
    assert hours[2] == pytest.approx(30 / 3600)  # the 10-minute gap was a break
