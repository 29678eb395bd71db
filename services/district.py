"""The district map: communities, grids, parts and open cases of the user's area.

A whole city has tens of thousands of grids and parts: drawing each would take the
browser tens of seconds (folium slows past a few thousand features). The map draws
each feature while a layer holds at most ``feature_limit`` of them in the chosen area,
and otherwise the communities coloured by their counts (one ``GROUP BY`` per layer);
the counts shown are always the true ones, counted in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import geopandas as gpd
from sqlalchemy.engine import Engine

from layers import areas, cases, grids, parts
from layers.areas import FeatureCounts
from layers.workflow.access import Scope
from services.areas import Extent, narrowed_community
from services.uow import unit_of_work

FEATURE_LIMIT = 3_000
"""Most features of one layer drawn one by one; past it the layer is drawn per community."""
SIMPLIFY_DEG = 1e-4
"""Outline simplification of communities drawn for a whole city (~10 m)."""


@dataclass
class DistrictMap:
    """The layers of the district map, the true counts, and when they were read.

    ``grids`` / ``parts`` are empty when ``aggregated`` names them: then
    ``communities`` carries their counts per community (columns ``grids``,
    ``parts``, ``open_cases``, ``overdue``) and the map draws those.
    """

    extent: Extent | None
    communities: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    parts: gpd.GeoDataFrame
    open_cases: gpd.GeoDataFrame
    open_case_total: int
    now: datetime
    counts: FeatureCounts | None = None
    aggregated: frozenset[str] = frozenset()


def district_map(
    engine: Engine,
    *,
    scope: Scope | None = None,
    now: datetime,
    case_limit: int = 5_000,
    community: str | None = None,
    feature_limit: int = FEATURE_LIMIT,
) -> DistrictMap:
    """Communities (with counts), grids, parts and open cases, everywhere or in one area.

    ``community`` is an area code of any level (district, street, community).
    Open cases: the ``case_limit`` most urgent are drawn, the total is counted.
    """
    community = narrowed_community(scope, community)
    with unit_of_work(engine, scope) as conn:
        counts = areas.feature_counts(conn=conn, now=now, community=community)
        many = {
            layer
            for layer, n in (("grids", counts.grids), ("parts", counts.parts))
            if n > feature_limit
        }
        tolerance = SIMPLIFY_DEG if counts.communities > feature_limit else 0.0
        per_community = areas.area_counts(
            conn=conn, now=now, community=community, simplify_deg=tolerance
        )
        return DistrictMap(
            extent=areas.extent(conn=conn, community=community),
            communities=per_community,
            grids=(
                gpd.GeoDataFrame()
                if "grids" in many
                else grids.current_grids(conn=conn, community=community)
            ),
            parts=(
                gpd.GeoDataFrame()
                if "parts" in many
                else parts.parts(conn=conn, community=community)
            ),
            open_cases=cases.open_cases(conn=conn, now=now, limit=case_limit, community=community),
            open_case_total=counts.open_cases,
            now=now,
            counts=counts,
            aggregated=frozenset(many),
        )
