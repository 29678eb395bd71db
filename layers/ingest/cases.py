"""Import cases from 311 / Open311-style exports (CSV, GeoJSON, Parquet).

Each case gets its street, community, grid and H3 cells r7–r10 on entry, a
status mapped from the source status, and one ``case_events`` row (action
``import``, role ``system``) so that its history is never empty.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from layers.catalogue import code_ids
from layers.ingest.arrays import is_none
from layers.ingest.assignment import Locate, locate, served_area
from layers.ingest.cases_bulk import Routes, bulk_insert, wants_bulk
from layers.ingest.errors import MappingError
from layers.ingest.mapping import Mapping
from layers.ingest.points import (
    RowNote,
    RowsOf,
    nullable_ids,
    point_batches,
    prepare_points,
    staged_insert,
    take_rows,
)
from layers.ingest.readers import SourceFrame, read_source
from layers.ingest.routing import route_imported_cases, route_notes
from layers.ingest.runs import ImportAccount, Progress, Stage, run_import
from layers.ingest.validation import (
    Rejections,
    check_times,
    column_text,
    map_categories,
    map_values,
    parse_times,
    require_catalogue,
)
from layers.partitions import ensure_for

STAGE = "ingest_stage_cases"
STAGE_COLUMNS = """
    row_number bigint, source_id text, category_id integer, street_code text,
    community_id integer, grid_id integer, h3_r7 bigint, h3_r8 bigint, h3_r9 bigint,
    h3_r10 bigint, channel text, description text, status text,
    reported_at timestamptz, closed_at timestamptz, x float8, y float8,
    reporter_name text, reporter_phone text, address text
"""
MAX_DESCRIPTION = 4000
MAX_ADDRESS = 500

INSERT = f"""
WITH new AS (
    INSERT INTO cases (case_no, category_id, street_code, community_id, grid_id,
                       h3_r7, h3_r8, h3_r9, h3_r10, source, description, status,
                       reported_at, registered_at, closed_at, source_system, source_id, geom,
                       address)
    SELECT :source || '-' || s.source_id, s.category_id, s.street_code, s.community_id,
           s.grid_id, s.h3_r7, s.h3_r8, s.h3_r9, s.h3_r10, s.channel, s.description, s.status,
           s.reported_at, s.reported_at, s.closed_at, :source, s.source_id,
           ST_SetSRID(ST_MakePoint(s.x, s.y), 4326), s.address
    FROM {STAGE} s
    -- a case already loaded from this source counts as present; case_keys holds the
    -- global key (cases is partitioned by month: no arbiter index for ON CONFLICT),
    -- and its unique index refuses a concurrent load of the same row
    WHERE NOT EXISTS (SELECT 1 FROM case_keys k
                      WHERE k.source_system = :source AND k.source_id = s.source_id)
    ORDER BY s.row_number
    RETURNING id, source_id, street_code, status, reported_at, closed_at
), history AS (
    INSERT INTO case_events (case_id, street_code, at, actor, role, action, to_status, reason)
    SELECT id, street_code, coalesce(closed_at, reported_at), 'import:' || :source, 'system',
           'import', status, :reason
    FROM new
), personal AS (
    INSERT INTO reporters (case_id, name, phone, channel, created_at)
    SELECT n.id, s.reporter_name, s.reporter_phone, s.channel, n.reported_at
    FROM new n JOIN {STAGE} s ON s.source_id = n.source_id
    WHERE s.reporter_name IS NOT NULL OR s.reporter_phone IS NOT NULL
)
SELECT count(*) FROM new
"""


def load_cases(  # noqa: PLR0913 (loader options, keyword-only, as in every load_*)
    path: str | Path,
    mapping: Mapping,
    *,
    conn: Connection,
    batch_rows: int = 100_000,
    commit: bool = True,
    progress: Progress | None = None,
    now: pd.Timestamp | None = None,
    bulk: bool | None = None,
    stage: Stage | None = None,
    assign: Locate = locate,
) -> ImportAccount:
    """Import the cases of ``path`` as ``mapping`` describes.

    Parameters
    ----------
    path
        CSV, GeoJSON, GeoPackage or (Geo)Parquet file.
    mapping
        A ``layer: cases`` mapping.
    conn
        Connection; with ``commit`` it must not be inside a transaction.
    batch_rows
        Rows per batch (one transaction each when ``commit``).
    commit
        Commit per batch (the crash-safe top-level import) or leave everything
        to the caller's transaction.
    progress
        Called with the rows of each finished batch.
    stage
        Called with what the import is doing now ("checking and assigning",
        "copying into cases", "rebuilding indexes" …), for a progress display: a
        bulk load is one batch, so ``progress`` only moves at its end.
    now
        The present, for "reported in the future" (default: now).
    bulk
        Load everything in one transaction through :func:`bulk_insert` (COPY
        straight into ``cases``, secondary indexes and foreign keys rebuilt
        afterwards). ``None`` (default): when the good rows are at least
        :data:`BULK_MIN_ROWS` and :data:`BULK_MIN_SHARE` of the table.
    assign
        How the rows are placed in the served area (street, community, grid):
        :func:`layers.ingest.assignment.locate` here (default), or a
        :class:`layers.ingest.assignment.LocateInParts` in chunks on a Dask cluster.

    Returns
    -------
    ImportAccount
        read = loaded + quarantined + already present.

    Raises
    ------
    MappingError, SourceReadError, ImportBusyError
    """
    if mapping.layer != "cases":
        raise MappingError(f"{mapping.name} is a mapping for {mapping.layer}, not cases")
    say = stage or (lambda _: None)
    say("reading")
    source = read_source(path, mapping)
    catalogue = code_ids(conn, "categories", "service_code")
    require_catalogue(catalogue)
    _check_catalogue(mapping, catalogue)
    say("checking and assigning")
    fields = prepare_cases(
        source, mapping, catalogue, conn=conn, now=now, h3_later=True, assign=assign
    )
    points = fields.pop("_points")
    notes = fields.pop("_notes")
    reason = f"imported from {mapping.source} ({Path(path).name})"
    # every month of the new rows (and of their history) gets its partition first
    ok = points.ok
    times = [pd.Series(take_rows(fields[k], ok)) for k in ("reported_at", "closed_at")]
    ensure_for(conn, [t for col in times for t in (col.min(), col.max())])
    if commit:
        conn.commit()
    if bulk is None:
        bulk = wants_bulk(conn, int(points.ok.sum()))
    if not bulk:
        fields.update(points.h3_columns())
        say(f"writing in batches of {batch_rows:,}")
    routes: list[Routes] = []
    server_alone: list[Callable[[], None]] = []
    insert = (
        bulk_insert(
            conn,
            fields,
            mapping.source,
            reason,
            stage=say,
            routes=routes,
            h3=points.h3_of,
            server_alone=server_alone,
        )
        if bulk
        else staged_insert(
            conn,
            table=STAGE,
            columns_ddl=STAGE_COLUMNS,
            fields=fields,
            sql=INSERT,
            params={"source": mapping.source, "reason": reason},
        )
    )
    account = run_import(
        conn=conn,
        layer="cases",
        source=mapping.source,
        file=str(path),
        mapping=mapping.name,
        n_rows=len(source),
        write_batch=point_batches(
            conn,
            layer="cases",
            source_name=mapping.source,
            points=points,
            insert=insert,
            notes=notes,
            server_alone=server_alone if bulk else None,
        ),
        batch_rows=len(source) if bulk else batch_rows,
        commit=commit,
        progress=progress,
    )
    say("routing open cases")
    # the bulk path routed its open cases as it wrote them: their notes; then whatever
    # is still unrouted (nothing covers it, or an earlier run's) as after a batch
    # load, unless the load was fresh (then it noted those itself)
    routed: dict[str, int] = {}
    fresh = any(done.fresh for done in routes)
    for done in routes:
        noted = route_notes(conn, account.run_id, done.routed, done.missing, prepared=done.notes)
        for key, value in noted.items():
            routed[key] = routed.get(key, 0) + value
    if not fresh:
        later = route_imported_cases(conn=conn, run_id=account.run_id, source=mapping.source)
        for key, value in later.items():
            routed[key] = routed.get(key, 0) + value
    if commit:
        conn.commit()
    account.notes = {**account.notes, **routed}
    say("done")
    return account


def prepare_cases(
    source: SourceFrame,
    mapping: Mapping,
    catalogue: dict[str, int],
    *,
    conn: Connection,
    now: pd.Timestamp | None = None,
    h3_later: bool = False,
    assign: Locate = locate,
) -> dict:
    """Check, map and assign every row; the staging columns (aligned with the file rows).

    The entry ``_points`` holds the :class:`PreparedPoints` (ids, reasons).
    ``h3_later``: the H3 columns are left out, computed when asked for
    (``points.h3_columns()``, or ``points.h3_of(rows)`` for some rows).
    """
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    frame, cols = source.frame, mapping.columns
    reported = parse_times(frame[str(cols["reported_at"])], mapping)
    closed = parse_times(frame[str(cols["closed_at"])], mapping) if "closed_at" in cols else None
    category_ids: np.ndarray = np.empty(0)
    status: np.ndarray = np.empty(0)
    skewed = np.zeros(len(source), dtype=bool)
    skew = pd.Timedelta(seconds=mapping.clock_skew_s)
    closed_values = (
        closed
        if closed is not None
        else pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    )

    def checks(rej: Rejections) -> None:
        nonlocal category_ids, skewed, status
        raw: dict[str, pd.Series] = {
            k: frame[str(cols[k])] for k in ("reported_at", "closed_at") if k in cols
        }
        names = {k: str(v) for k, v in cols.items()}
        skewed = check_times(reported, closed, raw, names, rej, now=now, skew=skew)
        column = str(cols["category"]) if "category" in cols else None
        values = frame[column] if column else None
        category_ids = map_categories(values, mapping, catalogue, column, rej)
        # no check, but nothing to do with places: made while the rows are placed
        status = _statuses(frame, mapping, closed_values)

    points = prepare_points(
        source, mapping, served_area(conn=conn), checks, h3_later=h3_later, assign=assign
    )
    n = len(source)
    as_read = closed_values
    skew_note = RowNote(
        skewed,
        "clock_skew",
        lambda i: (
            f"closed_at {as_read.iloc[i]} is {reported.iloc[i] - as_read.iloc[i]}"
            f" before reported_at (within clock_skew_s {mapping.clock_skew_s:g} s): "
            "closed_at set to reported_at"
        ),
    )
    if skewed.any():
        closed_values = closed_values.mask(pd.Series(skewed, index=closed_values.index), reported)
    return {
        "row_number": np.arange(1, n + 1),
        "source_id": points.ids,
        "category_id": category_ids,
        "street_code": points.where.street_code,
        "community_id": nullable_ids(points.where.community_id),
        "grid_id": nullable_ids(points.where.grid_id),
        **points.h3,
        # the text columns no check reads are made for the rows written, when they
        # are written (a bulk load: month by month while the server copies)
        "channel": (
            RowsOf(
                lambda at: map_values(
                    frame[str(cols["channel"])].iloc[at], mapping.channels, mapping.default_channel
                ),
                n,
            )
            if "channel" in cols
            else np.full(n, mapping.default_channel, dtype=object)
        ),
        "description": _text(source, mapping, "description", MAX_DESCRIPTION),
        "status": status,
        "reported_at": reported,
        "closed_at": closed_values,
        "x": points.lon,
        "y": points.lat,
        "reporter_name": _text(source, mapping, "reporter_name"),
        "reporter_phone": _text(source, mapping, "reporter_phone"),
        "address": _text(source, mapping, "address", MAX_ADDRESS),
        "_points": points,
        "_notes": [skew_note],
    }


_CLOSED = np.array("closed", dtype=object)
_REGISTERED = np.array("registered", dtype=object)
"""The fallback statuses as 0-d object arrays: ``np.where`` of them shares one str
(a million rows: 7 ms, against 90 ms for a str array made object)."""


def _statuses(frame: pd.DataFrame, mapping: Mapping, closed: pd.Series) -> np.ndarray:
    """Mapped source status; unmapped: the default, else closed when a close time exists."""
    fallback = np.where(closed.notna().to_numpy(), _CLOSED, _REGISTERED)
    if "status" not in mapping.columns:
        return (
            np.full(len(frame), mapping.default_status, dtype=object)
            if (mapping.default_status)
            else fallback
        )
    mapped = map_values(
        frame[str(mapping.columns["status"])], mapping.statuses, mapping.default_status
    )
    return np.where(is_none(mapped), fallback, mapped)


def _text(
    source: SourceFrame, mapping: Mapping, key: str, limit: int | None = None
) -> np.ndarray | RowsOf:
    """The text of column ``key`` (cut at ``limit``), made for the rows asked for."""
    column = mapping.column(key)
    if column is None:
        return np.full(len(source), None, dtype=object)

    def rows(at: np.ndarray) -> np.ndarray:
        wanted = column if isinstance(column, list) else [column]
        text = column_text(source.take(at, wanted), column)
        if limit and (text.str.len() > limit).any():  # slicing a million strings costs 0.5 s
            text = text.str.slice(0, limit)
        return text.to_numpy(dtype=object)

    return RowsOf(rows, len(source))


def _check_catalogue(mapping: Mapping, catalogue: dict[str, int]) -> None:
    targets = set(mapping.categories.values()) | (
        {mapping.default_category} if mapping.default_category else set()
    )
    unknown = sorted(targets - set(catalogue))
    if unknown:
        raise MappingError(
            f"{mapping.name}: categories map to codes not in the catalogue: {unknown}"
        )
