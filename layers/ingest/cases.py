"""Import cases from 311 / Open311-style exports (CSV, GeoJSON, Parquet).

Each case gets its street, community, grid and H3 cells r7–r10 on entry, a
status mapped from the source status, and one ``case_events`` row (action
``import``, role ``system``) so that its history is never empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.catalogue import code_ids
from layers.ingest.assignment import served_area
from layers.ingest.errors import MappingError
from layers.ingest.mapping import Mapping
from layers.ingest.points import nullable_ids, prepare_points, stage, take_rows
from layers.ingest.readers import SourceFrame, read_source
from layers.ingest.runs import BatchCounts, ImportAccount, Progress, quarantine_rows, run_import
from layers.ingest.validation import (
    Rejections,
    check_times,
    column_text,
    map_categories,
    map_values,
    parse_times,
)

STAGE = "ingest_stage_cases"
STAGE_COLUMNS = """
    row_number bigint, source_id text, category_id integer, street_code text,
    community_id integer, grid_id integer, h3_r7 bigint, h3_r8 bigint, h3_r9 bigint,
    h3_r10 bigint, channel text, description text, status text,
    reported_at timestamptz, closed_at timestamptz, x float8, y float8,
    reporter_name text, reporter_phone text
"""
MAX_DESCRIPTION = 4000

INSERT = f"""
WITH new AS (
    INSERT INTO cases (case_no, category_id, street_code, community_id, grid_id,
                       h3_r7, h3_r8, h3_r9, h3_r10, source, description, status,
                       reported_at, registered_at, closed_at, source_system, source_id, geom)
    SELECT :source || '-' || s.source_id, s.category_id, s.street_code, s.community_id,
           s.grid_id, s.h3_r7, s.h3_r8, s.h3_r9, s.h3_r10, s.channel, s.description, s.status,
           s.reported_at, s.reported_at, s.closed_at, :source, s.source_id,
           ST_SetSRID(ST_MakePoint(s.x, s.y), 4326)
    FROM {STAGE} s ORDER BY s.row_number
    ON CONFLICT (source_system, source_id) DO NOTHING
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


def load_cases(
    path: str | Path,
    mapping: Mapping,
    *,
    conn: Connection,
    batch_rows: int = 100_000,
    commit: bool = True,
    progress: Progress | None = None,
    now: pd.Timestamp | None = None,
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
    now
        The present, for "reported in the future" (default: now).

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
    source = read_source(path, mapping)
    catalogue = code_ids(conn, "categories", "service_code")
    _check_catalogue(mapping, catalogue)
    fields = prepare_cases(source, mapping, catalogue, conn=conn, now=now)
    points = fields.pop("_points")
    reason = f"imported from {mapping.source} ({Path(path).name})"

    def write(index: np.ndarray, run_id: int) -> BatchCounts:
        ok = index[points.ok[index]]
        frame = pd.DataFrame({k: take_rows(v, ok) for k, v in fields.items()})
        stage(conn, STAGE, STAGE_COLUMNS, frame)
        loaded = int(
            conn.execute(sa.text(INSERT), {"source": mapping.source, "reason": reason}).scalar_one()
        )
        q = quarantine_rows(
            conn=conn,
            run_id=run_id,
            layer="cases",
            source_name=mapping.source,
            source=source,
            ids=points.ids,
            rej=points.rej,
            index=index,
        )
        return BatchCounts(loaded=loaded, quarantined=q, present=len(ok) - loaded)

    return run_import(
        conn=conn,
        layer="cases",
        source=mapping.source,
        file=str(path),
        mapping=mapping.name,
        n_rows=len(source),
        write_batch=write,
        batch_rows=batch_rows,
        commit=commit,
        progress=progress,
    )


def prepare_cases(
    source: SourceFrame,
    mapping: Mapping,
    catalogue: dict[str, int],
    *,
    conn: Connection,
    now: pd.Timestamp | None = None,
) -> dict:
    """Check, map and assign every row; the staging columns (aligned with the file rows).

    The entry ``_points`` holds the :class:`PreparedPoints` (ids, reasons).
    """
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    frame, cols = source.frame, mapping.columns
    reported = parse_times(frame[str(cols["reported_at"])], mapping)
    closed = parse_times(frame[str(cols["closed_at"])], mapping) if "closed_at" in cols else None
    category_ids: np.ndarray = np.empty(0)

    def checks(rej: Rejections) -> None:
        nonlocal category_ids
        raw = {k: frame[str(cols[k])] for k in ("reported_at", "closed_at") if k in cols}
        check_times(reported, closed, raw, {k: str(v) for k, v in cols.items()}, rej, now)
        column = str(cols["category"]) if "category" in cols else None
        values = frame[column] if column else None
        category_ids = map_categories(values, mapping, catalogue, column, rej)

    points = prepare_points(source, mapping, served_area(conn=conn), checks)
    n = len(source)
    closed_values = (
        closed
        if closed is not None
        else pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    )
    status = _statuses(frame, mapping, closed_values)
    return {
        "row_number": np.arange(1, n + 1),
        "source_id": points.ids,
        "category_id": category_ids,
        "street_code": points.where.street_code,
        "community_id": nullable_ids(points.where.community_id),
        "grid_id": nullable_ids(points.where.grid_id),
        **points.h3,
        "channel": (
            map_values(frame[str(cols["channel"])], mapping.channels, mapping.default_channel)
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
        "_points": points,
    }


def _statuses(frame: pd.DataFrame, mapping: Mapping, closed: pd.Series) -> np.ndarray:
    """Mapped source status; unmapped: the default, else closed when a close time exists."""
    fallback = np.where(closed.notna().to_numpy(), "closed", "registered").astype(object)
    if "status" not in mapping.columns:
        return (
            np.full(len(frame), mapping.default_status, dtype=object)
            if (mapping.default_status)
            else fallback
        )
    mapped = map_values(
        frame[str(mapping.columns["status"])], mapping.statuses, mapping.default_status
    )
    return np.where(np.equal(mapped, None), fallback, mapped)


def _text(source: SourceFrame, mapping: Mapping, key: str, limit: int | None = None) -> np.ndarray:
    column = mapping.column(key)
    if column is None:
        return np.full(len(source), None, dtype=object)
    text = column_text(source, column)
    if limit:
        text = text.str.slice(0, limit)
    return text.to_numpy(dtype=object)


def _check_catalogue(mapping: Mapping, catalogue: dict[str, int]) -> None:
    targets = set(mapping.categories.values()) | (
        {mapping.default_category} if mapping.default_category else set()
    )
    unknown = sorted(targets - set(catalogue))
    if unknown:
        raise MappingError(
            f"{mapping.name}: categories map to codes not in the catalogue: {unknown}"
        )
