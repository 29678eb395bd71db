"""Coordinates on entry: datum and projected CRS conversion, point text, H3 parents."""

from pathlib import Path

import h3.api.basic_int as h3
import numpy as np
import pandas as pd
import shapely
from shapely import affinity

from gis.assign import MANY_POLYGONS, assign_to_polygons, h3_cells_multi, polygons_containing
from gis.crs import to_metric
from gis.datum import gcj02_to_wgs84
from layers.ingest import load_cases, mapping_from_dict
from layers.ingest.assignment import h3_columns
from layers.ingest.readers import SourceFrame
from layers.ingest.validation import Rejections, coordinates, parse_times
from tests.ingest.conftest import SF_IN, write_cases_csv

COLUMNS = {"source_id": "id", "lon": "x", "lat": "y"}


def _frame(x, y):
    frame = pd.DataFrame({"id": ["1"], "x": [str(x)], "y": [str(y)]})
    return SourceFrame(frame, None, None, Path("t.csv"))


def test_gcj02_is_converted_to_wgs84():
    mapping = mapping_from_dict(
        {
            "layer": "buildings",
            "source": "t",
            "datum": "GCJ-02",
            "default_households": 1,
            "columns": COLUMNS,
        }
    )
    lon, lat = coordinates(_frame(120.63, 31.31), mapping, Rejections(1))
    expected = gcj02_to_wgs84(np.array([120.63]), np.array([31.31]))
    assert np.allclose([lon[0], lat[0]], [expected[0][0], expected[1][0]], atol=1e-9)
    assert abs(lon[0] - 120.63) > 1e-3  # the offset is real inside China


def test_projected_coordinates_are_converted_and_load_inside_the_area(iconn, tmp_path):
    x, y = to_metric(np.array([SF_IN[0]]), np.array([SF_IN[1]]), 32610)
    path = write_cases_csv(
        tmp_path / "utm.csv", [{"longitude": f"{x[0]:.3f}", "latitude": f"{y[0]:.3f}"}]
    )
    mapping = mapping_from_dict(
        {
            "layer": "cases",
            "source": "utm-test",
            "crs": "EPSG:32610",
            "categories": {"Graffiti": "E0202"},
            "columns": {
                "source_id": "unique_key",
                "lon": "longitude",
                "lat": "latitude",
                "category": "category",
                "reported_at": "created_date",
            },
        }
    )
    account = load_cases(path, mapping, conn=iconn, commit=False)
    assert account.loaded == 1


def test_point_text_in_wkt_and_socrata_order():
    mapping = mapping_from_dict(
        {
            "layer": "buildings",
            "source": "t",
            "default_households": 1,
            "columns": {"source_id": "id", "point": "p"},
        }
    )
    frame = pd.DataFrame({"id": ["1", "2"], "p": ["POINT (-122.4 37.7)", "(37.7, -122.4)"]})
    lon, lat = coordinates(SourceFrame(frame, None, None, Path("t")), mapping, Rejections(2))
    assert np.allclose(lon, -122.4) and np.allclose(lat, 37.7)


def test_naive_times_are_local_and_offsets_are_kept():
    mapping = mapping_from_dict(
        {
            "layer": "buildings",
            "source": "t",
            "default_households": 1,
            "timezone": "America/Los_Angeles",
            "columns": COLUMNS,
        }
    )
    times = parse_times(pd.Series(["2019-07-01 10:00:00", "2019-07-01 10:00:00 UTC", "x"]), mapping)
    assert times[0] == pd.Timestamp("2019-07-01 17:00", tz="UTC")
    assert times[1] == pd.Timestamp("2019-07-01 10:00", tz="UTC")
    assert pd.isna(times[2])


def test_h3_cells_and_fast_polygon_assignment_agree_with_the_references():
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(120.5, 120.7, 2_000), rng.uniform(31.2, 31.4, 2_000)
    cols = h3_columns(lon, lat)
    for res in (7, 8, 9, 10):
        expected = [h3.latlng_to_cell(a, b, res) for a, b in zip(lat, lon, strict=True)]
        assert cols[f"h3_r{res}"].tolist() == expected
    boxes = np.array(
        [shapely.box(120.5 + i * 0.05, 31.2, 120.55 + i * 0.05, 31.4) for i in range(4)],
        dtype=object,
    )
    lon[:10] = 120.55  # on a shared edge: the lower index wins in both
    assert (
        polygons_containing(boxes, lon, lat) == assign_to_polygons(shapely.points(lon, lat), boxes)
    ).all()


def _h3_reference(lon, lat, res):
    return np.array([h3.latlng_to_cell(a, b, res) for a, b in zip(lat, lon, strict=True)])


def test_bulk_h3_equals_h3_py_everywhere_incl_face_edges_and_pentagons():
    """The lattice-grouped H3 of gis.assign gives h3-py's cell for every point."""
    rng = np.random.default_rng(11)
    world_lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 20_000)))
    world_lon = rng.uniform(-180, 180, 20_000)
    # dense clusters around the 12 pentagons and along icosahedron edges
    centres = np.array([h3.cell_to_latlng(c) for c in h3.get_pentagons(0)])
    near_lat = np.repeat(centres[:, 0], 1_000) + rng.normal(0, 0.05, 12_000)
    near_lon = np.repeat(centres[:, 1], 1_000) + rng.normal(0, 0.05, 12_000)
    a, b = np.radians(centres[0]), np.radians(centres[1])
    t = rng.uniform(0, 1, 8_000)
    edge_lat = np.degrees(a[0] + t * (b[0] - a[0])) + rng.normal(0, 1e-4, 8_000)
    edge_lon = np.degrees(a[1] + t * (b[1] - a[1])) + rng.normal(0, 1e-4, 8_000)
    city_lon = np.round(rng.uniform(-122.52, -122.35, 60_000), 6)
    city_lat = np.round(rng.uniform(37.70, 37.83, 60_000), 6)
    for lon, lat in [
        (world_lon, world_lat),
        (near_lon, np.clip(near_lat, -89.9, 89.9)),
        (edge_lon, edge_lat),
        (city_lon, city_lat),
    ]:
        cells = h3_cells_multi(lon, lat, (7, 8, 9, 10))
        for res in (7, 8, 9, 10):
            assert cells[res].dtype == np.int64
            assert (cells[res] == _h3_reference(lon, lat, res)).all(), res


def test_many_polygons_take_the_strtree_path_with_the_same_answer():
    rng = np.random.default_rng(12)
    boxes = np.array(
        [shapely.box(x, y, x + 1, y + 1) for x in range(30) for y in range(20)],
        dtype=object,
    )  # 600 boxes sharing edges: above MANY_POLYGONS
    assert len(boxes) > MANY_POLYGONS
    lon, lat = rng.uniform(-1, 31, 5_000), rng.uniform(-1, 21, 5_000)
    lon[:50] = 3.0  # on edges shared by two boxes
    looped = np.full(len(lon), -1)
    for k in range(len(boxes) - 1, -1, -1):
        looped[shapely.intersects_xy(boxes[k], lon, lat)] = k
    assert (polygons_containing(boxes, lon, lat) == looped).all()


def _first_hit_reference(polygons, lon, lat):
    """Each point against every polygon, the lowest index kept (no bins, no boxes)."""
    looped = np.full(len(lon), -1)
    for k in range(len(polygons) - 1, -1, -1):
        if not shapely.is_empty(polygons[k]):
            looped[shapely.intersects_xy(polygons[k], lon, lat)] = k
    return looped


def test_binned_points_find_the_polygons_of_a_scan_of_every_point():
    """Rotated, concave and touching polygons, an empty one; points on their vertices and
    edges (the extent's own edges too), outside, and NaN: the answer of a plain scan."""
    rng = np.random.default_rng(21)
    polygons = [
        affinity.rotate(shapely.box(x, y, x + 0.9, y + 0.7), rng.uniform(0, 90))
        for x in range(4)
        for y in range(3)
    ]
    polygons += [
        shapely.Polygon([(0, 0), (4, 0), (4, 3), (3.5, 0.5), (0, 3)]),  # concave, over others
        shapely.Polygon(),
        shapely.box(4, 3, 4.0, 3.5),  # degenerate, on the extent's corner
    ]
    polygons = np.array(polygons, dtype=object)
    lon, lat = rng.uniform(-0.5, 4.5, 20_000), rng.uniform(-0.5, 3.5, 20_000)
    vertices = shapely.get_coordinates(polygons)
    lon[: len(vertices)], lat[: len(vertices)] = vertices[:, 0], vertices[:, 1]
    x0, y0, x1, y1 = shapely.total_bounds(polygons)
    lon[-4:], lat[-4:] = [x0, x1, x1, x0], [y0, y1, y0, y1]
    lon[-10:-4] = np.nan
    found = polygons_containing(polygons, lon, lat)
    assert (found == _first_hit_reference(polygons, lon, lat)).all()
    assert (found >= 0).sum() > 10_000 and (found[-10:-4] == -1).all()
    one = np.array([shapely.box(2, 2, 2, 3)], dtype=object)  # an extent of no width
    x, y = np.array([2.0, 2.0, 2.1]), np.array([2.5, 4.0, 2.5])
    assert (polygons_containing(one, x, y) == _first_hit_reference(one, x, y)).all()
