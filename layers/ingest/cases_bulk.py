"""The bulk path of the case import: every row written once, by COPY, into its month.

In the load's one transaction (:func:`bulk_insert`):

1. lock ``cases``, ``case_events`` and ``case_keys`` and leave out the source
   ids already in ``case_keys`` (they count as present; when none is new, stop
   here: nothing is dropped or rebuilt);
2. take the new case ids and event ids from their sequences
   (:func:`layers.bulk_months.reserve_ids`), so nothing has to be read back, and
   route the open cases before they are written (department, deadline, a
   ``route`` event and a lead assignment each);
3. either the whole-table path — drop the secondary indexes and foreign keys of
   the three tables (:func:`layers.bulk.deferred_indexes_and_foreign_keys`; when
   the family is empty it is truncated and its keys dropped too: a fresh load,
   COPYed ``FREEZE``, without WAL at ``wal_level = minimal``) — or, when most
   rows fall in months still empty, the month path (:func:`_write_by_month`:
   only those months are detached, filled ``FREEZE``, indexed and attached back);
4. COPY the cases month by month straight into their partitions
   (:func:`layers.bulk_months.copy_by_month`) with the ``case_keys`` trigger off
   for the transaction, their keys into ``case_keys``, the history rows into the
   months of ``case_events``, the assignments and the reporters;
5. tell the rollups which local days were touched (:func:`touched_local_days`,
   the one place a bulk load reports them);
6. rebuild what was dropped and add the foreign keys back (each validated with
   one anti-join, on the filled months only in the month path).

A crash before the commit rolls all of it back (the trigger's disable too).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from city import time_zone
from gis.assign import H3_RESOLUTIONS
from layers.bulk import (
    CopyPart,
    copy_binary,
    copy_binary_many,
    deferred_indexes_and_foreign_keys,
    point_ewkb_arrow,
    secondary_indexes_and_foreign_keys,
)
from layers.bulk_months import (
    attach,
    copy_by_month,
    event_at_trigger_off,
    is_empty,
    key_trigger_off,
    leaves,
    month_parts,
    probing_joins,
    reserve_ids,
    split_by_month,
    strip,
)
from layers.ingest.arrays import is_none
from layers.ingest.points import take_rows
from layers.ingest.routing import note_frame, plan_routes_of
from layers.ingest.runs import Stage
from layers.partitions import estimated_rows
from layers.rollup_queue import queue_days

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
    conn: Connection,
    fields: dict,
    source: str,
    reason: str,
    *,
    stage: Stage | None = None,
    routes: list[Routes] | None = None,
    h3: Callable[[], dict[str, np.ndarray]] | None = None,
) -> Callable[[np.ndarray], int]:
    """An ``insert(rows)`` that COPYs new cases into their months (see the module notes).

    The open cases are routed before they are written (their department,
    deadline, ``route`` event and lead assignment go in with them); their
    :class:`Routes` are appended to ``routes`` for the run's notes. Open cases
    nothing covers stay unrouted; into a family that held rows, they are left
    to :func:`layers.ingest.routing.route_imported_cases` (not routed is then empty).
    ``h3``: gives the H3 columns when they are not in ``fields`` yet (computed in a
    thread meanwhile); asked for just before the COPY.
    """

    def insert(rows: np.ndarray) -> int:
        say = stage or (lambda _: None)
        say("locking cases")
        conn.execute(sa.text(f"LOCK TABLE {', '.join(FAMILY)} IN ACCESS EXCLUSIVE MODE"))
        new = _not_present(conn, fields, rows, source)
        if not len(new):
            return 0  # a re-run: nothing dropped, nothing rebuilt
        first = reserve_ids(conn, "cases", len(new))
        cases = _cases_table(fields, new, source, np.arange(len(new), dtype=np.int64) + first)
        say("routing open cases")
        routed, missing = _route_in_advance(conn, cases)
        cases = _with_routes(cases, routed, first)
        events = reserve_ids(conn, "case_events", len(new) + len(routed))
        route_events = _route_events(routed, source, events + len(new))
        rows_of = Rows(
            cases,
            _h3_columns(fields, new, h3),
            pa.concat_tables([_history(cases, source, reason, events), route_events]),
            _assignments(routed, route_events),
        )
        empty = _empty_months(conn, rows_of)
        # the routing notes are made in a thread while the server copies and indexes
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notes")
        if empty is not None:
            notes = _noted(routes, pool, routed, missing, fresh=False)
            _write_by_month(conn, rows_of, empty, say)
        else:
            with deferred_indexes_and_foreign_keys(
                conn, FAMILY, truncate_if_empty=True, stage=say
            ) as deferred:
                notes = _noted(routes, pool, routed, missing, fresh=deferred.fresh)
                _write(conn, rows_of, deferred.fresh, say)
        pool.shutdown(wait=False)
        _bulk_reporters(conn, fields, new, cases.column("id").to_numpy())
        queue_days(conn, touched_local_days(cases))
        if routes is not None and notes is not None:
            routes.append(notes)
        return len(new)

    return insert


@dataclass(frozen=True)
class Routes:
    """The open cases a bulk load routed, those nothing covers, and their notes."""

    routed: pd.DataFrame
    missing: pd.DataFrame
    """The open cases nothing covers that this load notes (all of them when ``fresh``)."""
    fresh: bool
    """The family was empty: no later pass needs to look for unrouted cases."""
    notes: Future[pd.DataFrame | None]
    """:func:`layers.ingest.routing.note_frame` of the two (made in a thread)."""


def _noted(
    routes: list[Routes] | None,
    pool: ThreadPoolExecutor,
    routed: pd.DataFrame,
    missing: pd.DataFrame,
    *,
    fresh: bool,
) -> Routes | None:
    """The :class:`Routes` of a load, its notes started in ``pool`` (None: nobody asks)."""
    if routes is None:
        return None
    # fresh: every case of the family is this load's, so the ones nothing
    # covers are noted here too and no later pass needs to look for them
    noted = missing if fresh else missing.iloc[:0]
    return Routes(routed, noted, fresh, pool.submit(note_frame, routed, noted))


@dataclass(frozen=True)
class Rows:
    """What one bulk load writes: cases, their history events, the routed ones' assignments."""

    partial: pa.Table
    """The cases without their H3 columns."""
    h3: Callable[[], dict[str, pa.Array]]
    events: pa.Table
    assignments: pa.Table

    @property
    def cases(self) -> pa.Table:
        """The cases with their H3 columns (waiting for them the first time)."""
        table = self.partial
        for key, cells in self.h3().items():
            table = table.append_column(key, cells)
        return table


def _write(conn: Connection, rows: Rows, fresh: bool, say: Stage) -> None:
    """COPY everything, each month into its partition (``FREEZE`` when ``fresh``)."""
    say("copying into cases")
    cases = rows.cases
    # one pipeline each (encoded in a thread ahead of the server): the months of
    # the cases and their keys, then the months of the history and the assignments
    with key_trigger_off(conn):
        parts = month_parts(conn, "cases", "reported_at", cases, freeze=fresh)
        copy_binary_many(conn, [*parts, CopyPart("case_keys", lambda: _keys(cases), fresh)])
    say("writing case history")
    with event_at_trigger_off(conn):
        parts = month_parts(conn, "case_events", "at", rows.events, freeze=fresh)
        assignments = CopyPart("case_assignments", lambda: rows.assignments, fresh)
        copy_binary_many(conn, [*parts, assignments])


MONTHS_SHARE = 0.2
"""A load into a family that holds rows goes month by month (:func:`_write_by_month`)
when at most this share of its rows fall in months that already hold rows."""


def _empty_months(conn: Connection, rows: Rows) -> list[tuple[str, str, date]] | None:
    """(table, partition, month) of the empty months the load fills, when it should go
    month by month; None for the whole-table path (a fresh family, or too many of
    its rows in months that already hold rows)."""
    if not conn.execute(
        sa.text("SELECT EXISTS (SELECT FROM case_keys) OR EXISTS (SELECT FROM case_events)")
    ).scalar_one():
        return None
    empty, crowded, total = [], 0, 0
    for table, key, data in (
        ("cases", "reported_at", rows.cases),
        ("case_events", "at", rows.events),
    ):
        present = leaves(conn, table)
        for month, part in split_by_month(data, key):
            leaf = f"{table}_p{month:%Y_%m}"
            total += part.num_rows
            if leaf in present and is_empty(conn, leaf):
                empty.append((table, leaf, month))
            else:
                crowded += part.num_rows
    return empty if crowded <= MONTHS_SHARE * total else None


def _write_by_month(
    conn: Connection, rows: Rows, months: list[tuple[str, str, date]], say: Stage
) -> None:
    """Into a family that holds rows: fill the empty months as fresh tables, touch no other.

    Each empty month partition the load fills is detached and stripped
    (:func:`layers.bulk_months.strip`), COPYed ``FREEZE``, given its keys and
    indexes and attached back (its foreign keys checked on its rows only);
    rows of months that hold rows already go in by plain COPY through their
    partitions' indexes. The foreign keys of ``case_keys`` and
    ``case_assignments`` are dropped meanwhile and added back (validated), and
    ``case_keys``' unique constraints that no foreign key uses (case number,
    source id) are built again over all keys after the COPY.
    """
    say(f"detaching {len(months)} empty months")
    foreign = secondary_indexes_and_foreign_keys(conn, ["case_keys", "case_assignments"])
    for table, name, _ in foreign.foreign_keys:
        conn.execute(sa.text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    unique = _unreferenced_unique(conn, "case_keys")
    for name, _ in unique:  # built once over all keys after the COPY: cheaper than 1M inserts
        conn.execute(sa.text(f'ALTER TABLE case_keys DROP CONSTRAINT "{name}"'))
    stripped = [strip(conn, table, leaf, month) for table, leaf, month in months]
    detached = {part.leaf for part in stripped}
    say("copying into cases")
    cases = rows.cases
    with key_trigger_off(conn):
        parts = month_parts(conn, "cases", "reported_at", cases, detached=detached)
        copy_binary_many(conn, [*parts, CopyPart("case_keys", lambda: _keys(cases))])
    for name, definition in unique:
        conn.execute(sa.text(f'ALTER TABLE case_keys ADD CONSTRAINT "{name}" {definition}'))
    say("writing case history")
    copy_by_month(conn, "case_events", "at", rows.events, detached=detached)
    say(f"rebuilding the indexes of {len(stripped)} months")
    for part in stripped:
        attach(conn, part)
    with event_at_trigger_off(conn):
        copy_binary(conn, "case_assignments", rows.assignments)
    say(f"checking {len(foreign.foreign_keys)} foreign keys")
    for table, name, definition in foreign.foreign_keys:
        # the assignments (one per routed case, a tenth of the cases) are checked by
        # probes into case_keys, not by hashing all its keys (layers.bulk_months.
        # probing_joins); against the months of case_events, a probe visits every
        # month's index, and hashing them is faster
        probe = table == "case_assignments" and "REFERENCES case_keys" in definition
        check = probing_joins(conn) if probe else nullcontext()
        with check:
            conn.execute(sa.text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))


def _unreferenced_unique(conn: Connection, table: str) -> list[tuple[str, str]]:
    """(name, definition) of ``table``'s unique constraints that no foreign key uses."""
    rows = conn.execute(
        sa.text("""
        SELECT u.conname, pg_get_constraintdef(u.oid) FROM pg_constraint u
        WHERE u.conrelid = CAST(:t AS regclass) AND u.contype = 'u'
          AND NOT EXISTS (SELECT FROM pg_constraint f
                          WHERE f.contype = 'f' AND f.conindid = u.conindid)
        ORDER BY u.conname
    """),
        {"t": table},
    ).all()
    return [(str(r[0]), str(r[1])) for r in rows]


def _route_in_advance(conn: Connection, cases: pa.Table) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(routed, not routed) open new cases (:func:`plan_routes_of`, before they are written)."""
    open_codes = (
        conn.execute(
            sa.text(
                "SELECT code FROM case_statuses WHERE is_open "
                "AND code NOT IN ('reported', 'accepted', 'registered')"
            )
        )
        .scalars()
        .all()
    )
    candidates = cases.filter(
        pc.fill_null(pc.is_in(cases.column("status"), value_set=pa.array(open_codes)), False)
    )
    frame = candidates.select(
        ["id", "source_id", "street_code", "status", "reported_at", "category_id", "community_id"]
    ).to_pandas()
    frame["event_at"] = pc.coalesce(
        candidates.column("closed_at"), candidates.column("reported_at")
    ).to_pandas()
    frame["urgency"] = "normal"  # the column's default: an import sets no urgency
    return plan_routes_of(conn, frame)


def _with_routes(cases: pa.Table, routed: pd.DataFrame, first_id: int) -> pa.Table:
    """``cases`` with the department, deadline and dispatch time of the routed ones."""
    n = cases.num_rows
    department = np.full(n, -1, dtype=np.int64)
    deadline = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    dispatched = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    if len(routed):
        at = routed.id.to_numpy(dtype=np.int64) - first_id
        department[at] = routed.department_id.to_numpy()
        deadline[at] = _utc(routed.deadline_at)
        dispatched[at] = _utc(routed.reported_at)
    stamp = pa.timestamp("us", tz="UTC")
    return (
        cases.append_column(
            "department_id", pa.array(department, mask=department < 0).cast(pa.int32())
        )
        .append_column("deadline_at", pa.array(deadline, from_pandas=True).cast(stamp))
        .append_column("dispatched_at", pa.array(dispatched, from_pandas=True).cast(stamp))
    )


def _utc(times: pd.Series) -> np.ndarray:
    return times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")


def _route_events(routed: pd.DataFrame, source: str, first_id: int) -> pa.Table:
    """One ``route`` event per routed case (as :data:`layers.ingest.routing.APPLY` writes)."""
    n = len(routed)
    stamp = pa.timestamp("us", tz="UTC")

    def constant(value: str) -> pa.Array:
        return pa.repeat(pa.scalar(value, pa.string()), n)

    if n == 0:
        return _EVENTS.empty_table()
    status = pa.array(routed.status.to_numpy(dtype=object), type=pa.string())
    return pa.table(
        {
            "id": pa.array(np.arange(n, dtype=np.int64) + first_id),
            "case_id": pa.array(routed.id.to_numpy(dtype=np.int64)),
            "street_code": pa.array(routed.street_code.to_numpy(dtype=object), type=pa.string()),
            "at": pa.array(_utc(routed.event_at)).cast(stamp),
            "actor": constant(f"import:{source}"),
            "role": constant("system"),
            "action": constant("route"),
            "from_status": status,
            "to_status": status,
            "reason": pa.array(routed.reason.to_numpy(dtype=object), type=pa.string()),
        },
        schema=_EVENTS,
    )


_EVENTS = pa.schema(
    [
        ("id", pa.int64()),
        ("case_id", pa.int64()),
        ("street_code", pa.string()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("actor", pa.string()),
        ("role", pa.string()),
        ("action", pa.string()),
        ("from_status", pa.string()),
        ("to_status", pa.string()),
        ("reason", pa.string()),
    ]
)


def _assignments(routed: pd.DataFrame, events: pa.Table) -> pa.Table:
    """The lead assignment of each routed case, tied to its ``route`` event."""
    n = len(routed)
    if n == 0:
        return pa.table({"case_id": pa.array([], pa.int64())})
    stamp = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "case_id": events.column("case_id"),
            "street_code": events.column("street_code"),
            "department_id": pa.array(routed.department_id.to_numpy(dtype=np.int64), pa.int32()),
            "role": pa.repeat(pa.scalar("lead", pa.string()), n),
            "rule": pa.array(routed.rule.to_numpy(dtype=object), type=pa.string()),
            "reason": events.column("reason"),
            "assigned_at": pa.array(_utc(routed.reported_at)).cast(stamp),
            "deadline_at": pa.array(_utc(routed.deadline_at)).cast(stamp),
            "event_id": events.column("id"),
            "event_at": events.column("at"),
        }
    )


def touched_local_days(cases: pa.Table) -> dict[str, set[date]]:
    """Street code -> the local days (in the city's zone) of the loaded cases' reports.

    The one place a bulk load says which days it touched, for the leader rollups'
    dirty-day queue (:func:`layers.rollup_queue.queue_days`, in the load's transaction):
    the rows go into the month partitions directly, where the parent's statement
    triggers that queue days for every other write do not fire.
    """
    utc = pd.Series(cases.column("reported_at").to_pandas())
    days = utc.dt.tz_convert(time_zone().key).dt.tz_localize(None).to_numpy("datetime64[D]")
    frame = pd.DataFrame(
        {"day": days, "street": cases.column("street_code").to_pandas()}
    ).drop_duplicates()
    by_street: dict[str, set[date]] = {}
    for day, street in frame.itertuples(index=False):
        by_street.setdefault(str(street), set()).add(pd.Timestamp(day).date())
    return by_street


def _not_present(conn: Connection, fields: dict, rows: np.ndarray, source: str) -> np.ndarray:
    """``rows`` whose source id is not yet a key of ``source``.

    The keys come back as one CSV COPY, every value quoted (a quote, a
    backslash, a tab or a line break inside an id stays in its quotes), are
    parsed by Arrow's CSV reader and matched in Arrow: a million keys in well
    under a second, where a row per key through the driver took seconds (and a
    regular expression per key, to send the ones text COPY escapes apart, 2.5 s).
    """
    source_literal = conn.execute(
        sa.text("SELECT quote_literal(CAST(:v AS text))"), {"v": source}
    ).scalar_one()
    keys = (
        f"SELECT source_id FROM case_keys WHERE source_system = {source_literal} "
        "AND source_id IS NOT NULL"
    )
    raw = conn.connection.driver_connection
    assert raw is not None
    blob = bytearray()
    with (
        raw.cursor() as cur,
        cur.copy(f"COPY ({keys}) TO STDOUT (FORMAT csv, FORCE_QUOTE *)") as copy,
    ):
        for chunk in copy:
            blob += chunk
    if not blob:
        return rows
    present = pacsv.read_csv(
        pa.BufferReader(bytes(blob)),
        read_options=pacsv.ReadOptions(column_names=["source_id"]),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={"source_id": pa.string()},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    ).column("source_id")
    ids = pa.array(take_rows(fields["source_id"], rows), type=pa.string(), from_pandas=True)
    known = pc.is_in(ids, value_set=present.combine_chunks())
    return rows[~pc.fill_null(known, False).to_numpy(zero_copy_only=False)]


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
            "source": text("channel"),
            "description": text("description"),
            "status": text("status"),
            "reported_at": reported,
            "registered_at": reported,
            "closed_at": pa.array(take_rows(fields["closed_at"], rows)),
            "source_system": pa.repeat(pa.scalar(source, pa.string()), len(rows)),
            "source_id": source_id,
            "geom": point_ewkb_arrow(fields["x"][rows], fields["y"][rows], hex=False),
            "address": text("address"),
        }
    )


def _h3_columns(
    fields: dict, rows: np.ndarray, pending: Callable[[], dict[str, np.ndarray]] | None
) -> Callable[[], dict[str, pa.Array]]:
    """A callable giving the H3 columns of ``rows`` (from ``fields``, else from ``pending``)."""
    got: dict[str, pa.Array] = {}

    def columns() -> dict[str, pa.Array]:
        if not got:
            source = pending() if pending is not None else fields
            for r in H3_RESOLUTIONS:
                got[f"h3_r{r}"] = pa.array(source[f"h3_r{r}"][rows], type=pa.int64())
        return got

    return columns


def _keys(cases: pa.Table) -> pa.Table:
    """The ``case_keys`` rows of ``cases`` (what the trigger ``cases_keys_insert`` writes)."""
    return cases.select(
        ["id", "reported_at", "case_no", "source_system", "source_id", "street_code"]
    )


def _history(cases: pa.Table, source: str, reason: str, first_id: int) -> pa.Table:
    """One ``import`` event per case, at its close (else report) time, in case-id order."""
    n = cases.num_rows

    def constant(value: str | None) -> pa.Array:
        return pa.repeat(pa.scalar(value, pa.string()), n)

    return pa.table(
        {
            "id": pa.array(np.arange(n, dtype=np.int64) + first_id),
            "case_id": cases.column("id"),
            "street_code": cases.column("street_code"),
            "at": pc.coalesce(cases.column("closed_at"), cases.column("reported_at")).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "actor": constant(f"import:{source}"),
            "role": constant("system"),
            "action": constant("import"),
            "from_status": constant(None),
            "to_status": cases.column("status"),
            "reason": constant(reason),
        },
        schema=_EVENTS,
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
