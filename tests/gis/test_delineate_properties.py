"""Hypothesis: whatever the layout, every household is in exactly one grid and grids tile."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from city import GridSize
from gis.delineate import delineate

CRS = 32650


@st.composite
def layouts(draw):
    """Communities (a row of boxes, one maybe L-shaped), buildings, maybe a barrier."""
    n_comm = draw(st.integers(1, 3))
    widths = draw(st.lists(st.integers(200, 900), min_size=n_comm, max_size=n_comm))
    edges = np.r_[0, np.cumsum(widths)].astype(float)
    polys = [shapely.box(edges[i], 0, edges[i + 1], 600) for i in range(n_comm)]
    if draw(st.booleans()):  # notch one community: concave shape
        polys[0] = polys[0].difference(shapely.box(edges[0] + 50, 200, edges[1] - 50, 600))
    if draw(st.booleans()):  # a lake in the last community: a holed polygon
        lx = draw(st.floats(0.1, 0.6)) * (edges[-1] - edges[-2]) + edges[-2]
        polys[-1] = polys[-1].difference(shapely.box(lx, 150, lx + 60, 400))
    communities = gpd.GeoDataFrame(
        {"code": [f"c{i}" for i in range(n_comm)]}, geometry=polys, crs=CRS
    )
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 600))
    clustered = draw(st.booleans())
    if clustered:
        centres = rng.uniform([0, 0], [edges[-1], 600], (5, 2))
        xy = centres[rng.integers(0, 5, n)] + rng.normal(0, 40, (n, 2))
    else:
        xy = rng.uniform([-20, -20], [edges[-1] + 20, 620], (n, 2))
    if draw(st.booleans()):  # some buildings stacked on one spot
        xy[: n // 4] = xy[0]
    hh = rng.integers(0, draw(st.integers(1, 30)), n)
    if draw(st.booleans()):
        hh[rng.integers(0, n)] = draw(st.integers(126, 900))  # a tower
    buildings = gpd.GeoDataFrame(
        {"households": hh}, geometry=shapely.points(xy[:, 0], xy[:, 1]), crs=CRS
    )
    barriers = None
    n_lines = draw(st.integers(0, 6))
    if n_lines:
        ends = draw(st.lists(st.tuples(*[st.floats(0, 1)] * 4), min_size=n_lines, max_size=n_lines))
        span = np.array([edges[-1] + 40, 640, edges[-1] + 40, 640])
        lines = [shapely.LineString(np.reshape(np.array(e) * span - 20, (2, 2))) for e in ends]
        barriers = gpd.GeoSeries(lines, crs=CRS)
    return buildings, communities, barriers


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_every_household_in_exactly_one_grid_and_grids_tile(layout):
    buildings, communities, barriers = layout
    result = delineate(buildings, communities, barriers=barriers, size=GridSize(100, 75, 125))
    grids = result.grids

    # every input row is either assigned once or set aside once
    assigned = result.assignment.index
    aside = result.set_aside["row"]
    assert assigned.is_unique and aside.is_unique
    assert not assigned.isin(aside).any()
    assert len(assigned) + len(aside) == len(buildings)
    assert set(aside) <= set(buildings.index)
    assert (result.assignment.between(0, len(grids) - 1)).all()

    # household counts add up, grid by grid
    kept = buildings.loc[assigned, "households"].to_numpy()
    per_grid = np.bincount(result.assignment.to_numpy(), weights=kept, minlength=len(grids))
    assert (per_grid == grids["households"].to_numpy()).all()
    assert grids["households"].sum() == kept.sum()
    counts = np.bincount(result.assignment.to_numpy(), minlength=len(grids))
    assert (counts == grids["n_buildings"].to_numpy()).all()

    # each kept building lies in (or on the edge of) its grid
    pts = buildings.geometry.loc[assigned].to_numpy()
    own = grids.geometry.to_numpy()[result.assignment.to_numpy()]
    assert shapely.dwithin(own, pts, 1e-6).all()
    assert result.report.buildings_not_covered == 0

    # the grids of each community cover it without overlap
    for code, poly in zip(communities["code"], communities.geometry, strict=True):
        mine = grids.loc[grids["community"] == code].geometry.to_numpy()
        assert len(mine) >= 1
        assert shapely.area(mine).sum() == pytest.approx(poly.area, rel=1e-8)
        assert shapely.union_all(mine).symmetric_difference(poly).area < 1e-6 * poly.area
        a, b = shapely.STRtree(mine).query(mine, predicate="intersects")
        keep = a < b
        assert shapely.area(shapely.intersection(mine[a[keep]], mine[b[keep]])).sum() < 1e-6
        assert shapely.is_valid(mine).all()
        assert set(shapely.get_type_id(mine)) <= {3, 6}  # Polygon / MultiPolygon only
