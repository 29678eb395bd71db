"""What the dashboard pages show: one call per page, each opening its own read-only unit.

Pages hold no SQL: they call these with the engine and get plain tables back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import geopandas as gpd
import pandas as pd
from sqlalchemy.engine import Engine

from layers import areas, cases, catalogue, grids, parts, rollups


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


@dataclass
class LeaderHeat:
    """Case counts per H3 r9 cell and per day for a time window."""

    extent: tuple[float, float, float, float] | None
    days: tuple[date, date] | None
    cells: pd.DataFrame
    daily: pd.DataFrame
    majors: pd.DataFrame


def leader_heat(
    engine: Engine,
    *,
    start: date | None = None,
    end: date | None = None,
    categories: list[str] | None = None,
) -> LeaderHeat:
    """Heat and trend of cases between ``start`` and ``end`` (default: the whole rollup)."""
    with engine.connect() as conn:
        days = rollups.day_range(conn=conn)
        if days is None:
            empty = pd.DataFrame()
            return LeaderHeat(
                areas.extent(conn=conn), None, empty, empty, catalogue.major_categories(conn=conn)
            )
        start, end = start or days[0], end or days[1]
        return LeaderHeat(
            extent=areas.extent(conn=conn),
            days=days,
            cells=rollups.counts_by_h3(conn=conn, start=start, end=end, categories=categories),
            daily=rollups.daily_counts(conn=conn, start=start, end=end),
            majors=catalogue.major_categories(conn=conn),
        )
