"""A map split into the base that stays and the layers that are swapped (dashboard.dynamic_map):
every layer is sent with its name, the fit and the legend undo themselves, a stale click is
not taken for one on this map."""

import folium
import geopandas as gpd
import pytest
from shapely.geometry import box
from streamlit_folium import _get_feature_group_string, _get_map_string

from dashboard import dynamic_map, maps

CELLS = gpd.GeoDataFrame(
    {"cell": ["a", "b"], "n": [3, 5], "fill": ["#fee", "#f00"]},
    geometry=[box(120.60, 31.30, 120.61, 31.31), box(120.61, 31.30, 120.62, 31.31)],
    crs="EPSG:4326",
)


def _data_map(extent: tuple[float, float, float, float]) -> folium.Map:
    m = maps.new_map(extent)
    maps.feature_layer(
        CELLS, ["cell", "n"], kind="h3", key="cell", name="热力 Heat", tooltip=["n"], aliases=["n"]
    ).add_to(m)
    maps.Legend("<b>图例 &lt;Legend&gt;</b>").add_to(m)
    return m


def test_the_layers_keep_their_names_and_the_fit_and_legend_go_with_them():
    base = maps.new_map((120.5, 31.2, 120.7, 31.4))
    shown = dynamic_map.split(_data_map((120.60, 31.30, 120.62, 31.31)), base)
    heat, view = shown.groups
    assert heat.layer_name == "热力 Heat" and heat.control
    assert not view.control
    kinds = [type(c).__name__ for c in view._children.values()]
    assert kinds == ["FitView", "LegendLayer"]
    script = "".join(_get_feature_group_string(g, base, i) for i, g in enumerate(shown.groups))
    assert "fitBounds([[31.3, 120.6], [31.31, 120.62]]" in script
    assert 'group.on("remove"' in script  # the legend leaves with its group
    assert "\\u003cb\\u003e" in script and "<b>" not in script  # markup only as escaped JSON
    assert shown.drawn_ids() == {"h3:a", "h3:b"}


def test_the_base_is_the_same_script_whatever_the_data():
    scripts = set()
    for extent in ((120.60, 31.30, 120.62, 31.31), (120.55, 31.25, 120.56, 31.26)):
        base = maps.new_map((120.5, 31.2, 120.7, 31.4))
        dynamic_map.split(_data_map(extent), base)
        scripts.add(_get_map_string(base))
    assert len(scripts) == 1  # one component key: the browser keeps its map


def test_an_element_that_cannot_be_sent_is_refused():
    m = maps.new_map(None)
    folium.Element("<p>x</p>").add_to(m)
    with pytest.raises(TypeError, match="Element"):
        dynamic_map.split(m, maps.new_map(None))


@pytest.mark.parametrize(("ref", "kept"), [("h3:a", True), ("h3:zz", False), (None, False)])
def test_a_click_counts_only_on_a_feature_of_this_map(ref, kept):
    clicked = {"last_active_drawing": {"properties": {maps.FEATURE_ID: ref}}}
    assert (dynamic_map.click_on(clicked, {"h3:a", "h3:b"}) is clicked) is kept
    assert dynamic_map.click_on(None, {"h3:a"}) is None
