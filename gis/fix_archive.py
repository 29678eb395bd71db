"""The GeoParquet archive's GPS fixes, split by worker group: how the files are named, how
many a month gets, and how the files of several months make the parts of a Dask job.

``gridgov db partitions detach`` writes a month's ``patrol_points`` into
``DIR/YYYY-MM/patrol_points/workers-I-of-N.parquet``: file ``I`` holds every fix of the
workers with ``worker_id % N == I``, so each file holds *all* fixes of its workers in that
month (what a coverage part needs: a track or a gap between two fixes is never cut).
``N`` is a power of two, chosen from the month's size (about ``FIXES_PER_FILE`` fixes a
file). Over several months the parts are the groups ``worker_id % M`` with ``M`` the
smallest ``N`` among them: every file of a month with ``N`` workers groups falls in exactly
one group ``I % M`` (``M`` divides ``N``), so a week across two months is read part by part
and still holds every worker whole.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path

FIXES_PER_FILE = 1_000_000
"""About this many fixes per archive file (memory of one coverage part: ~1.2 GB per 1 M)."""
ACCOUNT = "account.json"
FIXES_FOLDER = "patrol_points"
_NAME = re.compile(r"^workers-(\d+)-of-(\d+)\.parquet$")


def group_count(rows: int, per_file: int = FIXES_PER_FILE) -> int:
    """How many worker groups (files) a month of ``rows`` fixes is split into: a power of
    two, at least 1."""
    if rows <= per_file:
        return 1
    return 1 << math.ceil(math.log2(math.ceil(rows / per_file)))


def file_name(group: int, groups: int) -> str:
    """The archive file of worker group ``group`` of ``groups``."""
    width = max(3, len(str(groups)))
    return f"workers-{group:0{width}d}-of-{groups:0{width}d}.parquet"


def parse_name(name: str) -> tuple[int, int] | None:
    """(group, groups) of an archive file name, None for any other name."""
    found = _NAME.match(name)
    if found is None:
        return None
    group, groups = int(found[1]), int(found[2])
    if groups < 1 or group >= groups or groups & (groups - 1):
        return None
    return group, groups


def is_archive(path: Path) -> bool:
    """Whether ``path`` is a month of the archive or an archive of months."""
    return (path / ACCOUNT).is_file() or any((p / ACCOUNT).is_file() for p in _subdirs(path))


def archive_parts(path: Path) -> list[list[str]]:
    """The parts of the archived fixes under ``path`` (a month folder or the archive's
    root): lists of files, each list holding every fix of its workers over all months.

    A month archived before the split (one ``patrol_points.parquet``) is one group.
    """
    months = (
        [path]
        if (path / ACCOUNT).is_file()
        else sorted(p for p in _subdirs(path) if (p / ACCOUNT).is_file())
    )
    per_month: list[list[tuple[int, int, str]]] = []
    for month in months:
        folder = month / FIXES_FOLDER
        files: list[tuple[int, int, str]] = []
        if folder.is_dir():
            for f in sorted(folder.glob("*.parquet")):
                named = parse_name(f.name)
                if named is None:
                    raise ValueError(f"{f}: not an archive file of worker groups")
                files.append((*named, str(f)))
            counts = {n for _, n, _ in files}
            if len(counts) > 1 or (files and len(files) != files[0][1]):
                raise ValueError(f"{folder}: the worker groups' files are incomplete")
        elif (month / f"{FIXES_FOLDER}.parquet").is_file():
            files.append((0, 1, str(month / f"{FIXES_FOLDER}.parquet")))
        if files:
            per_month.append(files)
    if not per_month:
        return []
    groups = min(files[0][1] for files in per_month)
    parts: list[list[str]] = [[] for _ in range(groups)]
    for files in per_month:
        for group, _, name in files:
            parts[group % groups].append(name)
    return parts


def _subdirs(path: Path) -> Iterable[Path]:
    return (p for p in path.iterdir() if p.is_dir()) if path.is_dir() else ()
