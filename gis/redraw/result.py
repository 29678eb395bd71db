"""The result of a redraw: the proposal, its change list, and how buildings are placed."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

from gis.delineate import Delineation
from gis.grid_quality import QualityReport
from gis.redraw.reasons import Action


@dataclass(frozen=True)
class Redraw:
    """A proposed delineation and how it differs from the grids in force.

    Attributes
    ----------
    grids
        The proposal: code, community, households, n_buildings, oversized,
        action (kept/changed/new), previous (the code it continues, or None),
        geometry.
    changes
        One row per old or new grid: code, community, action,
        households_before, households_after, reason (a typed
        :class:`gis.redraw.reasons.Reason`; ``dashboard.redraw_text`` words it).
        Retired grids appear here only.
    assignment
        Input building index → row position in ``grids`` (buildings set aside
        are not in it).
    set_aside
        Buildings not placed: row (input index), reason.
    report
        Quality report of the whole proposal (:mod:`gis.grid_quality`).
    delineations
        The delineation of each re-delineated cluster or community.
    """

    grids: gpd.GeoDataFrame
    changes: pd.DataFrame
    assignment: pd.Series
    set_aside: pd.DataFrame
    report: QualityReport
    delineations: list[Delineation] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of grids per action (kept, changed, retired, new)."""
        got = self.changes.action.value_counts()
        return {str(a): int(got.get(str(a), 0)) for a in Action}
