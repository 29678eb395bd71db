"""Coordinates on entry: datum and projected CRS conversion, point text, H3 parents."""

from pathlib import Path

import h3.api.basic_int as h3
import numpy as np
import pandas as pd
import shapely

from gis.assign import assign_to_polygons, polygons_containing
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
