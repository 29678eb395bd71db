"""Heat on H3 cells: the resolution a map of an area is drawn at."""

from gis.heat import resolution_for_extent


def test_a_community_gets_fine_hexagons_and_a_city_coarse_ones():
    community = (120.60, 31.30, 120.615, 31.31)  # ~1.4 × 1.1 km
    street = (120.58, 31.28, 120.64, 31.33)  # ~5.7 × 5.6 km: ~300 r9 cells
    city = (120.3, 31.0, 121.0, 31.6)  # ~67 × 67 km
    assert resolution_for_extent(community) == 9
    assert resolution_for_extent(street) == 9
    assert resolution_for_extent(city) == 7
    assert resolution_for_extent((120.4, 31.2, 120.7, 31.45)) == 8  # ~28 × 28 km
    assert resolution_for_extent(None) == 7
