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
   (:func:`layers.bulk_months.month_parts_of`) with the ``case_keys`` trigger off
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
from dataclasses import dataclass, replace
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
    Deferred,
    build_early,
    copy_binary,
    copy_binary_many,
    deferred_indexes_and_foreign_keys,
    point_ewkb_arrow,
    secondary_indexes_and_foreign_keys,
)
from layers.bulk_months import (
    attach,
    event_at_trigger_off,
    is_empty,
    key_trigger_off,
    leaves,
    month_counts,
    month_parts_of,
    months_of_rows,
    probing_joins,
    reserve_ids,
    strip,
)
from layers.ingest.arrays import is_none
from layers.ingest.points import take_rows
from layers.ingest.routing import decide_routes, note_frame, route_places
from layers.ingest.runs import Stage
from layers.partitions import estimated_rows
from layers.rollup_queue import queue_days

BULK_MIN_ROWS = 100_000
"""Automatic bulk mode needs at least this many good rows ..."""
BULK_MIN_SHARE = 0.25
"""... and at least this share of the rows already in ``cases`` (rebuilding the
indexes and re-validating the foreign keys costs in proportion to the table)."""

H3_KEYS = [f"h3_r{r}" for r in H3_RESOLUTIONS]
"""The H3 columns of ``cases``."""

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
    h3: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None,
    server_alone: list[Callable[[], None]] | None = None,
) -> Callable[[np.ndarray], int]:
    """An ``insert(rows)`` that COPYs new cases into their months (see the module notes).

    The open cases are routed before they are written (their department,
    deadline, ``route`` event and lead assignment go in with them); their
    :class:`Routes` are appended to ``routes`` for the run's notes. Open cases
    nothing covers stay unrouted; into a family that held rows, they are left
    to :func:`layers.ingest.routing.route_imported_cases` (not routed is then empty).
    ``h3``: gives the H3 columns of some file rows when they are not in ``fields``
    (made month by month while the server copies the month before).
    ``server_alone``: work to start (in threads) once the rows are copied, while
    the server rebuilds the indexes and the load has nothing else to do (e.g.
    the quarantine's rows, :func:`layers.ingest.points.point_batches`); started
    then, it does not compete for the interpreter with the load's own work
    before. Emptied as it is started.
    """

    def insert(rows: np.ndarray) -> int:
        say = stage or (lambda _: None)
        say("locking cases")
        conn.execute(sa.text(f"LOCK TABLE {', '.join(FAMILY)} IN ACCESS EXCLUSIVE MODE"))
        new = _not_present(conn, fields, rows, source)
        if not len(new):
            return 0  # a re-run: nothing dropped, nothing rebuilt
        first = reserve_ids(conn, "cases", len(new))
        core = _core(fields, new, first)
        say("routing open cases")
        places = _route_places(conn, fields, new, core)
        # the routes are decided in a thread while the server drops the indexes; the
        # routing notes (and the caller's work) while it rebuilds them
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="routes")
        deciding = pool.submit(decide_routes, places)
        # the months of the history as far as they are known: the route events'
        # are among those of the cases that may be routed
        empty = _empty_months(conn, core, places)
        routed, missing = pd.DataFrame(), pd.DataFrame()

        def to_write() -> Rows:
            nonlocal routed, missing
            routed, missing = deciding.result()
            events = reserve_ids(conn, "case_events", len(new) + len(routed))
            route_events = _route_events(routed, source, events + len(new))
            routes_of = _route_columns(routed, len(new), first)
            return Rows(
                core,
                _case_rows(fields, new, source, core, routes=routes_of, h3=h3),
                lambda: _keys(fields, new, source, core),
                _History(core, source, reason, events, route_events),
                _assignments(routed, route_events),
            )

        notes: Routes | None = None

        def copied(fresh: bool) -> None:
            nonlocal notes
            notes = _noted(routes, pool, routed, missing, fresh=fresh)
            for start in server_alone or ():
                start()
            if server_alone:
                server_alone.clear()

        if empty is not None:
            _write_by_month(conn, to_write(), empty, say, copied=lambda: copied(False))
        else:
            with deferred_indexes_and_foreign_keys(
                conn, FAMILY, truncate_if_empty=True, stage=say
            ) as deferred:
                _write(conn, to_write(), deferred, say)
                copied(deferred.fresh)
        pool.shutdown(wait=False)
        _bulk_reporters(conn, fields, new, core.column("id").to_numpy())
        queue_days(conn, touched_local_days(core))
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
    """What one bulk load writes: cases, their keys, history events, the routed ones'
    assignments.

    Only :attr:`core` is made up front. The rest is made when its COPY comes,
    in :func:`layers.bulk.copy_binary_many`'s encoding thread, while the server
    copies what came before: most of a load's own work then overlaps the
    server's (the full rows of a month of cases, their text, geometry, H3 and
    routing, are made while the month before is copied).
    """

    core: pa.Table
    """``id``, ``street_code``, ``status``, ``reported_at`` and ``closed_at`` of every
    new case, in id order."""
    cases: Callable[[np.ndarray], pa.Table]
    """The full ``cases`` rows at these positions of :attr:`core`."""
    keys: Callable[[], pa.Table]
    """The ``case_keys`` rows of every new case."""
    events: _History
    assignments: pa.Table

    def case_months(self) -> list[tuple[date, Callable[[], pa.Table]]]:
        """The cases by UTC month of their report (each month's rows made when asked for)."""
        return months_of_rows(self.core.column("reported_at"), self.cases)


class _History:
    """The history rows of a load: one ``import`` event per case (at its close, else
    report time, in case-id order), then the ``route`` events; made once, when first
    asked for."""

    def __init__(
        self, core: pa.Table, source: str, reason: str, first_id: int, routes: pa.Table
    ) -> None:
        self._args = (core, source, reason, first_id)
        self._routes = routes
        self._table: pa.Table | None = None
        at = pc.coalesce(core.column("closed_at"), core.column("reported_at"))
        self.at = pa.chunked_array(
            [*at.cast(_STAMP).chunks, *routes.column("at").chunks], type=_STAMP
        )
        """Each row's ``at``, known before the rows are made (their months)."""

    def table(self) -> pa.Table:
        if self._table is None:
            self._table = pa.concat_tables([_history(*self._args), self._routes])
        return self._table

    def months(self) -> list[tuple[date, Callable[[], pa.Table]]]:
        """The rows by UTC month of ``at`` (made when the first month is asked for)."""
        return months_of_rows(self.at, lambda at: self.table().take(at))


_STAMP = pa.timestamp("us", tz="UTC")


def _write(conn: Connection, rows: Rows, deferred: Deferred, say: Stage) -> None:
    """COPY everything, each month into its partition (``FREEZE`` when the load is fresh).

    One pipeline (made and encoded in a thread ahead of the server): the months
    of the cases, their keys, the months of the history, the assignments. Each
    month's indexes (and keys) are built as soon as its rows are in
    (:func:`layers.bulk.build_early`), while the thread makes the next months: the
    rebuild at the end then only attaches them.
    """
    fresh = deferred.fresh
    cases = month_parts_of(conn, "cases", rows.case_months(), freeze=fresh)
    events = month_parts_of(conn, "case_events", rows.events.months(), freeze=fresh)
    parents = {
        **{part.table: "cases" for part in cases},
        **{part.table: "case_events" for part in events},
    }

    def copied(part: CopyPart) -> None:
        build_early(conn, deferred, part.table, parents.get(part.table))

    with key_trigger_off(conn), event_at_trigger_off(conn):
        copy_binary_many(
            conn,
            [
                *_announced(cases, "copying into cases"),
                CopyPart("case_keys", rows.keys, fresh),
                *_announced(events, "writing case history"),
                CopyPart("case_assignments", lambda: rows.assignments, fresh),
            ],
            say=say,
            copied=copied,
        )


def _announced(parts: list[CopyPart], stage: str) -> list[CopyPart]:
    """``parts``, the first of them saying ``stage`` as its COPY starts."""
    return [replace(parts[0], stage=stage), *parts[1:]] if parts else parts


MONTHS_SHARE = 0.2
"""A load into a family that holds rows goes month by month (:func:`_write_by_month`)
when at most this share of its rows fall in months that already hold rows."""


def _empty_months(
    conn: Connection, core: pa.Table, places: pd.DataFrame
) -> list[tuple[str, str, date]] | None:
    """(table, partition, month) of the empty months the load fills, when it should go
    month by month; None for the whole-table path (a fresh family, or too many of
    its rows in months that already hold rows).

    ``core``: :attr:`Rows.core`; ``places``: :func:`_route_places` (the history's
    months are its import events' and those of the cases that may be routed)."""
    if not conn.execute(
        sa.text("SELECT EXISTS (SELECT FROM case_keys) OR EXISTS (SELECT FROM case_events)")
    ).scalar_one():
        return None
    empty, crowded, total = [], 0, 0
    imports = pc.coalesce(core.column("closed_at"), core.column("reported_at")).cast(_STAMP)
    routes = pa.array(_utc(places.event_at) if len(places) else [], _STAMP)
    for table, times in (
        ("cases", core.column("reported_at")),
        ("case_events", pa.chunked_array([*imports.chunks, routes], type=_STAMP)),
    ):
        present = leaves(conn, table)
        for month, n in month_counts(times):
            leaf = f"{table}_p{month:%Y_%m}"
            total += n
            if leaf in present and is_empty(conn, leaf):
                empty.append((table, leaf, month))
            else:
                crowded += n
    return empty if crowded <= MONTHS_SHARE * total else None


def _write_by_month(
    conn: Connection,
    rows: Rows,
    months: list[tuple[str, str, date]],
    say: Stage,
    *,
    copied: Callable[[], None],
) -> None:
    """Into a family that holds rows: fill the empty months as fresh tables, touch no other.

    Each empty month partition the load fills is detached and stripped
    (:func:`layers.bulk_months.strip`), COPYed ``FREEZE``, given its keys and
    indexes and attached back (its foreign keys checked on its rows only);
    rows of months that hold rows already go in by plain COPY through their
    partitions' indexes. The foreign keys of ``case_keys`` and
    ``case_assignments`` are dropped meanwhile and added back (validated), and
    ``case_keys``' unique constraints that no foreign key uses (case number,
    source id) are built again over all keys after the COPY. ``copied`` is
    called once the cases and their history are copied, before the months'
    indexes are built.
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
    with key_trigger_off(conn):
        parts = month_parts_of(conn, "cases", rows.case_months(), detached=detached)
        copy_binary_many(conn, [*parts, CopyPart("case_keys", rows.keys)])
    for name, definition in unique:
        conn.execute(sa.text(f'ALTER TABLE case_keys ADD CONSTRAINT "{name}" {definition}'))
    say("writing case history")
    copy_binary_many(
        conn, month_parts_of(conn, "case_events", rows.events.months(), detached=detached)
    )
    copied()
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


def _route_places(conn: Connection, fields: dict, rows: np.ndarray, core: pa.Table) -> pd.DataFrame:
    """The open new cases with their places (:func:`layers.ingest.routing.route_places`,
    before they are written; :func:`decide_routes` routes them).

    ``core``: :attr:`Rows.core` of the file rows ``rows``."""
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
    is_open = pc.is_in(core.column("status"), value_set=pa.array(open_codes, pa.string()))
    at = np.flatnonzero(pc.fill_null(is_open, False).to_numpy(zero_copy_only=False))
    candidates = core.take(at)
    chosen = rows[at]
    frame = pa.table(
        {
            "id": candidates.column("id"),
            "source_id": _text(fields, "source_id", chosen),
            "street_code": candidates.column("street_code"),
            "status": candidates.column("status"),
            "reported_at": candidates.column("reported_at"),
            "category_id": _ints(fields, "category_id", chosen, pa.int32()),
            "community_id": _ints(fields, "community_id", chosen, pa.int32()),
        }
    ).to_pandas()
    frame["event_at"] = pc.coalesce(
        candidates.column("closed_at"), candidates.column("reported_at")
    ).to_pandas()
    frame["urgency"] = "normal"  # the column's default: an import sets no urgency
    return route_places(conn, frame)


def _route_columns(
    routed: pd.DataFrame, n: int, first_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(department, deadline, dispatch time) of each of the ``n`` new cases, by position
    (-1 and NaT for those not routed)."""
    department = np.full(n, -1, dtype=np.int64)
    deadline = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    dispatched = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    if len(routed):
        at = routed.id.to_numpy(dtype=np.int64) - first_id
        department[at] = routed.department_id.to_numpy()
        deadline[at] = _utc(routed.deadline_at)
        dispatched[at] = _utc(routed.reported_at)
    return department, deadline, dispatched


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


def _text(fields: dict, key: str, rows: np.ndarray) -> pa.Array:
    return pa.array(take_rows(fields[key], rows), type=pa.string(), from_pandas=True)


def _ints(fields: dict, key: str, rows: np.ndarray, kind: pa.DataType) -> pa.Array:
    return pa.array(take_rows(fields[key], rows), type=kind, from_pandas=True)


def _core(fields: dict, rows: np.ndarray, first_id: int) -> pa.Table:
    """:attr:`Rows.core` of the file rows ``rows``, their ids from ``first_id`` on."""
    return pa.table(
        {
            "id": pa.array(np.arange(len(rows), dtype=np.int64) + first_id),
            "street_code": _text(fields, "street_code", rows),
            "status": _text(fields, "status", rows),
            "reported_at": pa.array(take_rows(fields["reported_at"], rows)),
            "closed_at": pa.array(take_rows(fields["closed_at"], rows)),
        }
    )


def _case_rows(
    fields: dict,
    rows: np.ndarray,
    source: str,
    core: pa.Table,
    *,
    routes: tuple[np.ndarray, np.ndarray, np.ndarray],
    h3: Callable[[np.ndarray], dict[str, np.ndarray]] | None,
) -> Callable[[np.ndarray], pa.Table]:
    """:attr:`Rows.cases`: the ``cases`` columns (geometry as EWKB bytes) of the file rows
    ``rows``, by position; ``routes``: :func:`_route_columns`; the H3 columns from
    ``h3`` (of the file rows), else from ``fields``."""
    department, deadline, dispatched = routes

    def take(at: np.ndarray) -> pa.Table:
        chosen = rows[at]
        known = core.take(at)
        source_id = _text(fields, "source_id", chosen)
        cells = h3(chosen) if h3 is not None else {k: fields[k][chosen] for k in H3_KEYS}
        departments = department[at]
        return pa.table(
            {
                "id": known.column("id"),
                "case_no": pc.binary_join_element_wise(pa.scalar(f"{source}-"), source_id, ""),
                "category_id": _ints(fields, "category_id", chosen, pa.int32()),
                "street_code": known.column("street_code"),
                "community_id": _ints(fields, "community_id", chosen, pa.int32()),
                "grid_id": _ints(fields, "grid_id", chosen, pa.int32()),
                "source": _text(fields, "channel", chosen),
                "description": _text(fields, "description", chosen),
                "status": known.column("status"),
                "reported_at": known.column("reported_at"),
                "registered_at": known.column("reported_at"),
                "closed_at": known.column("closed_at"),
                "source_system": pa.repeat(pa.scalar(source, pa.string()), len(at)),
                "source_id": source_id,
                "geom": point_ewkb_arrow(fields["x"][chosen], fields["y"][chosen], hex=False),
                "address": _text(fields, "address", chosen),
                **{key: pa.array(cells[key], type=pa.int64()) for key in H3_KEYS},
                "department_id": pa.array(departments, mask=departments < 0).cast(pa.int32()),
                "deadline_at": pa.array(deadline[at], from_pandas=True).cast(_STAMP),
                "dispatched_at": pa.array(dispatched[at], from_pandas=True).cast(_STAMP),
            }
        )

    return take


def _keys(fields: dict, rows: np.ndarray, source: str, core: pa.Table) -> pa.Table:
    """The ``case_keys`` rows of the new cases (what the trigger ``cases_keys_insert`` writes)."""
    source_id = _text(fields, "source_id", rows)
    return pa.table(
        {
            "id": core.column("id"),
            "reported_at": core.column("reported_at"),
            "case_no": pc.binary_join_element_wise(pa.scalar(f"{source}-"), source_id, ""),
            "source_system": pa.repeat(pa.scalar(source, pa.string()), len(rows)),
            "source_id": source_id,
            "street_code": core.column("street_code"),
        }
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
