"""The common path of point layers (cases, parts, buildings): check, assign, stage.

One funnel for every point importer: source ids, coordinates, the
layer's own checks, the served area, duplicates, then H3 cells for the rows
that survive. Staging tables are session-temporary and truncated per batch;
rows reach the layers by set-based ``INSERT … SELECT`` from them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.bulk import copy_frame
from layers.ingest.assignment import Assignment, ServedArea, assign_points, h3_columns
from layers.ingest.mapping import Mapping
from layers.ingest.readers import SourceFrame
from layers.ingest.validation import (
    OUTSIDE_AREA,
    Rejections,
    coordinates,
    reject_duplicates,
    source_ids,
)


@dataclass
class PreparedPoints:
    """Checked and assigned rows of a point source (arrays aligned with the file rows)."""

    source: SourceFrame
    ids: np.ndarray
    rej: Rejections
    lon: np.ndarray
    lat: np.ndarray
    where: Assignment
    h3: dict[str, np.ndarray]

    @property
    def ok(self) -> np.ndarray:
        """Mask of rows to load."""
        return self.rej.ok


def prepare_points(
    source: SourceFrame,
    mapping: Mapping,
    area: ServedArea,
    layer_checks: Callable[[Rejections], None] | None = None,
    rej: Rejections | None = None,
) -> PreparedPoints:
    """Check and assign every row of ``source``.

    Reasons are given in this order (a row keeps the first): missing source
    id, coordinates (missing, 0/0, invalid), ``layer_checks`` (times,
    category), outside the served area, duplicate source id. ``rej`` may carry
    reasons found before (e.g. footprints that cannot be repaired).
    """
    rej = rej if rej is not None else Rejections(len(source))
    ids = source_ids(source, mapping, rej)
    lon, lat = coordinates(source, mapping, rej)
    if layer_checks:
        layer_checks(rej)
    ok = rej.ok
    where = assign_points(area, np.where(ok, lon, np.nan), np.where(ok, lat, np.nan))
    rej.reject(
        ~where.inside,
        OUTSIDE_AREA,
        lambda i: (
            f"position {lon[i]:.6f}, {lat[i]:.6f} is outside the served area "
            "(no street contains it)"
        ),
    )
    reject_duplicates(ids, str(mapping.columns["source_id"]), rej)
    ok = rej.ok
    h3 = {k: np.zeros(len(ids), dtype=np.int64) for k in ("h3_r7", "h3_r8", "h3_r9", "h3_r10")}
    if ok.any():
        for key, cells in h3_columns(lon[ok], lat[ok]).items():
            h3[key][ok] = cells
    return PreparedPoints(source, ids, rej, lon, lat, where, h3)


def nullable_ids(values: np.ndarray) -> pd.Series:
    """Ids with -1 for "none" as a nullable integer column."""
    series = pd.Series(values, dtype="Int64")
    return series.where(series >= 0)


def stage(conn: Connection, table: str, columns_ddl: str, frame: pd.DataFrame) -> int:
    """COPY ``frame`` into the session-temporary staging ``table`` (emptied first)."""
    conn.execute(sa.text(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({columns_ddl})"))
    conn.execute(sa.text(f"TRUNCATE {table}"))
    return copy_frame(conn, table, frame)


def take_rows(values: np.ndarray | pd.Series, index: np.ndarray) -> np.ndarray | pd.Series:
    """Rows ``index`` of an array or Series (a Series is re-indexed from 0)."""
    if isinstance(values, pd.Series):
        return values.iloc[index].reset_index(drop=True)
    return values[index]
