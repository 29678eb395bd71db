"""What a redraw reads, checked once: current grids, buildings, communities, barriers, size."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from city import GridSize, community_of_grid, profile
from gis.errors import GridGovError
from gis.grid_codes import highest_sequences, validate_grid_codes


class RedrawError(GridGovError, ValueError):
    """The current grids or the inputs of a redraw are unusable; the message says why."""

    code = "bad_redraw_input"
    kind = "bad_input"


@dataclass(frozen=True)
class RedrawInputs:
    """The inputs of one redraw (all geometry in one projected CRS, metres).

    Attributes
    ----------
    buildings
        Points (or polygons) with a household count in column ``households``.
    communities
        Community polygons with their 12-digit code in ``community_key``.
    barriers
        Lines grids must not cross (major roads, rivers), or None.
    size
        Households per grid: aim and allowed range.
    """

    buildings: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    community_key: str = "code"
    households: str = "households"
    barriers: gpd.GeoSeries | None = None
    size: GridSize | None = None

    @property
    def grid(self) -> GridSize:
        """The grid size to use: ``size``, else the city profile's."""
        return self.size or profile().grid

    def community_polygons(self) -> pd.Series:
        """Community polygons indexed by their code (as text)."""
        comm = self.communities
        return comm.set_index(comm[self.community_key].astype(str)).geometry


def check_crs(*frames: gpd.GeoDataFrame) -> None:
    """Raise unless every frame is in one and the same projected CRS."""
    crs = {str(f.crs) for f in frames if f.crs is not None}
    if len(crs) > 1:
        raise RedrawError(f"grids, buildings and communities must share one CRS, got {crs}")
    for f in frames:
        if f.crs is not None and not f.crs.is_projected:
            raise RedrawError(f"geometry must be in a projected CRS (metres), got {f.crs}")


def current_frame(current: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The current grids with checked codes, their community, and households (NaN if unknown)."""
    if "code" not in current:
        raise RedrawError("the current grids need a 'code' column")
    validate_grid_codes(current.code)
    if current.code.duplicated().any():
        dup = sorted(set(current.code[current.code.duplicated()]))
        raise RedrawError(f"grid codes occur more than once among the current grids: {dup[:10]}")
    out = current.reset_index(drop=True).copy()
    out["code"] = out.code.astype(str)
    out["community"] = out.code.map(community_of_grid)
    if "households" not in out:
        out["households"] = np.nan
    return out


def usable_buildings(
    buildings: gpd.GeoDataFrame, households: str
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Buildings with a location and a non-negative whole household count; the rest set aside."""
    if households not in buildings:
        raise RedrawError(f"the buildings have no {households!r} column")
    hh = pd.to_numeric(buildings[households], errors="coerce")
    geom = buildings.geometry
    why = pd.Series(None, index=buildings.index, dtype=object)
    why[geom.isna() | geom.is_empty] = "no coordinates"
    why[why.isna() & hh.isna()] = f"{households} is missing or not a number"
    why[why.isna() & (hh < 0)] = f"{households} is negative"
    why[why.isna() & (hh != np.floor(hh))] = f"{households} is not a whole number"
    bad = why.notna()
    good = buildings[~bad].copy()
    good[households] = hh[~bad].astype(np.int64)
    reasons = why[bad].to_numpy()
    return good, pd.DataFrame({"row": buildings.index[bad], "reason": reasons, "kind": reasons})


def nearest_grid(
    points: np.ndarray, community: np.ndarray, current: gpd.GeoDataFrame
) -> np.ndarray:
    """For buildings outside every grid: the nearest grid of their own community (-2 if none)."""
    out = np.full(len(points), -2, dtype=np.int64)
    for code in np.unique(community):
        rows = np.flatnonzero(community == code)
        mine = np.flatnonzero(current.community.to_numpy() == code)
        if mine.size == 0:
            continue
        tree = shapely.STRtree(current.geometry.to_numpy()[mine])
        out[rows] = mine[tree.nearest(points[rows])]
    return out


def highest_used(current: gpd.GeoDataFrame, highest: Mapping[str, int] | None) -> dict[str, int]:
    """Highest sequence per community among ``current`` and ``highest`` (retired included)."""
    out = highest_sequences(current.code)
    for code, seq in (highest or {}).items():
        out[str(code)] = max(out.get(str(code), 0), int(seq))
    return out
