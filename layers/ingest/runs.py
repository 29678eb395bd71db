"""Import runs: the account (read = loaded + quarantined + already present), quarantine, notes.

A run holds a session advisory lock on (layer, source) so that two imports of
the same source cannot interleave; a run still marked ``running`` when the
lock is free was killed, and is marked ``interrupted`` by the next run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.bulk import copy_frame
from layers.ingest.errors import ImportBusyError
from layers.ingest.readers import SourceFrame
from layers.ingest.validation import Rejections


@dataclass
class ImportAccount:
    """What one import did; ``read == loaded + quarantined + already_present`` always."""

    run_id: int
    layer: str
    source: str
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    already_present: int = 0
    repaired: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    status: str = "running"
    notes: dict[str, int] = field(default_factory=dict)
    """Rows loaded with a note (``import_notes.code``: repairs, rounding, tolerances)."""

    @property
    def adds_up(self) -> bool:
        """True when read = loaded + quarantined + already present."""
        return self.read == self.loaded + self.quarantined + self.already_present

    def summary(self) -> str:
        """One line for the terminal."""
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.by_reason.items()))
        text = (
            f"run {self.run_id} ({self.layer} from {self.source}): read {self.read} = "
            f"loaded {self.loaded} + quarantined {self.quarantined} + "
            f"already present {self.already_present}"
        )
        if self.repaired:
            text += f"; repaired {self.repaired}"
        text += f" [{reasons}]" if reasons else ""
        if self.notes:
            text += "; noted " + ", ".join(f"{k} {v}" for k, v in sorted(self.notes.items()))
        return text


Progress = Callable[[int], None]
"""Called with the number of rows just processed (e.g. to advance a progress bar)."""
Stage = Callable[[str], None]
"""Called with what a long import is doing now (e.g. to label a progress bar)."""


def start_run(
    *,
    conn: Connection,
    layer: str,
    source: str,
    file: str,
    mapping: str,
    rows_in_file: int,
    session_lock: bool = True,
) -> int:
    """Take the (layer, source) lock, mark dead runs interrupted, insert the run row.

    With ``session_lock`` the lock outlives the transaction (imports that commit
    per batch); otherwise it ends with the caller's transaction.

    Raises
    ------
    ImportBusyError
        Another session holds the lock (an import of this source is running).
    """
    key = f"gridgov.ingest.{layer}.{source}"
    fn = "pg_try_advisory_lock" if session_lock else "pg_try_advisory_xact_lock"
    got = conn.execute(sa.text(f"SELECT {fn}(hashtext(:k))"), {"k": key}).scalar()
    if not got:
        raise ImportBusyError(
            f"an import of {layer} from {source!r} is running in another session; "
            "wait for it to finish"
        )
    conn.execute(
        sa.text("""
        UPDATE import_runs SET status = 'interrupted', finished_at = now(),
               message = 'the process stopped before the end (killed or crashed)'
        WHERE layer = :layer AND source = :source AND status = 'running'
    """),
        {"layer": layer, "source": source},
    )
    return int(
        conn.execute(
            sa.text("""
            INSERT INTO import_runs (layer, source, file, mapping, rows_in_file)
            VALUES (:layer, :source, :file, :mapping, :n) RETURNING id
        """),
            {"layer": layer, "source": source, "file": file, "mapping": mapping, "n": rows_in_file},
        ).scalar_one()
    )


def end_run(
    *,
    conn: Connection,
    run_id: int,
    layer: str,
    source: str,
    status: str,
    message: str | None = None,
    session_lock: bool = True,
) -> None:
    """Mark the run finished or failed and release a session lock taken by :func:`start_run`."""
    conn.execute(
        sa.text("""
        UPDATE import_runs SET status = :status, finished_at = now(), message = :message
        WHERE id = :id
    """),
        {"id": run_id, "status": status, "message": message},
    )
    if session_lock:
        conn.execute(
            sa.text("SELECT pg_advisory_unlock(hashtext(:k))"),
            {"k": f"gridgov.ingest.{layer}.{source}"},
        )


def record_batch(
    *,
    conn: Connection,
    run_id: int,
    read: int,
    loaded: int,
    quarantined: int,
    present: int,
    repaired: int = 0,
) -> None:
    """Add one batch's counts to the run (in the batch's own transaction)."""
    conn.execute(
        sa.text("""
        UPDATE import_runs SET n_read = n_read + :read, n_loaded = n_loaded + :loaded,
               n_quarantined = n_quarantined + :q, n_present = n_present + :present,
               n_repaired = n_repaired + :repaired
        WHERE id = :id
    """),
        {
            "id": run_id,
            "read": read,
            "loaded": loaded,
            "q": quarantined,
            "present": present,
            "repaired": repaired,
        },
    )


def quarantine_rows(
    *,
    conn: Connection,
    run_id: int,
    layer: str,
    source_name: str,
    source: SourceFrame,
    ids: np.ndarray,
    rej: Rejections,
    index: np.ndarray,
) -> int:
    """Quarantine rejected rows at ``index`` (reason, message, original row); return count.

    A row this source already had in quarantine (same row number, reason and
    original content: a re-run of the same file) is not stored again; this run
    is added to its ``runs``. The count is the rows this run refused.
    """
    frame = quarantine_frame(
        run_id=run_id,
        layer=layer,
        source_name=source_name,
        source=source,
        ids=ids,
        rej=rej,
        index=index,
    )
    return write_quarantine(conn, frame)


def quarantine_frame(
    *,
    run_id: int,
    layer: str,
    source_name: str,
    source: SourceFrame,
    ids: np.ndarray,
    rej: Rejections,
    index: np.ndarray,
) -> pd.DataFrame | None:
    """The quarantine rows of the rejected rows at ``index`` (None: none), nothing written.

    Reads only ``source`` and ``rej``: it may run in a thread while the
    batch's rows are written (:func:`layers.ingest.points.point_batches`).
    """
    index = index[~rej.ok[index]]
    if len(index) == 0:
        return None
    return pd.DataFrame(
        {
            "run_id": run_id,
            "layer": layer,
            "source": source_name,
            "source_id": ids[index] if ids is not None else None,
            "row_number": index + 1,
            "reason": rej.reason[index],
            "message": rej.message[index],
            "original": source.original_rows(index),
        }
    )


def write_quarantine(conn: Connection, frame: pd.DataFrame | None) -> int:
    """Write :func:`quarantine_frame`'s rows (see :func:`quarantine_rows`); their count."""
    if frame is None:
        return 0
    conn.execute(sa.text(_QUARANTINE_STAGING))
    copy_frame(conn, "quarantine_staging", frame)
    conn.execute(sa.text(_QUARANTINE_UPSERT))
    return len(frame)


_QUARANTINE_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS quarantine_staging (
    run_id bigint, layer text, source text, source_id text, row_number bigint,
    reason text, message text, original jsonb);
TRUNCATE quarantine_staging;
"""
_QUARANTINE_UPSERT = """
INSERT INTO import_quarantine AS q
    (run_id, layer, source, source_id, row_number, reason, message, original, runs)
SELECT run_id, layer, source, source_id, row_number, reason, message, original, ARRAY[run_id]
FROM quarantine_staging
ON CONFLICT (layer, source, row_number, reason, row_key) DO UPDATE
SET runs = CASE WHEN EXCLUDED.run_id = ANY(q.runs) THEN q.runs
                ELSE q.runs || EXCLUDED.run_id END,
    message = EXCLUDED.message
"""


def write_notes(
    *,
    conn: Connection,
    run_id: int,
    ids: np.ndarray | None,
    index: np.ndarray,
    code: str,
    messages: list[str],
) -> int:
    """Record repairs of rows at ``index`` (e.g. ``geometry_repaired``)."""
    if len(index) == 0:
        return 0
    frame = pd.DataFrame(
        {
            "run_id": run_id,
            "source_id": ids[index] if ids is not None else None,
            "row_number": index + 1,
            "code": code,
            "message": messages,
        }
    )
    return copy_frame(conn, "import_notes", frame)


def run_account(*, conn: Connection, run_id: int) -> ImportAccount:
    """The account of run ``run_id`` as stored (counts and quarantine reasons)."""
    row = conn.execute(
        sa.text("""
        SELECT layer, source, n_read, n_loaded, n_quarantined, n_present, n_repaired, status
        FROM import_runs WHERE id = :id
    """),
        {"id": run_id},
    ).one()
    reasons = conn.execute(
        sa.text("""
        SELECT reason, count(*) FROM import_quarantine WHERE :id = ANY(runs)
        GROUP BY reason ORDER BY reason
    """),
        {"id": run_id},
    ).all()
    notes = conn.execute(
        sa.text("SELECT code, count(*) FROM import_notes WHERE run_id = :id GROUP BY code"),
        {"id": run_id},
    ).all()
    return ImportAccount(
        run_id=run_id,
        layer=row[0],
        source=row[1],
        read=int(row[2]),
        loaded=int(row[3]),
        quarantined=int(row[4]),
        already_present=int(row[5]),
        repaired=int(row[6]),
        by_reason={r: int(n) for r, n in reasons},
        status=row[7],
        notes={c: int(n) for c, n in notes},
    )


def import_runs(*, conn: Connection, limit: int = 20) -> pd.DataFrame:
    """The latest import runs with their account."""
    return pd.read_sql(
        sa.text("""
        SELECT id, layer, source, file, status, started_at, finished_at, rows_in_file,
               n_read, n_loaded, n_quarantined, n_present, n_repaired, message
        FROM import_runs ORDER BY id DESC LIMIT :n
    """),
        conn,
        params={"n": limit},
    )


def quarantined(*, conn: Connection, run_id: int, limit: int = 1000) -> pd.DataFrame:
    """Quarantined rows of a run (reason, message, original row as a dict)."""
    frame = pd.read_sql(
        sa.text("""
        SELECT row_number, source_id, reason, message, original::text AS original
        FROM import_quarantine WHERE :id = ANY(runs) ORDER BY row_number LIMIT :n
    """),
        conn,
        params={"id": run_id, "n": limit},
    )
    frame["original"] = frame["original"].map(json.loads)
    return frame


@dataclass
class BatchCounts:
    """What one batch did with its rows (read = loaded + quarantined + present)."""

    loaded: int
    quarantined: int
    present: int
    repaired: int = 0


def run_import(  # noqa: PLR0913 (the import run's own fields, keyword-only)
    *,
    conn: Connection,
    layer: str,
    source: str,
    file: str,
    mapping: str,
    n_rows: int,
    write_batch: Callable[[np.ndarray, int], BatchCounts],
    batch_rows: int,
    commit: bool,
    progress: Progress | None = None,
) -> ImportAccount:
    """Run ``write_batch`` over consecutive slices of the rows and keep the account.

    Parameters
    ----------
    conn
        Connection. With ``commit`` it must not be inside a caller's transaction.
    write_batch
        ``write_batch(index, run_id)`` writes the rows at ``index`` (staging,
        layer, quarantine) and returns their counts; it never commits.
    commit
        True: the run row is committed first, then each batch with its counts
        in one transaction — this is the crash-safety design: a killed import
        loses at most the batch in flight and the next run loads the rest
        (rows already there count as already present). False: everything
        happens in the caller's transaction.

    Returns
    -------
    ImportAccount
    """
    run_id = start_run(
        conn=conn,
        layer=layer,
        source=source,
        file=file,
        mapping=mapping,
        rows_in_file=n_rows,
        session_lock=commit,
    )
    if commit:
        conn.commit()
    try:
        for start in range(0, n_rows, batch_rows):
            index = np.arange(start, min(start + batch_rows, n_rows))
            counts = write_batch(index, run_id)
            record_batch(
                conn=conn,
                run_id=run_id,
                read=len(index),
                loaded=counts.loaded,
                quarantined=counts.quarantined,
                present=counts.present,
                repaired=counts.repaired,
            )
            if commit:
                conn.commit()
            if progress:
                progress(len(index))
    except BaseException as exc:
        if commit:
            conn.rollback()
            end_run(
                conn=conn,
                run_id=run_id,
                layer=layer,
                source=source,
                status="failed",
                message=f"{type(exc).__name__}: {exc}"[:2000],
            )
            conn.commit()
        raise
    end_run(
        conn=conn, run_id=run_id, layer=layer, source=source, status="finished", session_lock=commit
    )
    if commit:
        conn.commit()
    return run_account(conn=conn, run_id=run_id)
