"""Bulk writes into monthly partitions: each month's rows COPYed straight into its partition.

PostgreSQL refuses ``COPY … FREEZE`` into a partitioned parent, and a COPY
through the parent routes every row. A leaf partition is an ordinary table: a
COPY into it needs no routing, and when the leaf was truncated or created in
the same transaction it may be ``FREEZE`` and, at ``wal_level = minimal``,
skips the WAL. :func:`months_of_rows` splits rows by the UTC month of their partition
key and :func:`month_parts_of` makes one COPY of each month into its leaf (the
default partition for a month without one).

:func:`key_trigger_off` lets a bulk load write ``case_keys`` itself (one
binary COPY) instead of through the row trigger ``cases_keys_insert``, and
:func:`event_at_trigger_off` lets it write ``case_assignments.event_at``
instead of a lookup per row: the trigger is disabled for the load's
transaction only, under the load's lock (nobody else can write the table
meanwhile), and enabled again before the commit; a crash rolls the disable
back with the rest.

:func:`reserve_ids` takes a range of a table's identity sequence, so the loader
knows the new ids before the COPY (the keys and the history are written from
them, not read back).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.bulk import CopyPart
from layers.partitions import KEYS

KEY_FUNCTION = "gridgov_case_keys_write"
"""The function of the row trigger that writes ``case_keys`` on insert into ``cases``."""
EVENT_AT_FUNCTION = "gridgov_event_at"
"""The function of the row trigger that fills ``event_at`` from ``event_id``."""
INSERT = 4
"""``pg_trigger.tgtype``: fires on INSERT."""


def leaves(conn: Connection, table: str) -> dict[str, str]:
    """The leaf partitions of ``table``: ``{name: bound}`` (``DEFAULT``: the default one)."""
    rows = conn.execute(
        sa.text("""
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = CAST(:t AS regclass)
    """),
        {"t": table},
    ).all()
    return {str(r[0]): str(r[1]) for r in rows}


def month_keys(times: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """``year * 100 + month`` of each instant, in UTC (the months of the partitions)."""
    utc = times.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
    stamps = np.asarray(utc.to_numpy(zero_copy_only=False), dtype="datetime64[M]")
    months = stamps.astype(np.int64)  # months since 1970-01
    return (1970 + months // 12) * 100 + months % 12 + 1


def month_counts(times: pa.Array | pa.ChunkedArray) -> list[tuple[date, int]]:
    """(first day of the UTC month, how many of ``times`` fall in it), month by month."""
    codes, counts = np.unique(month_keys(times), return_counts=True)
    return [
        (date(int(c) // 100, int(c) % 100, 1), int(n)) for c, n in zip(codes, counts, strict=True)
    ]


def months_of(data: pa.Table, key: str) -> list[tuple[date, Callable[[], pa.Table]]]:
    """(first day of the UTC month, a callable taking its rows in their order) for each
    month of ``data[key]``: each month's rows are taken only when asked for."""
    if data.num_rows == 0:
        return []
    return months_of_rows(data.column(key), data.take)


def months_of_rows(
    times: pa.Array | pa.ChunkedArray, take: Callable[[np.ndarray], pa.Table]
) -> list[tuple[date, Callable[[], pa.Table]]]:
    """:func:`months_of` for rows not made yet: ``take(positions)`` makes the rows at
    those positions (in ``times``' order) when their month is asked for — e.g. in
    :func:`layers.bulk.copy_binary_many`'s encoding thread, while the server copies
    the month before."""
    if len(times) == 0:
        return []
    keys = month_keys(times)
    order = _stable_order(keys)
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(order)]

    def rows(at: np.ndarray) -> Callable[[], pa.Table]:
        return lambda: take(at)

    out = []
    for lo, hi in zip(starts, ends, strict=True):
        code = int(sorted_keys[lo])
        out.append((date(code // 100, code % 100, 1), rows(order[lo:hi])))
    return out


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")``; as 16-bit offsets when they fit (numpy then
    sorts by radix: a million month keys in a few milliseconds instead of ~70)."""
    low = keys.min()
    if int(keys.max()) - int(low) < 1 << 16:
        return np.argsort((keys - low).astype(np.uint16), kind="stable")
    return np.argsort(keys, kind="stable")


def month_parts_of(
    conn: Connection,
    table: str,
    months: list[tuple[date, Callable[[], pa.Table]]],
    *,
    freeze: bool = False,
    detached: set[str] | frozenset[str] = frozenset(),
) -> list[CopyPart]:
    """One COPY (for :func:`layers.bulk.copy_binary_many`) per month of ``months``
    (:func:`months_of_rows`: each month's rows made when their COPY comes) into its
    leaf partition of ``table``. A month without its partition goes to
    ``<table>_default`` (no row is lost). ``freeze``: the leaves were truncated or
    created in this transaction (a fresh load). ``detached``: month partitions taken
    out by :func:`strip` (written ``FREEZE``, attached back later)."""
    present = leaves(conn, table)
    parts = []
    for month, rows in months:
        name = f"{table}_p{month:%Y_%m}"
        leaf = name if name in present or name in detached else f"{table}_default"
        parts.append(CopyPart(leaf, rows, freeze=freeze or leaf in detached))
    return parts


def reserve_ids(conn: Connection, table: str, n: int) -> int:
    """The first of ``n`` new ids of ``table`` taken from its identity sequence.

    Above every id already in the table (a loader that wrote explicit ids
    need not have moved the sequence). Call it under a lock that keeps other
    writers of ``table`` out (a bulk load's ``ACCESS EXCLUSIVE``). Like
    ``nextval``, a rolled-back load leaves a gap.
    """
    sequence = conn.execute(
        sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}
    ).scalar_one()
    if n <= 0:
        return 0
    top = conn.execute(sa.text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()
    following = conn.execute(sa.text("SELECT nextval(:s)"), {"s": sequence}).scalar_one()
    first = max(int(top) + 1, int(following))
    conn.execute(sa.text("SELECT setval(:s, :v)"), {"s": sequence, "v": first + n - 1})
    return first


@contextmanager
def trigger_off(conn: Connection, table: str, function: str, event: int) -> Iterator[str]:
    """Disable ``table``'s row trigger that runs ``function`` on ``event`` in the transaction.

    ``event``: the ``pg_trigger.tgtype`` bit (4 insert, 8 delete, 16 update).
    For a bulk load that writes what the trigger would (the keys of the cases,
    the month of an event) in its own COPY. Requires the load's lock on
    ``table``; enabled again on leaving, and a rollback undoes the disable anyway.
    """
    name = conn.execute(
        sa.text("""
        SELECT t.tgname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
        WHERE t.tgrelid = CAST(:t AS regclass) AND p.proname = :f AND NOT t.tgisinternal
          AND (t.tgtype & :e) <> 0
    """),
        {"t": table, "f": function, "e": event},
    ).scalar_one()
    conn.execute(sa.text(f'ALTER TABLE {table} DISABLE TRIGGER "{name}"'))
    yield str(name)
    conn.execute(sa.text(f'ALTER TABLE {table} ENABLE TRIGGER "{name}"'))


def key_trigger_off(conn: Connection) -> AbstractContextManager[str]:
    """The ``case_keys`` insert trigger of ``cases`` off (the load COPYs the keys itself)."""
    return trigger_off(conn, "cases", KEY_FUNCTION, INSERT)


def event_at_trigger_off(conn: Connection) -> AbstractContextManager[str]:
    """The ``event_at`` lookup of ``case_assignments`` off (the load gives ``event_at``)."""
    return trigger_off(conn, "case_assignments", EVENT_AT_FUNCTION, INSERT)


@dataclass
class Stripped:
    """A month partition taken out of its parent for a load, to be put back by :func:`attach`."""

    table: str
    leaf: str
    month: date
    keys: list[tuple[str, str]]
    """(constraint, definition) of its primary key and unique constraints."""
    indexes: list[str]
    """CREATE INDEX statements of its other indexes."""


def is_empty(conn: Connection, leaf: str) -> bool:
    """True when the partition ``leaf`` holds no row."""
    return not conn.execute(sa.text(f'SELECT EXISTS (SELECT FROM "{leaf}")')).scalar_one()


def strip(conn: Connection, table: str, leaf: str, month: date) -> Stripped:
    """Detach the empty month partition ``leaf`` of ``table`` and leave it a bare table.

    Its indexes, keys and foreign keys are dropped and it is truncated (a new
    file in this transaction): rows COPYed into it now go in ``FREEZE`` and, at
    ``wal_level = minimal``, without WAL; no row trigger fires (the parent's
    triggers are cloned back on attach). Row-level security, grants and
    comment stay with the table. Detached, its rows are not seen through the
    parent until :func:`attach`; the caller holds ``ACCESS EXCLUSIVE`` on the
    parent, so nobody looks meanwhile.
    """
    keys = conn.execute(
        sa.text("""
        SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u') ORDER BY conname
    """),
        {"t": leaf},
    ).all()
    indexes = conn.execute(
        sa.text("""
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
        WHERE i.indrelid = CAST(:t AS regclass)
          AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY 1
    """),
        {"t": leaf},
    ).all()
    conn.execute(sa.text(f'ALTER TABLE {table} DETACH PARTITION "{leaf}"'))
    foreign = conn.execute(
        sa.text(
            "SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
            "AND contype = 'f'"
        ),
        {"t": leaf},
    ).scalars()
    for name in list(foreign):
        conn.execute(sa.text(f'ALTER TABLE "{leaf}" DROP CONSTRAINT "{name}"'))
    for name, _ in keys:
        conn.execute(sa.text(f'ALTER TABLE "{leaf}" DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        conn.execute(sa.text(f"DROP INDEX {name}"))
    conn.execute(sa.text(f'TRUNCATE "{leaf}"'))
    # the month's bounds as a CHECK, added while the table is empty (no scan): each row
    # COPYed in is checked as it comes, and the attach skips its own scan of the rows
    key, (low, high) = KEYS[table], _bounds(month)
    conn.execute(
        sa.text(
            f'ALTER TABLE "{leaf}" ADD CONSTRAINT "{leaf}_bounds" CHECK ({key} IS NOT NULL '
            f"AND {key} >= '{low}' AND {key} < '{high}')"
        )
    )
    return Stripped(table, leaf, month, [(r[0], r[1]) for r in keys], [r[1] for r in indexes])


def attach(conn: Connection, part: Stripped) -> None:
    """Build ``part``'s keys and indexes on its rows and attach it back to its month.

    The ``CHECK`` constraint equal to the month's bounds that :func:`strip` added lets
    the attach skip its scan of the rows (dropped after); the parent's foreign keys are
    cloned onto the partition and checked against its rows only, its indexes
    are matched to the parent's, its triggers cloned.
    """
    low, high = _bounds(part.month)
    for name, definition in part.keys:
        conn.execute(sa.text(f'ALTER TABLE "{part.leaf}" ADD CONSTRAINT "{name}" {definition}'))
    for definition in part.indexes:
        conn.execute(sa.text(definition))
    with probing_joins(conn) if part.table in PROBED else nullcontext():
        conn.execute(
            sa.text(
                f'ALTER TABLE {part.table} ATTACH PARTITION "{part.leaf}" '
                f"FOR VALUES FROM ('{low}') TO ('{high}')"
            )
        )
    conn.execute(sa.text(f'ALTER TABLE "{part.leaf}" DROP CONSTRAINT "{part.leaf}_bounds"'))


def _bounds(month: date) -> tuple[str, str]:
    """The month's partition bounds (UTC) as literals: its first instant and the next's."""
    after = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return f"{month:%Y-%m-01} 00:00:00+00", f"{after:%Y-%m-01} 00:00:00+00"


PROBED = frozenset({"case_events"})
"""Tables whose months are attached with :func:`probing_joins`: every row of theirs is
checked against ``case_keys`` (``case_id`` is never null). The months of ``cases`` are
not: their foreign keys reference small tables (categories, places, departments), best
hashed, or ``case_keys`` by ``merged_into``, which is null on nearly every row."""
JOINS = ("enable_mergejoin", "enable_hashjoin")
"""Planner settings off while a month is attached (see :func:`probing_joins`)."""


@contextmanager
def probing_joins(conn: Connection) -> Iterator[None]:
    """Merge and hash joins off for what runs inside (this transaction only), then back.

    Attaching a month checks each foreign key of the parent on the month's rows (one
    anti-join of the month against the referenced table). Inside a load, the month has
    no statistics and the keys just written are not yet all-visible, and PostgreSQL plans
    the check against ``case_keys`` as a hash (or merge) anti join that reads all of
    ``case_keys`` — 2 million keys, again for every month attached, ~1 s each — where the
    month's own rows need only their probes into its primary key (a nested loop,
    0.1–0.35 s for 100,000 rows; a small referenced table such as the statuses costs
    ~0.1 s more that way than hashed). The settings are local to the transaction and
    restored as they were on leaving.
    """
    before = [
        conn.execute(sa.text("SELECT current_setting(:g)"), {"g": g}).scalar_one() for g in JOINS
    ]
    for g in JOINS:
        conn.execute(sa.text("SELECT set_config(:g, 'off', true)"), {"g": g})
    yield  # on an error the transaction (or savepoint) is rolled back, and the settings with it
    for g, value in zip(JOINS, before, strict=True):
        conn.execute(sa.text("SELECT set_config(:g, :v, true)"), {"g": g, "v": value})
