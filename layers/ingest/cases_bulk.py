"""The bulk path of the case import: every row written once, by COPY, into its month.

In the load's one transaction (:func:`bulk_insert`):

1. lock ``cases``, ``case_events`` and ``case_keys`` and drop their secondary
   indexes and foreign keys (:func:`layers.bulk.deferred_indexes_and_foreign_keys`;
   when the whole family is empty it is truncated and its keys dropped too: a
   fresh load, whose rows skip the WAL at ``wal_level = minimal`` and are
   COPYed ``FREEZE``);
2. leave out the source ids already in ``case_keys`` (they count as present);
3. take the new case ids and event ids from their sequences
   (:func:`layers.bulk_months.reserve_ids`), so nothing has to be read back;
4. COPY the cases month by month straight into their partitions
   (:func:`layers.bulk_months.copy_by_month`), with the ``case_keys`` trigger
   off for the transaction, and COPY their keys into ``case_keys`` in one go;
5. COPY each case's ``import`` history row into the months of ``case_events``,
   and the reporters (personal data, kept apart);
6. tell the rollups which local days were touched (:func:`touched_local_days`,
   the one place a bulk load reports them);
7. rebuild the indexes and add the foreign keys back (each validated with one
   anti-join).

A crash before the commit rolls all of it back (the trigger's disable too).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from city import time_zone
from gis.assign import H3_RESOLUTIONS
from layers.bulk import copy_binary, deferred_indexes_and_foreign_keys, point_ewkb_arrow
from layers.bulk_months import copy_by_month, key_trigger_off, reserve_ids
from layers.ingest.arrays import is_none
from layers.ingest.points import take_rows
from layers.ingest.runs import Stage
from layers.partitions import estimated_rows

BULK_MIN_ROWS = 100_000
"""Automatic bulk mode needs at least this many good rows ..."""
BULK_MIN_SHARE = 0.25
"""... and at least this share of the rows already in ``cases`` (rebuilding the
indexes and re-validating the foreign keys costs in proportion to the table)."""

FAMILY = ["cases", "case_events", "case_keys"]
"""The tables a bulk load writes and whose indexes and foreign keys it defers."""


def wants_bulk(conn: Connection, good_rows: int) -> bool:
    """True when ``good_rows`` new cases should take the bulk path (see ``load_cases``)."""
    if good_rows < BULK_MIN_ROWS:
        return False
    return good_rows >= BULK_MIN_SHARE * estimated_rows(conn, "cases")


def bulk_insert(
    conn: Connection, fields: dict, source: str, reason: str, stage: Stage | None = None
) -> Callable[[np.ndarray], int]:
    """An ``insert(rows)`` that COPYs new cases into their months (see the module notes)."""

    def insert(rows: np.ndarray) -> int:
        say = stage or (lambda _: None)
        say("locking cases")
        with deferred_indexes_and_foreign_keys(
            conn, FAMILY, truncate_if_empty=True, stage=say
        ) as deferred:
            new = rows if deferred.fresh else _not_present(conn, fields, rows, source)
            if not len(new):
                return 0
            ids = np.arange(len(new), dtype=np.int64) + reserve_ids(conn, "cases", len(new))
            say("copying into cases")
            cases = _cases_table(fields, new, source, ids)
            with key_trigger_off(conn):
                copy_by_month(conn, "cases", "reported_at", cases, freeze=deferred.fresh)
            copy_binary(conn, "case_keys", _keys(cases), freeze=deferred.fresh)
            say("writing case history")
            history = _history(cases, source, reason, reserve_ids(conn, "case_events", len(new)))
            copy_by_month(conn, "case_events", "at", history, freeze=deferred.fresh)
            _bulk_reporters(conn, fields, new, ids)
            touched_local_days(conn, cases)
        return len(new)

    return insert


def touched_local_days(conn: Connection, cases: pa.Table) -> list[tuple[date, str]]:
    """The (local day, street) pairs of the loaded cases' report times, in the city's zone.

    The one place a bulk load says which days it touched: a rollup that
    must be refreshed for them (the leader rollups) is queued from here.
    Nothing is queued yet; the pairs are returned.
    """
    utc = pd.Series(cases.column("reported_at").to_pandas())
    days = utc.dt.tz_convert(time_zone().key).dt.tz_localize(None).to_numpy("datetime64[D]")
    frame = pd.DataFrame(
        {"day": days, "street": cases.column("street_code").to_pandas()}
    ).drop_duplicates()
    del conn  # the queue call goes here, in the load's transaction
    return [(pd.Timestamp(d).date(), str(s)) for d, s in frame.itertuples(index=False)]


def _not_present(conn: Connection, fields: dict, rows: np.ndarray, source: str) -> np.ndarray:
    """``rows`` whose source id is not yet a key of ``source`` (one read of its keys)."""
    present = (
        conn.execute(
            sa.text("SELECT source_id FROM case_keys WHERE source_system = :s"), {"s": source}
        )
        .scalars()
        .all()
    )
    if not present:
        return rows
    return rows[~pd.Index(take_rows(fields["source_id"], rows)).isin(present)]


def _cases_table(fields: dict, rows: np.ndarray, source: str, ids: np.ndarray) -> pa.Table:
    """The ``cases`` columns of ``rows`` as an Arrow table (geometry as EWKB bytes)."""

    def text(key: str) -> pa.Array:
        return pa.array(take_rows(fields[key], rows), type=pa.string(), from_pandas=True)

    def ints(key: str, kind: pa.DataType) -> pa.Array:
        return pa.array(take_rows(fields[key], rows), type=kind, from_pandas=True)

    source_id = text("source_id")
    reported = pa.array(take_rows(fields["reported_at"], rows))
    return pa.table(
        {
            "id": pa.array(ids, type=pa.int64()),
            "case_no": pc.binary_join_element_wise(pa.scalar(f"{source}-"), source_id, ""),
            "category_id": ints("category_id", pa.int32()),
            "street_code": text("street_code"),
            "community_id": ints("community_id", pa.int32()),
            "grid_id": ints("grid_id", pa.int32()),
            **{f"h3_r{r}": ints(f"h3_r{r}", pa.int64()) for r in H3_RESOLUTIONS},
            "source": text("channel"),
            "description": text("description"),
            "status": text("status"),
            "reported_at": reported,
            "registered_at": reported,
            "closed_at": pa.array(take_rows(fields["closed_at"], rows)),
            "source_system": pa.array(np.full(len(rows), source, dtype=object), type=pa.string()),
            "source_id": source_id,
            "geom": point_ewkb_arrow(fields["x"][rows], fields["y"][rows], hex=False),
            "address": text("address"),
        }
    )


def _keys(cases: pa.Table) -> pa.Table:
    """The ``case_keys`` rows of ``cases`` (what the trigger ``cases_keys_insert`` writes)."""
    return cases.select(
        ["id", "reported_at", "case_no", "source_system", "source_id", "street_code"]
    )


def _history(cases: pa.Table, source: str, reason: str, first_id: int) -> pa.Table:
    """One ``import`` event per case, at its close (else report) time, in case-id order."""
    n = cases.num_rows

    def constant(value: str) -> pa.Array:
        return pa.array(np.full(n, value, dtype=object), type=pa.string())

    return pa.table(
        {
            "id": pa.array(np.arange(n, dtype=np.int64) + first_id),
            "case_id": cases.column("id"),
            "street_code": cases.column("street_code"),
            "at": pc.coalesce(cases.column("closed_at"), cases.column("reported_at")),
            "actor": constant(f"import:{source}"),
            "role": constant("system"),
            "action": constant("import"),
            "to_status": cases.column("status"),
            "reason": constant(reason),
        }
    )


def _bulk_reporters(conn: Connection, fields: dict, rows: np.ndarray, ids: np.ndarray) -> None:
    """Reporters of the new cases (personal data, kept apart), by their new case ids."""
    names = np.asarray(take_rows(fields["reporter_name"], rows), dtype=object)
    phones = np.asarray(take_rows(fields["reporter_phone"], rows), dtype=object)
    has = ~(is_none(names) & is_none(phones))
    if not has.any():
        return
    keep = rows[has]
    copy_binary(
        conn,
        "reporters",
        pa.table(
            {
                "case_id": pa.array(ids[has], type=pa.int64()),
                "name": pa.array(names[has], type=pa.string(), from_pandas=True),
                "phone": pa.array(phones[has], type=pa.string(), from_pandas=True),
                "channel": pa.array(
                    take_rows(fields["channel"], keep), type=pa.string(), from_pandas=True
                ),
                "created_at": pa.array(take_rows(fields["reported_at"], keep)),
            }
        ),
    )
