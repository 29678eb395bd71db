"""Patrol coverage on Dask: the parts of :mod:`gis.coverage_parts` run on a cluster's workers
(dask.distributed), the grids' lattice broadcast to every worker once, the parts joined in
their given order on the caller's side.

Inputs are read per part where the part runs: by a loader the caller passes (e.g. a query of
one group of workers from PostGIS) or from a GeoParquet directory of fixes through
dask-geopandas (one part per file; a file must hold all fixes of its workers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import pandas as pd
import shapely

from gis.coverage import DEFAULT_REACH_M
from gis.coverage_parts import (
    CoverageLattice,
    PartCoverage,
    combine_parts,
    part_coverage,
    tracks_from_fixes,
)
from gis.errors import GridGovError

P = TypeVar("P")
Loader = Callable[[P], tuple[gpd.GeoDataFrame, pd.DataFrame]]

CONNECT_TIMEOUT_S = 10
"""How long to wait for the scheduler before saying it cannot be reached."""


class SchedulerUnreachableError(GridGovError, RuntimeError):
    """No Dask scheduler answers at the address given."""

    code = "scheduler_unreachable"
    kind = "unavailable"


def connect(scheduler: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``scheduler`` (``tcp://host:port``).

    Raises
    ------
    SchedulerUnreachableError
        When nothing answers there within :data:`CONNECT_TIMEOUT_S`.
    """
    from distributed import Client

    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise SchedulerUnreachableError(
            f"No Dask scheduler answers at {scheduler} ({exc}); start one with "
            "`dask scheduler` and workers with `dask worker ADDRESS`, or leave out --scheduler."
        ) from exc


def coverage_on_dask(
    client: Any,
    lattice: CoverageLattice,
    load: Loader[P],
    parts: Sequence[P],
    *,
    reach_m: float = DEFAULT_REACH_M,
    max_gap_s: float = 300,
) -> tuple[pd.DataFrame, pd.Series]:
    """Coverage and hours per grid, each part loaded and measured on a worker of ``client``.

    Parameters
    ----------
    client
        A ``distributed.Client``.
    load
        Called on a worker with one item of ``parts``; returns that part's tracks (lines,
        EPSG:4326) and fixes (worker_id, at, lon, lat). Must be picklable (a module-level
        function or a ``functools.partial`` of one).
    parts
        Disjoint groups of workers (e.g. lists of worker ids).

    Returns
    -------
    tuple
        The frame of :func:`gis.coverage.grid_coverage` and the hours of
        :func:`gis.coverage.time_in_grids`.
    """
    shared = client.scatter(lattice, broadcast=True)
    futures = client.map(
        _load_and_measure,
        list(parts),
        load=load,
        lattice=shared,
        reach_m=reach_m,
        max_gap_s=max_gap_s,
        pure=False,
    )
    return combine_parts(lattice, client.gather(futures))


def _load_and_measure(
    part: P, *, load: Loader[P], lattice: CoverageLattice, reach_m: float, max_gap_s: float
) -> PartCoverage:
    tracks, fixes = load(part)
    return part_coverage(
        lattice, tracks, fixes, reach_m=reach_m, max_gap_s=max_gap_s, name=str(part)[:80]
    )


def parquet_coverage(
    client: Any | None,
    lattice: CoverageLattice,
    path: str | Sequence[str],
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    tz: str,
    reach_m: float = DEFAULT_REACH_M,
    max_gap_s: float = 300,
) -> tuple[pd.DataFrame, pd.Series]:
    """Coverage from a GeoParquet directory of fixes (worker_id, at, point geometry), one
    part per file, fixes with ``start <= at < end`` (pushed down to the Parquet reader).

    ``client``: a ``distributed.Client``, or None to run the parts one after another in
    this process. Tracks are drawn per worker and local day in ``tz``.
    """
    import dask
    import dask_geopandas
    import pyarrow.parquet as pq

    files = _parquet_files(path)
    tz_stored = pq.read_schema(files[0]).field("at").type.tz or "UTC"
    frame = dask_geopandas.read_parquet(
        files,
        columns=["worker_id", "at", "geometry"],
        # Arrow compares timestamps of one time zone only: the bounds in the files' zone
        filters=[("at", ">=", start.tz_convert(tz_stored)), ("at", "<", end.tz_convert(tz_stored))],
        split_row_groups=False,
    )
    shared = client.scatter(lattice, broadcast=True) if client is not None else lattice
    measure = dask.delayed(_measure_fixes, pure=True)
    tasks = [
        measure(chunk, shared, tz=tz, reach_m=reach_m, max_gap_s=max_gap_s, name=f"file {i}")
        for i, chunk in enumerate(frame.to_delayed())
    ]
    if client is None:
        results = dask.compute(*tasks, scheduler="sync")
    else:
        results = client.gather(client.compute(tasks))
    return combine_parts(lattice, results)


def _parquet_files(path: str | Sequence[str]) -> list[str]:
    """The Parquet files of ``path`` (a file, a directory of them, or a list of files)."""
    if not isinstance(path, str):
        files = [str(p) for p in path]
    elif Path(path).is_dir():
        files = sorted(str(p) for p in Path(path).rglob("*.parquet"))
    else:
        files = [path]
    missing = [f for f in files if not Path(f).is_file()]
    if not files or missing:
        raise FileNotFoundError(f"No GeoParquet fixes at {missing[0] if missing else path}.")
    return files


def _measure_fixes(
    chunk: gpd.GeoDataFrame,
    lattice: CoverageLattice,
    *,
    tz: str,
    reach_m: float,
    max_gap_s: float,
    name: str,
) -> PartCoverage:
    points = chunk.geometry.to_numpy()
    fixes = pd.DataFrame(
        {
            "worker_id": chunk["worker_id"].to_numpy(),
            "at": pd.to_datetime(chunk["at"], utc=True).reset_index(drop=True),
            "lon": shapely.get_x(points),
            "lat": shapely.get_y(points),
        }
    )
    tracks = tracks_from_fixes(fixes, tz)
    return part_coverage(lattice, tracks, fixes, reach_m=reach_m, max_gap_s=max_gap_s, name=name)
