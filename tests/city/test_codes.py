"""Code formats: one parser per kind of code (street 9, community 12, grid 15, part 16/17)."""

from __future__ import annotations

import pytest

from city import (
    CODES,
    CodeError,
    GridCodeError,
    is_community_code,
    is_street_code,
    parse_area_code,
    parse_community_code,
    parse_grid_code,
    parse_part_code,
    parse_street_code,
)


def test_a_grid_code_splits_into_its_parts():
    code = parse_grid_code("320508001003017")
    assert (code.area, code.street, code.community, code.sequence) == ("320508", "001", "003", 17)
    assert code.community_code == "320508001003"
    assert code.street_code == "320508001"
    assert str(code) == "320508001003017"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("32050800100301", "not 15 digits"),
        ("3205080010030170", "not 15 digits"),
        ("32050800100301x", "not 15 digits"),
        ("320508001003000", "sequence 000"),
        ("", "not 15 digits"),
    ],
)
def test_malformed_grid_codes_are_refused(text, message):
    with pytest.raises(GridCodeError, match=message):
        parse_grid_code(text)


def test_areas_are_a_street_or_a_community():
    assert parse_area_code("320508001").kind == "street"
    community = parse_area_code("320508001003")
    assert community.kind == "community"
    assert community.street == "320508001"
    for bad in ("32050800", "3205080010031", "32050800100a", None):
        with pytest.raises(CodeError, match="9-digit street or 12-digit community"):
            parse_area_code(bad)
    assert is_street_code("320508001") and not is_street_code("320508001003")
    assert is_community_code("320508001003") and not is_community_code(320508001)


def test_street_community_and_part_codes():
    assert parse_street_code("320508001") == "320508001"
    with pytest.raises(CodeError, match="not 9 digits"):
        parse_street_code("32050800")
    assert parse_community_code("320508001003") == "320508001003"
    with pytest.raises(GridCodeError, match="not 12 digits"):
        parse_community_code("320508001")
    assert parse_part_code("3205080010030001") == "3205080010030001"
    assert parse_part_code("32050800100300001") == "32050800100300001"
    with pytest.raises(CodeError, match="not 16 or 17 digits"):
        parse_part_code("320508001003")


def test_the_formats_fit_together():
    assert CODES.area < CODES.street < CODES.community < CODES.grid
    assert CODES.sequence == 3 and CODES.max_sequence == 10**CODES.sequence - 1
