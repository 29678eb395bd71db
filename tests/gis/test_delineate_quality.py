"""gis.grid_quality on hand-made grids whose figures are known."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from city import GridSize
from gis.grid_quality import quality_report

SIZE = GridSize(400, 300, 500)

CRS = 32650


def make_case():
    """Community 'A' = [0, 200] × [0, 100] in three grids; one grid has a detached piece."""
    left = shapely.box(0, 0, 100, 100)
    right = shapely.MultiPolygon([shapely.box(100, 0, 150, 100), shapely.box(175, 0, 200, 100)])
    middle = shapely.box(150, 0, 175, 100)
    grids = gpd.GeoDataFrame(
        {
            "community": ["A", "A", "A"],
            "households": [400, 250, 900],
            "oversized": [False, False, True],
        },
        geometry=[left, right, middle],
        crs=CRS,
    )
    buildings = gpd.GeoDataFrame(
        {"households": [200, 200, 250, 900, 0], "grid": [0, 0, 1, 2, 0]},
        # the last building is assigned to grid 0 but lies in grid 1: not covered
        geometry=shapely.points([(10, 10), (90, 90), (120, 50), (160, 50), (190, 50)]),
        crs=CRS,
    )
    communities = gpd.GeoDataFrame({"code": ["A"]}, geometry=[shapely.box(0, 0, 200, 100)])
    return grids, buildings, communities


def test_figures_of_a_known_layout():
    grids, buildings, communities = make_case()
    road = gpd.GeoSeries([shapely.LineString([(50, -10), (50, 110)])], crs=CRS)
    aside = pd.DataFrame(
        {"row": [7, 8, 9], "reason": ["x", "y", "z"], "kind": ["no coordinates"] * 2 + ["bad"]}
    )
    r = quality_report(grids, buildings, communities, road, SIZE, set_aside=aside)
    assert (r.n_grids, r.n_communities) == (3, 1)
    assert (r.households_min, r.households_median, r.households_max) == (250, 400, 900)
    assert r.n_in_range == 1 and r.share_in_range == pytest.approx(1 / 3)
    # Polsby-Popper: square π/4, 25 × 100 strip, two-piece grid (area 7500, perimeter 550)
    assert r.compactness_median == pytest.approx(4 * math.pi * 2500 / 250**2)
    assert r.compactness_min == pytest.approx(4 * math.pi * 7500 / 550**2)
    assert r.not_contiguous == 1 and r.not_contiguous_in_multipart_communities == 0
    assert r.barrier_crossings == 1
    assert r.buildings_assigned == 5 and r.buildings_not_covered == 1
    assert r.oversized == 1
    assert r.max_area_gap == pytest.approx(0.0)
    assert r.set_aside == {"no coordinates": 2, "bad": 1}
    assert r.households_total == 1550 and r.households_assigned == 1550
    json.dumps(r.to_dict())
    text = r.to_text()
    assert "not covered: 1  <-- MUST BE 0" in text
    assert "Barrier crossings: 1" in text


def test_a_barrier_along_grid_edges_is_not_a_crossing_and_gaps_show():
    grids, buildings, communities = make_case()
    along = gpd.GeoSeries([shapely.LineString([(100, -10), (100, 110)])], crs=CRS)
    r = quality_report(grids.iloc[:2], buildings.iloc[:3], communities, along, SIZE)
    assert r.barrier_crossings == 0
    assert r.max_area_gap == pytest.approx(25 * 100 / 20000)  # the middle grid is missing
    assert quality_report(grids, buildings, None, None, SIZE).barrier_crossings is None
