"""The city GridGov serves, in one place: time zone, code formats, grid size, tiles, media.

The lowest layer of the project (no database, no UI): ``gis`` and everything
above it read the city from here.
"""

from city.codes import (
    CODES,
    AreaCode,
    CodeError,
    CodeFormats,
    GridCode,
    GridCodeError,
    community_of_grid,
    is_area_code,
    is_community_code,
    is_part_code,
    is_street_code,
    parse_area_code,
    parse_community_code,
    parse_grid_code,
    parse_part_code,
    parse_street_code,
)
from city.grid_size import SANE_TARGET, GridSize, GridSizeError
from city.profile import (
    CityProfile,
    MediaSettings,
    ProfileError,
    TileSettings,
    load_profile,
    profile,
    time_zone,
)

__all__ = [
    "CODES",
    "SANE_TARGET",
    "AreaCode",
    "CityProfile",
    "CodeError",
    "CodeFormats",
    "GridCode",
    "GridCodeError",
    "GridSize",
    "GridSizeError",
    "MediaSettings",
    "ProfileError",
    "TileSettings",
    "community_of_grid",
    "is_area_code",
    "is_community_code",
    "is_part_code",
    "is_street_code",
    "load_profile",
    "parse_area_code",
    "parse_community_code",
    "parse_grid_code",
    "parse_part_code",
    "parse_street_code",
    "profile",
    "time_zone",
]
