"""Every map feature carries its id, and a click is known by that id, not by tooltip text."""

import folium
import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

from dashboard import maps

CASES = gpd.GeoDataFrame(
    {
        "id": [11, 12, 13],
        # an Open311 number, an imported one and a demo one: all three must be pickable
        "case_no": ["R20261120000042", "sf311-1757188", "320508001001023"],
        "category_zh": ["垃圾"] * 3,
        "category_en": ["Litter"] * 3,
        "status": ["reported", "dispatched", "in_handling"],
        "status_zh": ["已上报", "已派遣", "处置中"],
        "status_en": ["Reported", "Dispatched", "In handling"],
        "overdue": [False, True, False],
        "deadline_at": pd.to_datetime(["2026-11-21 10:00"] * 3),
        "hours_left": [3.0, -1.5, 8.0],
    },
    geometry=[Point(120.6, 31.3), Point(120.61, 31.3), Point(120.62, 31.3)],
    crs="EPSG:4326",
).rename_geometry("geom")


def _features(m: folium.Map) -> list[dict]:
    layers = [c for c in m._children.values() if isinstance(c, folium.GeoJson)]
    return [f for layer in layers for f in layer.data["features"]]


def test_case_markers_carry_their_case_id():
    m = maps.new_map(None)
    maps.add_open_cases(m, CASES, "zh")
    ids = [f["properties"][maps.FEATURE_ID] for f in _features(m)]
    assert ids == ["case:11", "case:12", "case:13"]


def test_every_layer_kind_carries_ids():
    square = box(120.6, 31.3, 120.61, 31.31)
    m = maps.new_map(None)
    maps.add_communities(
        m,
        gpd.GeoDataFrame(
            {"code": ["320508001001"], "name_zh": ["甲"], "name_en": ["A"], "households": [9]},
            geometry=[square],
            crs="EPSG:4326",
        ).rename_geometry("geom"),
        "en",
    )
    maps.add_grids(
        m,
        gpd.GeoDataFrame(
            {"code": ["320508001001001"], "households": [400], "worker_code": ["W1"]},
            geometry=[square],
            crs="EPSG:4326",
        ).rename_geometry("geom"),
        "en",
    )
    maps.add_tracks(
        m,
        gpd.GeoDataFrame(
            {"worker_code": ["W1"], "day": [pd.Timestamp("2026-11-20").date()]},
            geometry=[LineString([(120.6, 31.3), (120.61, 31.31)])],
            crs="EPSG:4326",
        ).rename_geometry("geom"),
        "en",
    )
    ids = [f["properties"][maps.FEATURE_ID] for f in _features(m)]
    assert ids == ["community:320508001001", "grid:320508001001001", "track:W1@2026-11-20"]


@pytest.mark.parametrize(
    ("clicked", "kind", "expected"),
    [
        ({"last_active_drawing": {"properties": {"feature_id": "case:12"}}}, "case", "12"),
        ({"last_active_drawing": {"properties": {"feature_id": "grid:3205"}}}, "case", None),
        ({"last_active_drawing": {"properties": {"feature_id": "grid:3205"}}}, "grid", "3205"),
        ({"last_active_drawing": {"properties": {}}}, "case", None),
        ({"last_active_drawing": None}, "case", None),
        (None, "case", None),
    ],
)
def test_a_click_is_known_by_the_feature_id(clicked, kind, expected):
    assert maps.selected_id(clicked, kind) == expected
