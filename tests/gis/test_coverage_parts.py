"""Coverage in parts equals the single pass (no Dask, no database)."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from city import time_zone
from gis.coverage import grid_coverage, time_in_grids
from gis.coverage_parts import (
    CoveragePartsError,
    combine_parts,
    coverage_lattice,
    part_coverage,
    tracks_from_fixes,
    worker_groups,
)

UTM51 = 32651
X0, Y0 = 300_000.0, 3_465_000.0
TZ = time_zone().key


def _grids() -> gpd.GeoDataFrame:
    boxes = [shapely.box(X0 + i * 150, Y0 + j * 150, X0 + (i + 1) * 150, Y0 + (j + 1) * 150)
             for j in range(3) for i in range(3)]  # fmt: skip
    # a holed grid and a grid nobody walks
    boxes[4] = boxes[4].difference(boxes[4].centroid.buffer(30))
    return gpd.GeoDataFrame({"id": np.arange(11, 20)}, geometry=boxes, crs=UTM51).to_crs(4326)


def _fixes(n_workers: int = 6, n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2026-11-16 23:00", tz=TZ)  # the walk crosses local midnight
    rows = []
    for w in range(1, n_workers + 1):
        x = X0 + 40 + np.cumsum(rng.normal(1.5, 6, n)).clip(-40, 400)
        y = Y0 + 30 * w + np.cumsum(rng.normal(0, 4, n))
        gaps = rng.choice([10, 10, 10, 400], n)  # some breaks over 5 minutes
        at = t0 + pd.to_timedelta(np.cumsum(gaps), "s")
        rows.append(pd.DataFrame({"worker_id": w, "at": at, "x": x, "y": y}))
    frame = pd.concat(rows, ignore_index=True).sample(frac=1, random_state=1)  # any order
    points = gpd.GeoSeries(gpd.points_from_xy(frame.x, frame.y), crs=UTM51).to_crs(4326)
    lon, lat = points.x.to_numpy(), points.y.to_numpy()
    return pd.DataFrame(
        {"worker_id": frame.worker_id.to_numpy(), "at": frame["at"].to_numpy(), "lon": lon,
         "lat": lat}
    ).assign(at=lambda f: pd.to_datetime(f["at"], utc=True))  # fmt: skip


@pytest.mark.parametrize("n_parts", [1, 2, 4])
def test_parts_add_up_to_the_single_pass(n_parts):
    grids, fixes = _grids(), _fixes()
    tracks = tracks_from_fixes(fixes, TZ)
    whole = grid_coverage(grids, tracks, reach_m=20, spacing_m=5)
    hours = time_in_grids(grids, fixes)
    lattice = coverage_lattice(grids, spacing_m=5)
    parts = []
    for group in worker_groups(fixes.worker_id.unique(), n_parts):
        mine = fixes[fixes.worker_id.isin(group)]
        parts.append(
            part_coverage(lattice, tracks_from_fixes(mine, TZ), mine, reach_m=20, name=str(group))
        )
    assert len(parts) == n_parts
    coverage, spent = combine_parts(lattice, parts)
    assert (whole.covered_share > 0).sum() >= 5 and whole.covered_share.lt(1).all()
    np.testing.assert_array_equal(coverage.id, whole.id)
    np.testing.assert_array_equal(coverage.covered_share, whole.covered_share)
    np.testing.assert_allclose(coverage.walked_m, whole.walked_m, rtol=1e-12)
    np.testing.assert_allclose(spent.to_numpy(), hours.to_numpy(), rtol=1e-12)
    assert spent.sum() > 0


def test_tracks_are_cut_at_local_midnight_and_single_fixes_dropped():
    t = pd.Timestamp("2026-11-16 23:59:40", tz=TZ)
    fixes = pd.DataFrame(
        {
            "worker_id": [1, 1, 1, 1, 2],
            "at": [
                t,
                t + pd.Timedelta(seconds=10),
                t + pd.Timedelta(seconds=30),
                t + pd.Timedelta(seconds=40),
                t,
            ],
            "lon": [120.60, 120.601, 120.602, 120.603, 120.7],
            "lat": [31.3] * 5,
        }
    ).iloc[::-1]
    tracks = tracks_from_fixes(fixes, TZ)
    assert [len(line.coords) for line in tracks.geometry] == [2, 2]
    assert tracks.geometry[0].coords[0] == (120.60, 31.3)


def test_a_worker_in_two_parts_is_refused_by_name():
    grids, fixes = _grids(), _fixes(n_workers=2)
    lattice = coverage_lattice(grids)
    first, second = fixes.iloc[: len(fixes) // 2], fixes.iloc[len(fixes) // 2 :]
    parts = [
        part_coverage(lattice, tracks_from_fixes(f, TZ), f, name=name)
        for f, name in ((first, "a.parquet"), (second, "b.parquet"))
    ]
    with pytest.raises(CoveragePartsError, match=r"worker 1 is in two parts \(a.parquet and b"):
        combine_parts(lattice, parts)


def test_empty_parts_and_no_grids():
    grids = _grids()
    lattice = coverage_lattice(grids)
    empty = pd.DataFrame(
        {"worker_id": [], "at": pd.to_datetime([], utc=True), "lon": [], "lat": []}
    )
    part = part_coverage(lattice, tracks_from_fixes(empty, TZ), empty)
    coverage, spent = combine_parts(lattice, [part])
    assert coverage.covered_share.eq(0).all() and spent.eq(0).all() and len(coverage) == 9
    none = coverage_lattice(grids.iloc[:0])
    coverage, spent = combine_parts(
        none, [part_coverage(none, tracks_from_fixes(empty, TZ), empty)]
    )
    assert coverage.empty and spent.empty
