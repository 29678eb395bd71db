"""Patrol coverage on Dask: the parts of :mod:`gis.coverage_parts` run on a cluster's workers
(dask.distributed), the grids' lattice broadcast to every worker once, the parts joined in
their given order on the caller's side.

Inputs are read per part where the part runs: by a loader the caller passes (e.g. a query of
one group of workers from PostGIS) or from GeoParquet fixes, read by the task itself with
geopandas (one part per file, or per worker group of the partition archive's months; a part
must hold all fixes of its workers; the client reads one file's schema only).
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
from gis.fix_archive import archive_parts, is_archive

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
    """Coverage from GeoParquet fixes (worker_id, at, point geometry), fixes with
    ``start <= at < end`` (pushed down to the Parquet reader).

    ``path``: a file, a list of files, a directory of files (one part per file), or the
    partition archive (``gridgov db partitions detach``: a month folder or the archive's
    root), whose files are parts by worker group across its months
    (:func:`gis.fix_archive.archive_parts`). Each part must hold all fixes of its workers.
    ``client``: a ``distributed.Client``, or None to run the parts one after another in
    this process. Tracks are drawn per worker and local day in ``tz``.
    """
    import dask
    import pyarrow.parquet as pq

    parts = fixes_parts(path)
    first = next(f for part in parts for f in part)
    schema = pq.read_schema(first)
    tz_stored = schema.field("at").type.tz or "UTC"
    read = dask.delayed(_read_fixes, pure=True)
    columns = ["worker_id", "at", _geometry_column(first, schema)]
    # Arrow compares timestamps of one time zone only: the bounds in the files' zone
    bounds = [("at", ">=", start.tz_convert(tz_stored)), ("at", "<", end.tz_convert(tz_stored))]
    shared = client.scatter(lattice, broadcast=True) if client is not None else lattice
    measure = dask.delayed(_measure_fixes, pure=True)
    tasks = []
    for i, part in enumerate(parts):
        chunk = read(part, columns=columns, filters=bounds)
        name = f"file {i}" if len(part) == 1 else f"part {i} ({len(part)} files)"
        tasks.append(measure(chunk, shared, tz=tz, reach_m=reach_m, max_gap_s=max_gap_s, name=name))
    if client is None:
        results = dask.compute(*tasks, scheduler="sync")
    else:
        results = client.gather(client.compute(tasks))
    return combine_parts(lattice, results)


def fixes_parts(path: str | Sequence[str]) -> list[list[str]]:
    """The parts of GeoParquet fixes at ``path``, each a list of files: a list of files or a
    plain directory gives one part per file; the partition archive gives one part per worker
    group over all its months."""
    if not isinstance(path, str):
        parts = [[str(p)] for p in path]
    elif Path(path).is_dir() and is_archive(Path(path)):
        parts = archive_parts(Path(path))
        if not parts:
            raise FileNotFoundError(f"No archived GPS fixes (patrol_points) under {path}.")
    elif Path(path).is_dir():
        parts = [[str(p)] for p in sorted(Path(path).rglob("*.parquet"))]
    else:
        parts = [[path]]
    files = [f for part in parts for f in part]
    missing = [f for f in files if not Path(f).is_file()]
    if not files or missing:
        raise FileNotFoundError(f"No GeoParquet fixes at {missing[0] if missing else path}.")
    return parts


def _geometry_column(file: str, schema: Any) -> str:
    """The primary geometry column of a GeoParquet file (``geometry``, or ``geom`` in the
    partition archive)."""
    import json

    geo = (schema.metadata or {}).get(b"geo")
    if geo is None:
        raise ValueError(f"{file} is not GeoParquet (no 'geo' metadata).")
    return str(json.loads(geo)["primary_column"])


def _read_fixes(files: list[str], *, columns: list[str], filters: list) -> gpd.GeoDataFrame:
    """The fixes of one part (its files, read where the task runs; the time bounds pushed
    down to the Parquet reader)."""
    pieces = [gpd.read_parquet(f, columns=columns, filters=filters) for f in files]
    return pieces[0] if len(pieces) == 1 else pd.concat(pieces, ignore_index=True)


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
