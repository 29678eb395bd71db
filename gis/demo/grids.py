"""The demo's grids: the street's communities delineated by :func:`gis.delineate.delineate`."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from city import GridSize
from gis.delineate import delineate
from gis.demo.geography import Geography
from gis.grid_codes import number_grids


def demo_grids(geo: Geography, size: GridSize | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Delineate every community of ``geo`` into grids of ``size`` (the profile's) and code them.

    Major roads are the barriers. Returns the grids (community_idx,
    community_code, code, households, n_buildings, oversized, geometry; metric
    CRS of ``geo``) and, per building, the row of its grid.
    """
    b = geo.buildings
    buildings = gpd.GeoDataFrame(
        {"households": b.households.to_numpy()},
        geometry=shapely.points(b.x.to_numpy(), b.y.to_numpy()),
        crs=geo.epsg,
    )
    communities = gpd.GeoDataFrame(
        {"code": geo.communities.code.to_numpy()},
        geometry=geo.communities.geometry.to_numpy(),
        crs=geo.epsg,
    )
    majors = geo.roads.geometry[geo.roads.road_class == "major"].to_numpy()
    result = delineate(
        buildings,
        communities,
        barriers=gpd.GeoSeries(majors, crs=geo.epsg),
        size=size,
    )
    if len(result.set_aside) or len(result.assignment) != len(b):
        raise RuntimeError(f"demo grids left buildings out: {result.set_aside.head().to_dict()}")
    g = result.grids
    index_of = {code: i for i, code in enumerate(geo.communities.code)}
    grids = pd.DataFrame(
        {
            "community_idx": g.community.map(index_of).to_numpy(),
            "community_code": g.community.astype(str).to_numpy(),
            "code": number_grids(g.community, g.geometry.to_numpy()).to_numpy(),
            "households": g.households.to_numpy(),
            "n_buildings": g.n_buildings.to_numpy(),
            "oversized": g.oversized.to_numpy(),
            "geometry": g.geometry.to_numpy(),
        }
    )
    return grids, result.assignment.reindex(b.index).to_numpy()
