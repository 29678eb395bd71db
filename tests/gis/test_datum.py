"""GCJ-02 / BD-09 conversions: known offsets, exact round trips, no offset abroad."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gis.crs import to_metric, utm_epsg
from gis.datum import (
    DatumError,
    bd09_to_gcj02,
    gcj02_to_bd09,
    parse_datum,
    to_wgs84,
    wgs84_to_gcj02,
)


def _metres(lon1, lat1, lon2, lat2):
    epsg = utm_epsg(float(np.mean(lon1)), float(np.mean(lat1)))
    x1, y1 = to_metric(lon1, lat1, epsg)
    x2, y2 = to_metric(lon2, lat2, epsg)
    return np.hypot(x1 - x2, y1 - y2)


def test_gcj02_offset_in_suzhou_is_hundreds_of_metres():
    lon, lat = np.array([120.63]), np.array([31.31])
    glon, glat = wgs84_to_gcj02(lon, lat)
    offset = _metres(lon, lat, glon, glat)[0]
    assert 300 < offset < 700
    # in eastern China the published offset moves points east and south
    assert 0.003 < glon[0] - lon[0] < 0.006
    assert -0.004 < glat[0] - lat[0] < -0.001


def test_no_offset_outside_china():
    lon, lat = np.array([-122.42, 24.94]), np.array([37.77, 60.17])  # San Francisco, Helsinki
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert np.array_equal(glon, lon) and np.array_equal(glat, lat)


@given(st.floats(100, 125), st.floats(20, 45))
def test_round_trips_are_centimetre_exact(lon, lat):
    w = (np.array([lon]), np.array([lat]))
    g = wgs84_to_gcj02(*w)
    assert _metres(*w, *to_wgs84(*g, "GCJ-02"))[0] < 0.01
    b = gcj02_to_bd09(*g)
    assert _metres(*g, *bd09_to_gcj02(*b))[0] < 0.01
    assert _metres(*w, *to_wgs84(*b, "bd09"))[0] < 0.01


def test_datum_names():
    assert parse_datum("WGS-84") == parse_datum("cgcs2000") == "wgs84"
    assert parse_datum("Gaode") == "gcj02" and parse_datum("BD_09") == "bd09"
    with pytest.raises(DatumError, match="unknown datum 'mars'"):
        parse_datum("mars")
