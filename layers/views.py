"""What the dashboard pages show: one call per page, each opening its own read-only unit.

Pages hold no SQL: they call these with the engine and get plain tables back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import geopandas as gpd
from sqlalchemy.engine import Engine

from layers import areas, cases, grids, parts


@dataclass
class DistrictMap:
    """The layers of the district map and when they were read."""

    extent: tuple[float, float, float, float] | None
    communities: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    parts: gpd.GeoDataFrame
    open_cases: gpd.GeoDataFrame
    open_case_total: int
    now: datetime


def district_map(engine: Engine, *, now: datetime, case_limit: int = 5_000) -> DistrictMap:
    """Communities, current grids, parts and open cases for the district map."""
    with engine.connect() as conn:
        return DistrictMap(
            extent=areas.extent(conn=conn),
            communities=areas.communities(conn=conn),
            grids=grids.current_grids(conn=conn),
            parts=parts.parts(conn=conn),
            open_cases=cases.open_cases(conn=conn, now=now, limit=case_limit),
            open_case_total=cases.count_open(conn=conn),
            now=now,
        )
