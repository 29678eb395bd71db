import h3.api.basic_int as h3
import numpy as np
import shapely

from gis.assign import assign_to_polygons, h3_cells


def test_points_go_to_the_polygon_they_are_in():
    left = shapely.box(0, 0, 1, 1)
    right = shapely.box(1, 0, 2, 1)
    points = shapely.points([0.5, 1.5, 5.0], [0.5, 0.5, 5.0])
    assert assign_to_polygons(points, np.array([left, right])).tolist() == [0, 1, -1]


def test_a_point_on_a_shared_boundary_goes_to_the_lowest_index():
    left = shapely.box(0, 0, 1, 1)
    right = shapely.box(1, 0, 2, 1)
    on_edge = shapely.points([1.0], [0.5])
    assert assign_to_polygons(on_edge, np.array([right, left])).tolist() == [0]
    assert assign_to_polygons(on_edge, np.array([left, right])).tolist() == [0]


def test_holes_and_multipolygons():
    holed = shapely.Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (3, 1), (3, 3), (1, 3)]])
    multi = shapely.MultiPolygon([shapely.box(10, 10, 11, 11), shapely.box(20, 20, 21, 21)])
    points = shapely.points([2, 0.5, 20.5], [2, 0.5, 20.5])
    assert assign_to_polygons(points, np.array([holed, multi])).tolist() == [-1, 0, 1]


def test_empty_inputs():
    assert assign_to_polygons(np.array([]), np.array([shapely.box(0, 0, 1, 1)])).size == 0
    assert assign_to_polygons(shapely.points([0.5], [0.5]), np.array([])).tolist() == [-1]


def test_h3_cells_match_h3_py_and_are_signed_64_bit():
    lon = np.array([120.63, 120.64, 120.63])
    lat = np.array([31.31, 31.32, 31.31])
    cells = h3_cells(lon, lat, 9)
    assert cells.dtype == np.int64
    assert (cells > 0).all()
    assert cells.tolist() == [h3.latlng_to_cell(la, lo, 9) for la, lo in zip(lat, lon, strict=True)]
    assert h3_cells(np.array([]), np.array([]), 9).size == 0


def test_heat_rolls_cells_up_and_classes_are_ordered():
    import pandas as pd

    from gis.heat import cell_polygons, heat_classes, to_resolution

    cells = [h3.latlng_to_cell(31.31 + i * 1e-4, 120.63, 9) for i in range(5)]
    counts = pd.DataFrame({"cell": cells, "n": [1, 2, 3, 4, 5]})
    parents = to_resolution(counts, 7)
    assert parents.n.sum() == 15 and len(parents) <= 2
    hexes = cell_polygons(parents)
    assert hexes.geometry.is_valid.all() and hexes.crs.to_epsg() == 4326
    classes = heat_classes(np.array([1, 1, 2, 10, 100, 1000]))
    assert list(classes) == sorted(classes) and classes[0] == classes[1]
