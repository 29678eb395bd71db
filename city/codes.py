"""The city's administrative codes: their formats, and one parser per kind of code.

Layout (GB/T 2260 area code + street and community sequence; see docs/grids.md)::

    320508 001 003 017
    │      │   │   └── sequence of the grid inside its community (001-999)
    │      │   └────── community (社区) inside the street
    │      └────────── street / town (街道/镇) inside the area
    └───────────────── area: county-level administrative division code (区/县)

A street code has 9 digits, a community code 12, a grid code 15 and a part
(facility) ID code 16 or 17. These lengths are also the database's (column
checks in the migrations), so they are fixed here rather than configurable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from city.errors import GridGovError


class CodeError(GridGovError, ValueError):
    """A code that does not have the format of its kind; the message names the code."""

    code = "bad_code"


class GridCodeError(CodeError):
    """A grid code is malformed, or a community has run out of sequence numbers."""

    code = "bad_grid_code"


@dataclass(frozen=True)
class CodeFormats:
    """Digits of each kind of code."""

    area: int = 6
    street: int = 9
    community: int = 12
    grid: int = 15
    part: tuple[int, ...] = (16, 17)
    max_sequence: int = 999

    @property
    def sequence(self) -> int:
        """Digits of a grid's sequence inside its community."""
        return self.grid - self.community


CODES = CodeFormats()
"""The code formats in use (the national layout)."""

_DIGITS = re.compile(r"^[0-9]+$")


def _digits(code: object) -> str | None:
    text = str(code) if code is not None else ""
    return text if _DIGITS.match(text) else None


def is_street_code(code: object) -> bool:
    """Is ``code`` a 9-digit street code?"""
    text = _digits(code)
    return text is not None and len(text) == CODES.street


def is_community_code(code: object) -> bool:
    """Is ``code`` a 12-digit community code?"""
    text = _digits(code)
    return text is not None and len(text) == CODES.community


def is_part_code(code: object) -> bool:
    """Is ``code`` a 16- or 17-digit part ID code?"""
    text = _digits(code)
    return text is not None and len(text) in CODES.part


def is_area_code(code: object) -> bool:
    """Is ``code`` a 9-digit street or a 12-digit community code?"""
    return is_street_code(code) or is_community_code(code)


@dataclass(frozen=True)
class AreaCode:
    """A street or community code, as an area-scoped role or a filter names it."""

    code: str
    kind: Literal["street", "community"]

    @property
    def street(self) -> str:
        """The 9-digit street code (the area itself for a street)."""
        return self.code[: CODES.street]


def parse_area_code(code: object) -> AreaCode:
    """A 9-digit street or 12-digit community code.

    Raises
    ------
    CodeError
        ``code`` is neither.
    """
    if is_street_code(code):
        return AreaCode(str(code), "street")
    if is_community_code(code):
        return AreaCode(str(code), "community")
    raise CodeError(
        f"area {code!r} is not a {CODES.street}-digit street or "
        f"{CODES.community}-digit community code"
    )


def parse_street_code(code: object) -> str:
    """``code`` when it is a 9-digit street code.

    Raises
    ------
    CodeError
        It is not.
    """
    if not is_street_code(code):
        raise CodeError(f"street code {code!r} is not {CODES.street} digits")
    return str(code)


def parse_community_code(code: object) -> str:
    """``code`` when it is a 12-digit community code.

    Raises
    ------
    GridCodeError
        It is not (a grid's community code is part of the grid code).
    """
    if not is_community_code(code):
        raise GridCodeError(f"community code {code!r} is not {CODES.community} digits")
    return str(code)


@dataclass(frozen=True)
class GridCode:
    """The parts of a 15-digit grid code."""

    area: str
    street: str
    community: str
    sequence: int

    @property
    def community_code(self) -> str:
        """The 12-digit code of the community the grid belongs to."""
        return self.area + self.street + self.community

    @property
    def street_code(self) -> str:
        """The 9-digit code of the street the grid belongs to."""
        return self.area + self.street

    def __str__(self) -> str:
        return f"{self.community_code}{self.sequence:0{CODES.sequence}d}"


def parse_grid_code(code: object) -> GridCode:
    """Split a grid code into area, street, community and sequence.

    Raises
    ------
    GridCodeError
        ``code`` is not 15 digits, or its sequence is 000.
    """
    text = str(code)
    if _digits(text) is None or len(text) != CODES.grid:
        raise GridCodeError(
            f"grid code {text!r} is not {CODES.grid} digits (area {CODES.area} + street "
            f"{CODES.street - CODES.area} + community {CODES.community - CODES.street} + "
            f"sequence {CODES.sequence})"
        )
    if int(text[CODES.community :]) == 0:
        raise GridCodeError(f"grid code {text!r}: sequence 000 is not used (they start at 001)")
    a, s, c = CODES.area, CODES.street, CODES.community
    return GridCode(text[:a], text[a:s], text[s:c], int(text[c:]))


def community_of_grid(code: str) -> str:
    """The 12-digit community code a (well-formed) grid code begins with."""
    return code[: CODES.community]


def parse_part_code(code: object) -> str:
    """``code`` when it is a 16- or 17-digit part ID code.

    Raises
    ------
    CodeError
        It is not.
    """
    if not is_part_code(code):
        lengths = " or ".join(str(n) for n in CODES.part)
        raise CodeError(f"part code {code!r} is not {lengths} digits")
    return str(code)
