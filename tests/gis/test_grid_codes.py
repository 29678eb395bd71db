"""Grid codes: layout, validation, west→east / north→south numbering."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from gis.grid_codes import (
    GridCodeError,
    grid_code,
    highest_sequences,
    number_grids,
    parse_grid_code,
    validate_grid_codes,
)

COMMUNITY = "320508001003"


def _lattice(nx: int, ny: int, side: float = 100.0) -> list[shapely.Geometry]:
    """Square grids, listed south→north then east→west (not reading order on purpose)."""
    return [
        shapely.box(x * side, y * side, (x + 1) * side, (y + 1) * side)
        for y in range(ny)
        for x in reversed(range(nx))
    ]


def test_parse_splits_area_street_community_sequence():
    code = parse_grid_code("320508001003017")
    assert (code.area, code.street, code.community, code.sequence) == ("320508", "001", "003", 17)
    assert code.community_code == COMMUNITY
    assert str(code) == "320508001003017"


@pytest.mark.parametrize("bad", ["32050800100301", "3205080010030170", "32050800100301x", ""])
def test_parse_rejects_codes_that_are_not_15_digits(bad):
    with pytest.raises(GridCodeError, match="not 15 digits"):
        parse_grid_code(bad)


def test_sequence_000_is_not_a_grid():
    with pytest.raises(GridCodeError, match="000"):
        parse_grid_code("320508001003000")


def test_validate_names_the_bad_rows():
    codes = pd.Series(["320508001003001", "32050800100", "320508001003000"], index=[5, 6, 7])
    with pytest.raises(GridCodeError, match=r"2 grid codes.*row 6: '32050800100'.*row 7"):
        validate_grid_codes(codes)


def test_grid_code_checks_its_parts():
    assert grid_code(COMMUNITY, 7) == "320508001003007"
    with pytest.raises(GridCodeError, match="12 digits"):
        grid_code("3205080010", 1)
    with pytest.raises(GridCodeError, match="outside 001-999"):
        grid_code(COMMUNITY, 1000)


def test_numbering_reads_west_to_east_then_north_to_south():
    geoms = _lattice(3, 2)
    codes = number_grids(pd.Series([COMMUNITY] * 6), geoms)
    seq = codes.str[12:].astype(int).to_numpy()
    centroids = shapely.centroid(np.array(geoms))
    order = np.argsort(seq)
    xs, ys = shapely.get_x(centroids)[order], shapely.get_y(centroids)[order]
    # first row: the northern band, west to east; then the southern band
    assert list(ys) == [150, 150, 150, 50, 50, 50]
    assert list(xs) == [50, 150, 250, 50, 150, 250]


def test_jittered_rows_stay_in_one_band():
    # centroids wobble by a few metres: still one row, still west→east
    geoms = [shapely.box(x, dy, x + 100, dy + 100) for x, dy in [(200, 7), (0, -6), (100, 3)]]
    codes = number_grids(pd.Series([COMMUNITY] * 3), geoms)
    assert list(codes) == ["320508001003003", "320508001003001", "320508001003002"]


def test_numbering_is_per_community_and_continues_after_start():
    other = "320508001004"
    geoms = _lattice(2, 1) + _lattice(2, 1)
    communities = pd.Series([COMMUNITY, COMMUNITY, other, other])
    codes = number_grids(communities, geoms, start={other: 13})
    assert sorted(codes[:2]) == ["320508001003001", "320508001003002"]
    assert sorted(codes[2:]) == ["320508001004013", "320508001004014"]


def test_numbering_is_deterministic_under_reordering():
    geoms = _lattice(4, 3)
    communities = pd.Series([COMMUNITY] * len(geoms))
    first = number_grids(communities, geoms)
    perm = np.random.default_rng(1).permutation(len(geoms))
    second = number_grids(communities, [geoms[i] for i in perm])
    assert list(second) == list(first.to_numpy()[perm])


def test_sequence_full_is_an_error():
    geoms = _lattice(2, 1)
    with pytest.raises(GridCodeError, match="would pass 999"):
        number_grids(pd.Series([COMMUNITY] * 2), geoms, start={COMMUNITY: 999})


def test_highest_sequences_per_community():
    codes = pd.Series(["320508001003001", "320508001003012", "320508001004002", None])
    assert highest_sequences(codes) == {"320508001003": 12, "320508001004": 2}
    assert highest_sequences(pd.Series([], dtype=object)) == {}
