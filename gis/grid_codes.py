"""Grid codes: 15 digits = community code (12) + sequence (3), numbered west→east, north→south.

The layout and the parsers of every kind of code are in :mod:`city.codes`
(see also docs/grids.md).

Sequences are handed out in reading order: grids are cut into north→south bands
about one grid high and numbered west→east inside each band. A redraw never
reuses a sequence: new grids continue after the highest one ever used.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import shapely

from city.codes import (
    CODES,
    GridCode,
    GridCodeError,
    community_of_grid,
    parse_community_code,
    parse_grid_code,
)

__all__ = [
    "MAX_SEQUENCE",
    "GridCode",
    "GridCodeError",
    "community_of_grid",
    "grid_code",
    "highest_sequences",
    "number_grids",
    "parse_grid_code",
    "validate_grid_codes",
]

MAX_SEQUENCE = CODES.max_sequence
_WELL_FORMED = rf"[0-9]{{{CODES.community}}}(?!0{{{CODES.sequence}}})[0-9]{{{CODES.sequence}}}"


def validate_grid_codes(codes: pd.Series) -> None:
    """Raise naming every malformed code (row label and value) of ``codes``."""
    text = codes.astype(str)
    bad = ~text.str.fullmatch(_WELL_FORMED)
    if bad.any():
        shown = ", ".join(f"row {i}: {v!r}" for i, v in text[bad].head(10).items())
        more = f" (and {int(bad.sum()) - 10} more)" if bad.sum() > 10 else ""
        raise GridCodeError(
            f"{int(bad.sum())} grid codes are not {CODES.grid} digits: {shown}{more}"
        )


def grid_code(community_code: str, sequence: int) -> str:
    """The code of grid ``sequence`` of community ``community_code``."""
    parse_community_code(community_code)
    if not 1 <= int(sequence) <= MAX_SEQUENCE:
        raise GridCodeError(
            f"community {community_code}: sequence {sequence} is outside 001-{MAX_SEQUENCE}"
        )
    return f"{community_code}{int(sequence):0{CODES.sequence}d}"


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
    seq = text.str[CODES.community :].astype(int)
    return {str(k): int(v) for k, v in seq.groupby(text.str[: CODES.community]).max().items()}
