"""The district map: communities, grids, parts and open cases of the user's area."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import geopandas as gpd
from sqlalchemy.engine import Engine

from layers import areas, cases, grids, parts
from layers.workflow.access import Scope
from services.areas import Extent, narrowed_community
from services.uow import unit_of_work


@dataclass
class DistrictMap:
    """The layers of the district map and when they were read."""

    extent: Extent | None
    communities: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    parts: gpd.GeoDataFrame
    open_cases: gpd.GeoDataFrame
    open_case_total: int
    now: datetime


def district_map(
    engine: Engine,
    *,
    scope: Scope | None = None,
    now: datetime,
    case_limit: int = 5_000,
    community: str | None = None,
) -> DistrictMap:
    """Communities, current grids, parts and open cases (everywhere, or in ``community``)."""
    community = narrowed_community(scope, community)
    with unit_of_work(engine, scope) as conn:
        return DistrictMap(
            extent=areas.extent(conn=conn, community=community),
            communities=areas.communities(conn=conn, community=community),
            grids=grids.current_grids(conn=conn, community=community),
            parts=parts.parts(conn=conn, community=community),
            open_cases=cases.open_cases(conn=conn, now=now, limit=case_limit, community=community),
            open_case_total=cases.count_open(conn=conn, community=community),
            now=now,
        )
