"""gis.delineate: bad input, towers, barriers, small communities, CRS handling."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from city import GridSize, GridSizeError
from gis.delineate import DelineationError, delineate
from gis.partition import n_parts

CRS = 32650


def make_communities(boxes: dict[str, tuple[float, float, float, float]], crs=CRS):
    return gpd.GeoDataFrame(
        {"code": list(boxes)}, geometry=[shapely.box(*b) for b in boxes.values()], crs=crs
    )


def make_buildings(n, bounds, households=None, seed=0, crs=CRS):
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = bounds
    x = rng.uniform(xmin, xmax, n)
    y = rng.uniform(ymin, ymax, n)
    hh = rng.integers(1, 9, n) if households is None else households
    return gpd.GeoDataFrame({"households": hh}, geometry=shapely.points(x, y), crs=crs)


def assert_tiles(result, communities):
    """Grids of each community cover it with no gap and no overlap."""
    grids = result.grids
    for code, poly in zip(communities["code"], communities.geometry, strict=True):
        mine = grids.loc[grids["community"] == code].geometry.to_numpy()
        assert len(mine) >= 1
        assert shapely.area(mine).sum() == pytest.approx(poly.area, rel=1e-9)
        assert shapely.union_all(mine).symmetric_difference(poly).area < 1e-6 * poly.area
        a, b = shapely.STRtree(mine).query(mine, predicate="intersects")
        pairs = a < b
        overlap = shapely.area(shapely.intersection(mine[a[pairs]], mine[b[pairs]]))
        assert overlap.sum() < 1e-6 * poly.area


def test_two_communities_tile_balance_and_cover_every_building():
    comms = make_communities({"A": (0, 0, 1000, 1000), "B": (1000, 0, 2000, 1000)})
    bld = make_buildings(4000, (0, 0, 2000, 1000), seed=1)
    seen = []
    result = delineate(bld, comms, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]
    assert_tiles(result, comms)
    assert result.assignment.index.sort_values().equals(bld.index)
    per_grid = bld["households"].groupby(result.assignment.to_numpy()).sum()
    assert (per_grid.to_numpy() == result.grids["households"].to_numpy()).all()
    assert result.grids["households"].between(300, 500).all()
    assert result.report.buildings_not_covered == 0
    assert result.report.not_contiguous == 0
    assert result.report.share_in_range == 1.0
    # each building lies in the grid it is assigned to
    geoms = result.grids.geometry.to_numpy()[result.assignment.to_numpy()]
    assert shapely.intersects(geoms, bld.geometry.to_numpy()).all()


def test_rows_without_coordinates_or_outside_are_set_aside_with_reason():
    comms = make_communities({"A": (0, 0, 1000, 1000)})
    bld = make_buildings(600, (0, 0, 1000, 1000))
    bld.loc[3, "geometry"] = None
    bld.loc[4, "geometry"] = shapely.Point()
    bld.loc[5, "geometry"] = shapely.Point(np.nan, np.nan)
    bld.loc[6, "geometry"] = shapely.Point(5000, 5000)
    result = delineate(bld, comms)
    aside = result.set_aside.set_index("row")["reason"]
    assert aside.loc[[3, 4, 5]].eq("no coordinates").all()
    assert aside.loc[6] == "outside every community"
    assert len(result.assignment) == 596
    assert result.report.set_aside == {"no coordinates": 3, "outside every community": 1}
    assert "no coordinates: 3" in result.report.to_text()


def test_bad_household_counts_are_set_aside_naming_the_value():
    comms = make_communities({"A": (0, 0, 1000, 1000)})
    bld = make_buildings(600, (0, 0, 1000, 1000))
    bld["households"] = bld["households"].astype(object)
    bld.loc[1, "households"] = -3
    bld.loc[2, "households"] = 2.5
    bld.loc[7, "households"] = "many"
    bld.loc[8, "households"] = None
    result = delineate(bld, comms)
    aside = result.set_aside.set_index("row")["reason"]
    assert aside.loc[1] == "households must be a non-negative integer, got -3"
    assert aside.loc[2] == "households must be a non-negative integer, got 2.5"
    assert aside.loc[7] == "households must be a non-negative integer, got 'many'"
    assert "missing" in aside.loc[8]
    assert result.report.set_aside == {"bad households": 4}
    assert not result.assignment.index.isin([1, 2, 7, 8]).any()


def test_geographic_zero_zero_is_no_coordinates():
    comms = make_communities({"A": (116.30, 39.90, 116.31, 39.91)}, crs=4326)
    rng = np.random.default_rng(2)
    pts = shapely.points(rng.uniform(116.30, 116.31, 200), rng.uniform(39.90, 39.91, 200))
    bld = gpd.GeoDataFrame({"households": np.full(200, 4)}, geometry=pts, crs=4326)
    bld.loc[0, "geometry"] = shapely.Point(0, 0)
    result = delineate(bld, comms)
    assert result.set_aside.set_index("row").loc[0, "reason"] == "no coordinates (0, 0)"
    assert result.grids.crs.to_epsg() == 4326
    assert len(result.grids) == 2
    assert (
        result.grids.geometry.union_all().symmetric_difference(comms.geometry.iloc[0]).area < 1e-9
    )


def test_invalid_community_is_repaired_and_reported():
    bowtie = shapely.Polygon([(0, 0), (1000, 1000), (1000, 0), (0, 1000), (0, 0)])
    comms = gpd.GeoDataFrame({"code": ["X"]}, geometry=[bowtie], crs=CRS)
    bld = make_buildings(2000, (0, 0, 1000, 1000))
    inside = bld[shapely.contains(shapely.make_valid(bowtie), bld.geometry.to_numpy())]
    result = delineate(inside, comms)
    assert any("'X'" in note and "make_valid" in note for note in result.report.notes)
    assert result.grids.geometry.area.sum() == pytest.approx(500_000)
    assert "make_valid" in result.report.to_text()


def test_overlapping_communities_name_both_keys():
    comms = make_communities({"A": (0, 0, 1000, 1000), "B": (900, 0, 2000, 1000)})
    with pytest.raises(DelineationError, match=r"overlap: 'A' and 'B' \(100000 m²\)"):
        delineate(make_buildings(10, (0, 0, 10, 10)), comms)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": 10}, "target 10 .* outside the sane range 50–5000"),
        ({"target": 9000, "high": 10000}, "target 9000"),
        ({"low": 450}, "low=450, target=400"),
        ({"high": 350}, "high=350"),
        ({"households": "hh"}, "no households column 'hh'"),
        ({"community_key": "name"}, "no key column 'name'"),
    ],
)
def test_unusable_parameters_raise(kwargs, message):
    comms = make_communities({"A": (0, 0, 1000, 1000)})
    numbers = {k: v for k, v in kwargs.items() if k in ("target", "low", "high")}
    other = {k: v for k, v in kwargs.items() if k not in numbers}
    # the grid size is checked where it is made (GridSize), the rest by delineate
    error = GridSizeError if numbers else DelineationError
    with pytest.raises(error, match=message):
        size = GridSize(**({"target": 400, "low": 300, "high": 500} | numbers))
        delineate(make_buildings(10, (0, 0, 10, 10)), comms, size=size, **other)


def test_duplicate_and_empty_communities_raise():
    dup = make_communities({"A": (0, 0, 1, 1)})
    dup = gpd.GeoDataFrame(
        {"code": ["A", "A"]}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(2, 0, 3, 1)], crs=CRS
    )
    with pytest.raises(DelineationError, match="not unique: 'A'"):
        delineate(make_buildings(10, (0, 0, 1, 1)), dup)
    empty = gpd.GeoDataFrame({"code": ["E"]}, geometry=[shapely.Polygon()], crs=CRS)
    with pytest.raises(DelineationError, match="'E' have no geometry"):
        delineate(make_buildings(10, (0, 0, 1, 1)), empty)
    with pytest.raises(DelineationError, match="no communities"):
        delineate(make_buildings(10, (0, 0, 1, 1)), empty.iloc[:0])


def test_small_community_is_one_grid_and_flagged():
    comms = make_communities({"big": (0, 0, 1000, 1000), "tiny": (1000, 0, 1100, 100)})
    bld = make_buildings(1000, (0, 0, 1000, 1000), seed=3)
    small = make_buildings(30, (1000, 0, 1100, 100), households=np.full(30, 5), seed=4)
    bld = gpd.GeoDataFrame(
        {"households": np.r_[bld["households"], small["households"]]},
        geometry=np.r_[bld.geometry.to_numpy(), small.geometry.to_numpy()],
        crs=CRS,
    )
    result = delineate(bld, comms)
    tiny = result.grids[result.grids["community"] == "tiny"]
    assert len(tiny) == 1 and tiny["households"].iloc[0] == 150
    assert tiny.geometry.iloc[0].equals(comms.geometry.iloc[1])
    assert result.report.small_communities == ["tiny"]
    assert "tiny" in result.report.to_text()


def test_community_without_buildings_is_one_empty_grid():
    comms = make_communities({"A": (0, 0, 1000, 1000), "park": (1000, 0, 2000, 1000)})
    result = delineate(make_buildings(1000, (0, 0, 1000, 1000)), comms)
    park = result.grids[result.grids["community"] == "park"]
    assert park["households"].tolist() == [0] and park["n_buildings"].tolist() == [0]
    assert_tiles(result, comms)


def test_tower_block_gets_its_own_grid_and_is_reported():
    comms = make_communities({"A": (0, 0, 1000, 1000)})
    hh = np.full(400, 4)
    hh[17] = 820
    bld = make_buildings(400, (0, 0, 1000, 1000), households=hh)
    result = delineate(bld, comms)
    tower = result.grids[result.grids["oversized"]]
    assert tower["households"].tolist() == [820] and tower["n_buildings"].tolist() == [1]
    assert result.assignment.loc[17] == tower.index[0]
    assert result.report.oversized == 1
    assert (result.assignment.drop(17) != tower.index[0]).all()
    assert_tiles(result, comms)


def test_buildings_at_one_location_are_one_site():
    comms = make_communities({"A": (0, 0, 1000, 1000)})
    bld = make_buildings(800, (0, 0, 1000, 1000))
    bld.loc[:99, "geometry"] = shapely.Point(500.0, 500.0)
    result = delineate(bld, comms)
    assert result.assignment.loc[:99].nunique() == 1
    assert_tiles(result, comms)
    assert result.grids["households"].sum() == bld["households"].sum()


def test_polygon_buildings_use_a_point_inside():
    comms = make_communities({"A": (0, 0, 1000, 1000)})
    bld = make_buildings(500, (10, 10, 990, 990))
    bld["geometry"] = bld.geometry.buffer(5)
    result = delineate(bld, comms)
    assert len(result.assignment) == 500 and len(result.set_aside) == 0


def test_barrier_is_not_crossed():
    comms = make_communities({"A": (0, 0, 1000, 1000)})
    bld = make_buildings(2400, (0, 0, 1000, 1000), seed=5)
    road = shapely.LineString([(-50, 430), (1050, 470)])
    result = delineate(bld, comms, barriers=gpd.GeoSeries([road], crs=CRS))
    assert result.report.barrier_crossings == 0
    # every grid lies on one side of the road
    below = shapely.Polygon([(-50, -50), (-50, 430), (1050, 470), (1050, -50)])
    inside_below = shapely.area(shapely.intersection(result.grids.geometry.to_numpy(), below))
    share = inside_below / result.grids.geometry.area.to_numpy()
    assert ((share < 1e-9) | (share > 1 - 1e-9)).all()
    assert_tiles(result, comms)


def test_without_the_barrier_grids_do_cross_it():
    """The crossing count can fail: the same layout without barriers crosses the road."""
    comms = make_communities({"A": (0, 0, 1000, 1000)})
    bld = make_buildings(2400, (0, 0, 1000, 1000), seed=5)
    road = gpd.GeoSeries([shapely.LineString([(-50, 430), (1050, 470)])], crs=CRS)
    result = delineate(bld, comms)
    from gis.grid_quality import barrier_crossings

    assert barrier_crossings(result.grids.geometry.to_numpy(), road) > 0


def test_small_block_across_a_barrier_joins_exactly_one_grid():
    comms = make_communities({"A": (0, 0, 1000, 1000)})
    hh = np.full(1000, 2)
    bld = make_buildings(1000, (0, 0, 1000, 1000), households=hh, seed=6)
    road = shapely.LineString([(-10, 900), (1010, 900)])  # strip of ~200 households above it
    result = delineate(bld, comms, barriers=gpd.GeoSeries([road], crs=CRS))
    strip = shapely.box(0, 900, 1000, 1000)
    holds = shapely.area(shapely.intersection(result.grids.geometry.to_numpy(), strip)) > 1
    assert holds.sum() == 1
    assert result.report.barrier_crossings == 1
    assert result.report.not_contiguous == 0
    assert_tiles(result, comms)


def test_n_parts_keeps_mean_in_range():
    for total in range(600, 20000, 7):
        k = n_parts(total, 400, 300, 500)
        assert 300 <= total / k <= 500, total


def test_overlaps_can_be_trimmed_to_the_first_community_and_are_reported():
    comms = make_communities({"A": (0, 0, 1000, 1000), "B": (900, 0, 2000, 1000)})
    bld = make_buildings(3000, (0, 0, 2000, 1000), seed=8)
    result = delineate(bld, comms, overlaps="trim")
    assert any("'A' and 'B' overlapped by 100000 m²" in n for n in result.report.notes)
    b_grids = result.grids[result.grids["community"] == "B"].geometry.union_all()
    assert b_grids.area == pytest.approx(1_000_000)
    a, b = shapely.STRtree(result.grids.geometry.to_numpy()).query(
        result.grids.geometry.to_numpy(), predicate="intersects"
    )
    g = result.grids.geometry.to_numpy()
    assert shapely.area(shapely.intersection(g[a[a < b]], g[b[a < b]])).sum() < 1e-6
    assert len(result.assignment) == 3000


def test_duplicate_building_index_raises_and_no_buildings_gives_one_grid_each():
    comms = make_communities({"A": (0, 0, 1000, 1000), "B": (1000, 0, 2000, 1000)})
    bld = make_buildings(10, (0, 0, 10, 10))
    with pytest.raises(DelineationError, match=r"unique index.*duplicated: 0"):
        delineate(bld.set_axis([0] * 10), comms)
    result = delineate(bld.iloc[:0], comms)
    assert result.grids["households"].tolist() == [0, 0]
    assert len(result.assignment) == 0 and len(result.set_aside) == 0
    assert_tiles(result, comms)


def test_holed_and_multipart_communities_are_tiled():
    lake = shapely.box(300, 300, 700, 700)
    holed = shapely.box(0, 0, 1000, 1000).difference(lake)
    islands = shapely.MultiPolygon(
        [shapely.box(1200, 0, 1800, 1000), shapely.box(2000, 0, 2500, 800)]
    )
    comms = gpd.GeoDataFrame({"code": ["H", "I"]}, geometry=[holed, islands], crs=CRS)
    bld = make_buildings(6000, (0, 0, 2500, 1000), seed=9)
    result = delineate(bld, comms)
    assert_tiles(result, comms)
    outside = ~shapely.intersects(shapely.union_all([holed, islands]), bld.geometry.to_numpy())
    assert shapely.contains(lake, bld.geometry.to_numpy()).sum() > 0
    aside = result.set_aside.set_index("row")["reason"]
    assert set(aside.index) == set(bld.index[outside])
    assert (aside == "outside every community").all()
    assert not shapely.intersects(result.grids.geometry.to_numpy(), lake.buffer(-1e-6)).any()
    # no grid needs to jump between the islands or around the lake in pieces
    assert result.report.not_contiguous == 0
