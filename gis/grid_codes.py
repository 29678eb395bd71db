"""Grid codes: 15 digits = community code (12) + sequence (3), numbered west→east, north→south.

Layout (see docs/grids.md)::

    320508 001 003 017
    │      │   │   └── sequence of the grid inside its community (001-999)
    │      │   └────── community (社区) inside the street
    │      └────────── street / town (街道/镇) inside the area
    └───────────────── area: county-level administrative division code (区/县)

Sequences are handed out in reading order: grids are cut into north→south bands
about one grid high and numbered west→east inside each band. A redraw never
reuses a sequence: new grids continue after the highest one ever used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from gis.errors import GridGovError

CODE_RE = re.compile(r"^[0-9]{15}$")
COMMUNITY_RE = re.compile(r"^[0-9]{12}$")
MAX_SEQUENCE = 999


class GridCodeError(GridGovError, ValueError):
    """A grid code is malformed, or a community has run out of sequence numbers."""

    code = "bad_grid_code"
    kind = "bad_input"


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

    def __str__(self) -> str:
        return f"{self.community_code}{self.sequence:03d}"


def parse_grid_code(code: str) -> GridCode:
    """Split a grid code into area, street, community and sequence.

    Raises
    ------
    GridCodeError
        ``code`` is not 15 digits, or its sequence is 000.
    """
    text = str(code)
    if not CODE_RE.match(text):
        raise GridCodeError(
            f"grid code {text!r} is not 15 digits (area 6 + street 3 + community 3 + sequence 3)"
        )
    if text[12:] == "000":
        raise GridCodeError(f"grid code {text!r}: sequence 000 is not used (they start at 001)")
    return GridCode(text[:6], text[6:9], text[9:12], int(text[12:]))


def validate_grid_codes(codes: pd.Series) -> None:
    """Raise naming every malformed code (row label and value) of ``codes``."""
    text = codes.astype(str)
    bad = ~text.str.fullmatch(r"[0-9]{12}(?!000)[0-9]{3}")
    if bad.any():
        shown = ", ".join(f"row {i}: {v!r}" for i, v in text[bad].head(10).items())
        more = f" (and {int(bad.sum()) - 10} more)" if bad.sum() > 10 else ""
        raise GridCodeError(f"{int(bad.sum())} grid codes are not 15 digits: {shown}{more}")


def grid_code(community_code: str, sequence: int) -> str:
    """The code of grid ``sequence`` of community ``community_code``."""
    if not COMMUNITY_RE.match(str(community_code)):
        raise GridCodeError(f"community code {community_code!r} is not 12 digits")
    if not 1 <= int(sequence) <= MAX_SEQUENCE:
        raise GridCodeError(
            f"community {community_code}: sequence {sequence} is outside 001-{MAX_SEQUENCE}"
        )
    return f"{community_code}{int(sequence):03d}"


def number_grids(
    community: pd.Series,
    geometry: np.ndarray | pd.Series,
    *,
    start: Mapping[str, int] | None = None,
    band_height: float | None = None,
) -> pd.Series:
    """Codes for new grids: west→east inside north→south bands, per community.

    Parameters
    ----------
    community
        12-digit community code of each grid.
    geometry
        Grid polygons, in a projected CRS (metres) so that bands are level.
    start
        First sequence per community (default 1), e.g. one past the highest
        sequence the community has ever used, so that retired codes are never
        reused.
    band_height
        Height of a band in CRS units. Default: per community, the median
        ``sqrt(area)`` of its grids (about one grid high), so that each band
        holds one row of grids.

    Returns
    -------
    pandas.Series
        The 15-digit code of each grid, aligned with ``community``.

    Raises
    ------
    GridCodeError
        A community code is not 12 digits, or a community would pass 999 grids.

    Notes
    -----
    Bands are counted down from the northernmost grid centroid of the
    community; the order depends only on the geometry, so it is repeatable.
    Ties (same band, same x) are broken by y (north first), then by input order.
    """
    community = pd.Series(community).astype(str).reset_index(drop=True)
    geoms = np.asarray(geometry, dtype=object)
    if len(geoms) != len(community):
        raise ValueError("community and geometry differ in length")
    codes = pd.Series(np.empty(len(geoms), dtype=object), dtype=object)
    if len(geoms) == 0:
        return codes
    centroid = shapely.centroid(geoms)
    cx, cy = shapely.get_x(centroid), shapely.get_y(centroid)
    side = np.sqrt(shapely.area(geoms))
    start = start or {}
    for code, idx in community.groupby(community, sort=True).groups.items():
        rows = np.asarray(idx)
        height = band_height or float(np.median(side[rows])) or 1.0
        band = np.floor((cy[rows].max() - cy[rows]) / height)
        order = rows[np.lexsort((rows, -cy[rows], cx[rows], band))]
        first = int(start.get(str(code), 1))
        if first + len(order) - 1 > MAX_SEQUENCE:
            raise GridCodeError(
                f"community {code}: {len(order)} grids from sequence {first:03d} would pass "
                f"{MAX_SEQUENCE}; the 3-digit sequence is full"
            )
        for k, row in enumerate(order):
            codes[row] = grid_code(str(code), first + k)
    return codes


def highest_sequences(codes: pd.Series) -> dict[str, int]:
    """The highest sequence used per community among ``codes`` (retired ones included)."""
    text = pd.Series(codes, dtype=object).dropna().astype(str)
    if text.empty:
        return {}
    validate_grid_codes(text)
    seq = text.str[12:].astype(int)
    return {str(k): int(v) for k, v in seq.groupby(text.str[:12]).max().items()}
