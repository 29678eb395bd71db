"""The common path of point layers (cases, parts, buildings): check, assign, stage, account.

One funnel for every point importer: source ids, coordinates, the
layer's own checks, the served area, duplicates, then H3 cells for the rows
that survive (:func:`prepare_points`). Then one batch writer
(:func:`point_batches`): the good rows of a batch go in through the layer's
``insert`` (by default :func:`staged_insert`: COPY into a session-temporary
staging table, truncated per batch, then one set-based ``INSERT … SELECT``),
the bad ones to the quarantine, repairs to the notes, and the batch's counts
to the run — all in the batch's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.bulk import copy_frame
from layers.ingest.assignment import Assignment, Locate, ServedArea, h3_columns, locate
from layers.ingest.errors import NotReadyError
from layers.ingest.mapping import Mapping
from layers.ingest.readers import SourceFrame
from layers.ingest.runs import BatchCounts, quarantine_frame, write_notes, write_quarantine
from layers.ingest.validation import (
    OUTSIDE_AREA,
    Rejections,
    coordinates,
    id_codes,
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
    near_m: np.ndarray | None = None
    """Metres outside the served area of rows taken in by the tolerance (NaN: inside)."""
    h3_later: bool = False
    """The H3 cells are not computed yet (``prepare_points(h3_later=True)``)."""

    def h3_columns(self) -> dict[str, np.ndarray]:
        """The H3 columns of every row (0 for rows not to load), computed if need be."""
        if self.h3_later:
            self.h3 = _h3_of(self.lon, self.lat, self.ok)
            self.h3_later = False
        return self.h3

    def h3_of(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The H3 columns of the good rows ``rows`` (computed for them alone if need be:
        a bulk load makes them month by month while the server copies)."""
        if not self.h3_later:
            return {key: cells[rows] for key, cells in self.h3.items()}
        return h3_columns(self.lon[rows], self.lat[rows])

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
    *,
    h3_later: bool = False,
    assign: Locate = locate,
) -> PreparedPoints:
    """Check and assign every row of ``source``.

    Reasons are given in this order (a row keeps the first): missing source
    id, coordinates (missing, 0/0, invalid), ``layer_checks`` (times,
    category), outside the served area, duplicate source id. ``rej`` may carry
    reasons found before (e.g. footprints that cannot be repaired). ``layer_checks`` run
    while the rows are placed (in a thread): work of the layer that needs no place may go
    there too. ``assign`` places the
    rows in the served area (default :func:`layers.ingest.assignment.locate`, here; a
    :class:`layers.ingest.assignment.LocateInParts` runs it in chunks on a Dask cluster).
    """
    if area.empty:
        raise NotReadyError(
            "no streets are loaded yet, so every row would be outside the served area: "
            "load the city's boundaries first (gridgov load boundaries FILE -m MAPPING.yaml; "
            "gridgov city status lists what is missing)"
        )
    rej = rej if rej is not None else Rejections(len(source))
    ids = source_ids(source, mapping, rej)
    lon, lat = coordinates(source, mapping, rej)
    ok = rej.ok
    x, y = np.where(ok, lon, np.nan), np.where(ok, lat, np.nan)
    # the rows are placed (shapely lets go of the interpreter) while the layer's own
    # checks run and the ids are hashed; a row those reject is placed for nothing,
    # and keeps their reason
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="locate") as pool:
        placed = pool.submit(assign, area, x, y, mapping.area_tolerance_m)
        if layer_checks:
            layer_checks(rej)
        codes = id_codes(ids)
        where, near_m = placed.result()
    rej.reject(
        ~where.inside,
        OUTSIDE_AREA,
        lambda i: (
            f"position {lon[i]:.6f}, {lat[i]:.6f} is outside the served area "
            f"(no street contains it or is within {mapping.area_tolerance_m:g} m: "
            "area_tolerance_m in the mapping)"
        ),
    )
    reject_duplicates(ids, str(mapping.columns["source_id"]), rej, codes=codes)
    ok = rej.ok
    if h3_later:
        return PreparedPoints(source, ids, rej, lon, lat, where, {}, near_m, h3_later=True)
    return PreparedPoints(source, ids, rej, lon, lat, where, _h3_of(lon, lat, ok), near_m)


def _h3_of(lon: np.ndarray, lat: np.ndarray, ok: np.ndarray) -> dict[str, np.ndarray]:
    """H3 r7-r10 of the rows to load (0 for the others)."""
    h3 = {k: np.zeros(len(lon), dtype=np.int64) for k in ("h3_r7", "h3_r8", "h3_r9", "h3_r10")}
    if ok.any():
        for key, cells in h3_columns(lon[ok], lat[ok]).items():
            h3[key][ok] = cells
    return h3


def nullable_ids(values: np.ndarray) -> pd.Series:
    """Ids with -1 for "none" as a nullable integer column."""
    series = pd.Series(values, dtype="Int64")
    return series.where(series >= 0)


def stage(conn: Connection, table: str, columns_ddl: str, frame: pd.DataFrame) -> int:
    """COPY ``frame`` into the session-temporary staging ``table`` (emptied first)."""
    conn.execute(sa.text(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({columns_ddl})"))
    conn.execute(sa.text(f"TRUNCATE {table}"))
    return copy_frame(conn, table, frame)


class RowsOf:
    """A column made only for the rows asked for (``column[index]``, :func:`take_rows`).

    For a column no check reads: a bulk load makes it month by month, in the
    thread that encodes the rows while the server copies the month before,
    not for every row up front.
    """

    def __init__(self, make: Callable[[np.ndarray], np.ndarray], n: int) -> None:
        self.make = make
        """The values at these (integer) row positions."""
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        return self.make(np.asarray(index))


def take_rows(values: np.ndarray | pd.Series | RowsOf, index: np.ndarray) -> np.ndarray | pd.Series:
    """Rows ``index`` of an array, Series or :class:`RowsOf` (a Series is re-indexed from 0)."""
    if isinstance(values, pd.Series):
        return values.iloc[index].reset_index(drop=True)
    return values[index]


def staged_insert(
    conn: Connection,
    *,
    table: str,
    columns_ddl: str,
    fields: dict,
    sql: str,
    params: dict,
    before: Callable[[], None] | None = None,
) -> Callable[[np.ndarray], int]:
    """An ``insert(rows)`` for :func:`point_batches`: stage ``fields`` at ``rows``, run ``sql``.

    ``sql`` reads the staging ``table`` and returns the number of rows it
    inserted (``SELECT count(*) FROM new``); ``before`` runs between the two
    (e.g. taking a lock).
    """

    def insert(rows: np.ndarray) -> int:
        stage(
            conn,
            table,
            columns_ddl,
            pd.DataFrame({k: take_rows(v, rows) for k, v in fields.items()}),
        )
        if before is not None:
            before()
        return int(conn.execute(sa.text(sql), params).scalar_one())

    return insert


@dataclass(frozen=True)
class RowNote:
    """Good rows loaded with a change worth a line in ``import_notes``.

    Attributes
    ----------
    mask
        Rows (aligned with the file) that get the note.
    code
        Note code (``import_notes.code``), counted in the run's account.
    message
        Text for row index ``i`` (0-based; "row N: " is put in front).
    """

    mask: np.ndarray
    code: str
    message: Callable[[int], str]


def _near_note(points: PreparedPoints) -> list[RowNote]:
    near = points.near_m
    if near is None or not np.isfinite(near).any():
        return []
    return [
        RowNote(
            np.isfinite(near),
            "near_area",
            lambda i: f"{near[i]:.1f} m outside the served area, within the tolerance: kept",
        )
    ]


def point_batches(  # noqa: PLR0913 (the writer of a point layer: keyword-only options)
    conn: Connection,
    *,
    layer: str,
    source_name: str,
    points: PreparedPoints,
    insert: Callable[[np.ndarray], int],
    repaired: np.ndarray | None = None,
    repair_note: str = "geometry_repaired",
    repair_message: Callable[[int], str] | None = None,
    notes: list[RowNote] | None = None,
    server_alone: list[Callable[[], None]] | None = None,
) -> Callable[[np.ndarray, int], BatchCounts]:
    """The ``write_batch`` of :func:`layers.ingest.runs.run_import` for a point layer.

    Each batch: ``insert`` the good rows (returns how many were new; the rest
    were already present), quarantine the bad ones with reason and original
    row, note the good rows that were ``repaired`` and those of each of ``notes``
    (e.g. a household count rounded, a position within the tolerance of the
    served area). Nothing is committed here. The quarantine's rows are made in a
    thread: started with the batch, or, given ``server_alone`` (the same list as
    :func:`layers.ingest.cases_bulk.bulk_insert`'s), when ``insert`` starts it.
    """

    def write(index: np.ndarray, run_id: int) -> BatchCounts:
        ok = index[points.ok[index]]
        # the quarantine's rows (the original rows as JSON) are made in a thread
        # while the good rows go in (a bulk load waits for the server meanwhile)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="quarantine") as pool:
            bad: list[Future[pd.DataFrame | None]] = []

            def start() -> None:
                if not bad:
                    bad.append(
                        pool.submit(
                            quarantine_frame,
                            run_id=run_id,
                            layer=layer,
                            source_name=source_name,
                            source=points.source,
                            ids=points.ids,
                            rej=points.rej,
                            index=index,
                        )
                    )

            if server_alone is None:
                start()
            else:
                server_alone.append(start)
            loaded = insert(ok) if len(ok) else 0
            start()  # if the insert did not
            q = write_quarantine(conn, bad[0].result())
        fixed = ok[repaired[ok]] if repaired is not None else ok[:0]
        if len(fixed):
            message = repair_message or (lambda i: f"row {i + 1}: repaired")
            write_notes(
                conn=conn,
                run_id=run_id,
                ids=points.ids,
                index=fixed,
                code=repair_note,
                messages=[message(int(i)) for i in fixed],
            )
        for note in [*_near_note(points), *(notes or ())]:
            marked = ok[note.mask[ok]]
            if len(marked):
                write_notes(
                    conn=conn,
                    run_id=run_id,
                    ids=points.ids,
                    index=marked,
                    code=note.code,
                    messages=[f"row {i + 1}: {note.message(int(i))}" for i in marked],
                )
        return BatchCounts(
            loaded=loaded, quarantined=q, present=len(ok) - loaded, repaired=len(fixed)
        )

    return write
