"""The maps load nothing from the internet."""

import re

import folium
import folium.plugins
import pytest

from dashboard.offline import OfflineAssetError, localize_assets


def _urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_every_asset_of_a_map_with_plugins_is_local():
    m = folium.Map(tiles=None)
    folium.plugins.HeatMap([[31.3, 120.6, 1.0]]).add_to(m)
    folium.plugins.MarkerCluster().add_to(m)
    folium.Marker([31.3, 120.6], icon=folium.Icon(icon="info-sign")).add_to(m)
    html = localize_assets(m).get_root().render()
    urls = _urls(html)
    assert urls, "the rendered map references its assets"
    assert all(u.startswith("/app/static/vendor/") for u in urls), urls
    assert "cdn" not in html.lower()


def test_an_unknown_asset_is_refused_rather_than_fetched():
    class Fancy(folium.MacroElement):
        default_js = [("fancy", "https://cdn.example.com/fancy.js")]  # noqa: RUF012

    m = folium.Map(tiles=None)
    m.add_child(Fancy())
    with pytest.raises(OfflineAssetError, match="fancy"):
        localize_assets(m)
