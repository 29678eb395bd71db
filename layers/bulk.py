"""The fast path for writing many rows: PostgreSQL COPY through psycopg 3."""

from __future__ import annotations

import io
import queue
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely
import sqlalchemy as sa
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy.engine import Connection

from gis.crs import WGS84
from gis.errors import GridGovError


class BulkLoadError(GridGovError, RuntimeError):
    """COPY into a layer failed; the transaction is left for the caller to roll back."""

    code = "bulk_load"
    kind = "bad_input"


def ewkb_hex(geoms: np.ndarray | pd.Series) -> np.ndarray:
    """Hex EWKB with SRID 4326 of each geometry (None stays None), for COPY."""
    arr = np.asarray(geoms, dtype=object)
    return shapely.to_wkb(shapely.set_srid(arr, WGS84), hex=True, include_srid=True)


_EWKB_POINT_4326 = np.frombuffer(bytes.fromhex("0101000020E6100000"), dtype=np.uint8)
_HEX_DIGITS = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)


def point_ewkb(lon: np.ndarray | pd.Series, lat: np.ndarray | pd.Series) -> np.ndarray:
    """Hex EWKB points (SRID 4326) from lon/lat arrays (object array of str), for COPY."""
    return point_ewkb_arrow(lon, lat).to_numpy(zero_copy_only=False)


def point_ewkb_arrow(
    lon: np.ndarray | pd.Series, lat: np.ndarray | pd.Series, *, hex: bool = True
) -> pa.Array:
    """EWKB points (SRID 4326) from lon/lat arrays: hex text, or raw bytes with ``hex=False``.

    Built in numpy (header, then the two little-endian doubles, then hex
    digits): ten times faster than ``shapely.to_wkb`` for a million points,
    and the same bytes (PostGIS reads the text as geometry input, and the
    raw bytes in a binary COPY).
    """
    x = np.ascontiguousarray(lon, dtype="<f8")
    y = np.ascontiguousarray(lat, dtype="<f8")
    n = len(x)
    raw = np.empty((n, 25), dtype=np.uint8)
    raw[:, :9] = _EWKB_POINT_4326
    raw[:, 9:17] = x.view(np.uint8).reshape(n, 8)
    raw[:, 17:25] = y.view(np.uint8).reshape(n, 8)
    if not hex:
        return _as_binary(raw.reshape(-1), 25)
    text = np.empty((n, 50), dtype=np.uint8)
    text[:, 0::2] = _HEX_DIGITS[raw >> 4]
    text[:, 1::2] = _HEX_DIGITS[raw & 15]
    return _as_binary(text.reshape(-1), 50).cast(pa.string())


def copy_frame(conn: Connection, table: str, frame: pd.DataFrame, chunk_rows: int = 250_000) -> int:
    """COPY ``frame`` into ``table`` (columns named as in the table); return rows written.

    Runs inside the caller's transaction: nothing is committed here.
    """
    if frame.empty:
        return 0
    frame = _integer_ids(frame)
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    raw = conn.connection.driver_connection
    assert raw is not None
    # Arrow's CSV writer is ~6x faster than DataFrame.to_csv; it quotes every
    # string, so NULL (unquoted empty) and '' (quoted) stay distinct.
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    try:
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)") as copy,
        ):
            for start in range(0, len(frame), chunk_rows):
                chunk = pa.Table.from_pandas(
                    frame.iloc[start : start + chunk_rows], preserve_index=False
                )
                buf = io.BytesIO()
                pacsv.write_csv(chunk, buf, options)
                copy.write(buf.getvalue())
    except psycopg.Error as exc:
        detail = exc.diag.message_detail or ""
        raise BulkLoadError(
            f"COPY into {table} failed: {exc.diag.message_primary} {detail}".strip()
        ) from exc
    return len(frame)


PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
"""Binary COPY signature, flags (0) and header extension length (0)."""
PGCOPY_TRAILER = b"\xff\xff"
_PG_EPOCH_US = 946_684_800_000_000
"""2000-01-01 UTC in microseconds since 1970: binary timestamptz counts from there."""


def _as_binary(raw: np.ndarray, width: int) -> pa.Array:
    """Consecutive ``width``-byte values of ``raw`` (uint8) as an Arrow binary array."""
    n = len(raw) // width
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(raw)])
    return fixed.cast(pa.binary())


def _field(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(length words, payloads) of one column in COPY's binary format (NULL: length -1)."""
    n = len(values)
    null = values.is_null().to_numpy(zero_copy_only=False) if values.null_count else None
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind):
        payload = values if pa.types.is_binary(kind) else values.cast(pa.binary())
        if values.null_count:
            payload = payload.fill_null(b"")
        lengths = pc.binary_length(payload).to_numpy(zero_copy_only=False).astype(np.int32)
    else:
        if pa.types.is_timestamp(kind):
            micros = values.cast(pa.timestamp("us", tz=kind.tz)).cast(pa.int64())
            big = (micros.fill_null(0).to_numpy() - _PG_EPOCH_US).astype(">i8")
        elif kind in _BIG_ENDIAN:
            big = values.fill_null(0).to_numpy().astype(_BIG_ENDIAN[kind])
        else:
            raise TypeError(f"no binary COPY encoding for Arrow type {kind}")
        width = big.dtype.itemsize
        raw = big.view(np.uint8).reshape(n, width)
        if null is None:
            payload = _as_binary(raw.reshape(-1), width)
        else:
            offsets = np.zeros(n + 1, dtype=np.int32)
            np.cumsum(np.where(null, 0, width), out=offsets[1:])
            payload = pa.Array.from_buffers(
                pa.binary(),
                n,
                [None, pa.py_buffer(offsets), pa.py_buffer(raw[~null].reshape(-1).copy())],
            )
        lengths = np.full(n, width, dtype=np.int32)
    if null is not None:
        lengths[null] = -1
    return _as_binary(lengths.astype(">i4").view(np.uint8), 4), payload


_BIG_ENDIAN = {pa.int16(): ">i2", pa.int32(): ">i4", pa.int64(): ">i8", pa.float64(): ">f8"}


def pgcopy_rows(batch: pa.RecordBatch) -> memoryview:
    """The rows of ``batch`` in PostgreSQL's binary COPY format (no header or trailer).

    Each Arrow type is sent as the binary form of its PostgreSQL column:
    int16/32/64 → smallint/integer/bigint, float64 → double precision,
    timestamp → timestamptz (an instant; a naive timestamp is taken as UTC,
    which is also what a ``timestamp`` column stores), string → text (also ``char(n)``),
    binary → handed as is to the column's receive function (EWKB for a
    PostGIS ``geometry`` column, see :func:`point_ewkb_arrow`). Encoded with
    Arrow kernels: ``binary_join_element_wise`` lays out each row's field
    count, then length word and payload per column, in one pass.
    """
    n = batch.num_rows
    count = np.tile(np.array([batch.num_columns], dtype=">i2").view(np.uint8), n)
    parts = [_as_binary(count, 2)]
    for column in batch.columns:
        parts.extend(_field(column))
    rows = pc.binary_join_element_wise(*parts, b"")
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32, count=n + 1, offset=rows.offset * 4)
    return memoryview(rows.buffers()[2])[offsets[0] : offsets[-1]]


def copy_binary(
    conn: Connection,
    table: str,
    data: pa.Table,
    *,
    freeze: bool = False,
    chunk_rows: int = 100_000,
) -> int:
    """COPY an Arrow table into ``table`` in binary format; return rows written.

    Columns are named as in the table and typed as :func:`pgcopy_rows` says.
    Binary COPY spares the server from parsing text (times, numbers, hex
    geometry); chunks are encoded while a background writer (psycopg's
    ``QueuedLibpqWriter``) sends the previous one. ``freeze``: ``COPY …
    FREEZE``, for a table created or truncated earlier in this transaction
    (rows are written frozen, so no later pass has to set hint bits or
    freeze them). Runs inside the caller's transaction.
    """
    if data.num_rows == 0:
        return 0
    columns = ", ".join(f'"{c}"' for c in data.column_names)
    if freeze and is_partitioned_table(conn, table):
        freeze = False  # PostgreSQL refuses COPY FREEZE into a partitioned table
    options = "FORMAT binary, FREEZE" if freeze else "FORMAT binary"
    raw = conn.connection.driver_connection
    assert raw is not None
    try:
        with raw.cursor() as cur:
            writer = QueuedLibpqWriter(cur)
            statement = f"COPY {table} ({columns}) FROM STDIN ({options})"
            with cur.copy(statement, writer=writer) as copy:
                copy.write(PGCOPY_HEADER)
                for batch in data.to_batches(max_chunksize=chunk_rows):
                    copy.write(pgcopy_rows(batch))
                copy.write(PGCOPY_TRAILER)
    except psycopg.Error as exc:
        detail = exc.diag.message_detail or ""
        raise BulkLoadError(
            f"COPY into {table} failed: {exc.diag.message_primary} {detail}".strip()
        ) from exc
    return data.num_rows


@dataclass(frozen=True)
class CopyPart:
    """One COPY of :func:`copy_binary_many`: rows (made when their turn comes) into a table."""

    table: str
    rows: Callable[[], pa.Table]
    """Called in the encoding thread (e.g. a ``take`` of one month's rows)."""
    freeze: bool = False
    stage: str | None = None
    """Said (``say`` of :func:`copy_binary_many`) when this part's COPY starts."""


_DONE = object()


class _Encoder:
    """The thread of :func:`copy_binary_many`: each part's rows, then its encoded chunks."""

    def __init__(self, parts: list[CopyPart], chunk_rows: int, ahead: int) -> None:
        self.parts = parts
        self.chunk_rows = chunk_rows
        self.chunks: queue.Queue = queue.Queue(maxsize=ahead)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="copy-encode", daemon=True)
        self.thread.start()

    def _put(self, item: object) -> bool:
        while not self.stop.is_set():
            try:
                self.chunks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for part in self.parts:
                data = part.rows()
                if not self._put(data):
                    return
                for batch in data.to_batches(max_chunksize=self.chunk_rows):
                    if not self._put(pgcopy_rows(batch)):
                        return
                if not self._put(_DONE):
                    return
        except BaseException as exc:  # handed to the COPYing thread, raised there
            self._put(exc)

    def take(self) -> object:
        """The next item: a part's table, then its chunks, then ``_DONE``."""
        item = self.chunks.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def copy_binary_many(
    conn: Connection,
    parts: list[CopyPart],
    *,
    chunk_rows: int = 100_000,
    ahead: int = 8,
    say: Callable[[str], None] | None = None,
    copied: Callable[[CopyPart], None] | None = None,
) -> list[int]:
    """:func:`copy_binary` of each part in turn, the rows encoded in a thread ahead of the COPYs.

    One binary COPY per part, in order, on ``conn``; a thread makes each part's
    rows and encodes them (Arrow kernels, which let go of the GIL) while the
    server takes the chunks before them — also across parts, where one COPY
    per part would leave the server idle while the next part is made and the
    client idle while the server finishes the last one. At most ``ahead``
    chunks wait encoded. Returns the rows written per part; runs inside the
    caller's transaction. ``say``: told each part's :attr:`CopyPart.stage` as its
    COPY starts (a progress display). ``copied``: called with each part once its
    COPY is done, on ``conn``'s thread, while the thread makes and encodes the
    parts after it (e.g. :func:`build_early`).
    """
    if not parts:
        return []
    partitioned = {p.table: is_partitioned_table(conn, p.table) for p in parts if p.freeze}
    raw = conn.connection.driver_connection
    assert raw is not None
    encoder = _Encoder(parts, chunk_rows, ahead)
    written = []
    try:
        for part in parts:
            if say is not None and part.stage is not None:
                say(part.stage)
            data = encoder.take()
            assert isinstance(data, pa.Table)
            if data.num_rows == 0:
                encoder.take()  # its end
                written.append(0)
                continue
            columns = ", ".join(f'"{c}"' for c in data.column_names)
            freeze = part.freeze and not partitioned.get(part.table, False)  # refused there
            options = "FORMAT binary, FREEZE" if freeze else "FORMAT binary"
            try:
                with (
                    raw.cursor() as cur,
                    cur.copy(f"COPY {part.table} ({columns}) FROM STDIN ({options})") as copy,
                ):
                    copy.write(PGCOPY_HEADER)
                    while (chunk := encoder.take()) is not _DONE:
                        copy.write(chunk)  # type: ignore[arg-type]
                    copy.write(PGCOPY_TRAILER)
            except psycopg.Error as exc:
                detail = exc.diag.message_detail or ""
                raise BulkLoadError(
                    f"COPY into {part.table} failed: {exc.diag.message_primary} {detail}".strip()
                ) from exc
            written.append(data.num_rows)
            if copied is not None:
                copied(part)
    finally:
        encoder.close()
    return written


def is_partitioned_table(conn: Connection, table: str) -> bool:
    """True when ``table`` is a partitioned parent (its rows live in partitions)."""
    kind = conn.execute(
        sa.text("SELECT relkind FROM pg_class WHERE oid = CAST(:t AS regclass)"), {"t": table}
    ).scalar()
    return kind == "p"


def _integer_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Id columns that went float through a lookup with misses become nullable integers."""
    floats = [
        c
        for c in frame.columns
        if (c == "id" or c.endswith("_id")) and pd.api.types.is_float_dtype(frame[c])
    ]
    return frame.astype(dict.fromkeys(floats, "Int64")) if floats else frame


@dataclass(frozen=True)
class Deferred:
    """Indexes and constraints dropped for a bulk load, to be rebuilt."""

    indexes: list[tuple[str, str]]
    """(name, CREATE INDEX statement) of indexes that back no constraint."""
    foreign_keys: list[tuple[str, str, str]]
    """(table, constraint name, definition) of foreign keys on the loaded tables."""
    keys: list[tuple[str, str, str]] = field(default_factory=list)
    """(table, constraint name, definition) of primary keys and unique constraints:
    dropped only when the tables were empty and truncated (a fresh load)."""
    fresh: bool = False
    """The tables were empty and truncated in this transaction: rows written now
    skip the WAL at ``wal_level = minimal`` and may be COPYed ``FREEZE``."""
    tables: dict[str, str] = field(default_factory=dict)
    """Index name -> the table it is on."""
    built: set[str] = field(default_factory=set)
    """Indexes and keys (by name) :func:`build_early` built already: not built again on exit."""
    references: dict[tuple[str, str], str] = field(default_factory=dict)
    """(table, foreign key name) -> the table the key refers to."""


_INDEX_DEF = re.compile(r"CREATE (UNIQUE )?INDEX \S+ ON \S+ USING (.+)", re.DOTALL)


def build_early(
    conn: Connection, deferred: Deferred, table: str, parent: str | None = None
) -> None:
    """Build now what ``deferred`` holds back on ``table``, whose rows are all in.

    A plain table: its keys and indexes are built here and not again on exit.
    A leaf partition of ``parent``: ``parent``'s keys and indexes are built on
    the leaf alone, and building them on ``parent`` on exit finds them and
    attaches them (PostgreSQL attaches a partition's equal index, or key,
    instead of building another). For a load that COPYs table after table: the
    server builds one table's indexes while the load makes the next one's rows.
    Built without parallel workers (a month is small: starting them costs more
    than they save, and the load's own thread needs the other core); the
    setting is put back after. An index whose definition does not read as
    ``CREATE INDEX name ON table USING …`` is left to the rebuild on exit.
    """
    owner = parent or table
    with builds_in_one_process(conn):
        _build_early(conn, deferred, table, owner, parent)


@contextmanager
def builds_in_one_process(conn: Connection) -> Iterator[None]:
    """Index builds inside without parallel workers (this transaction), the setting
    put back after: for builds of one month while the load's own thread makes the
    next month's rows (it needs the other core; a month is too small for workers
    to pay for their start)."""
    workers = conn.execute(
        sa.text("SELECT current_setting('max_parallel_maintenance_workers')")
    ).scalar_one()
    conn.execute(sa.text("SET LOCAL max_parallel_maintenance_workers = 0"))
    yield  # on an error the transaction is rolled back, and the setting with it
    conn.execute(
        sa.text("SELECT set_config('max_parallel_maintenance_workers', :v, true)"), {"v": workers}
    )


def _build_early(
    conn: Connection, deferred: Deferred, table: str, owner: str, parent: str | None
) -> None:
    for on, name, definition in deferred.keys:
        if on != owner or name in deferred.built:
            continue
        if parent is None:
            conn.execute(sa.text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
            deferred.built.add(name)
        else:
            conn.execute(sa.text(f"ALTER TABLE {table} ADD {definition}"))
    for name, definition in deferred.indexes:
        if deferred.tables.get(name) != owner or name in deferred.built:
            continue
        if parent is None:
            conn.execute(sa.text(definition))
            deferred.built.add(name)
        elif found := _INDEX_DEF.fullmatch(definition):
            unique, method = found.group(1) or "", found.group(2)
            conn.execute(sa.text(f"CREATE {unique}INDEX ON {table} USING {method}"))


def secondary_indexes_and_foreign_keys(
    conn: Connection, tables: list[str], *, keys: bool = False
) -> Deferred:
    """What :func:`deferred_indexes_and_foreign_keys` would drop and rebuild, from the catalogue.

    Indexes that back a constraint (primary key, unique, exclusion) are kept
    unless ``keys``: they guard the natural key while rows go in.
    """
    found = conn.execute(
        sa.text("""
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid),
               i.indrelid::regclass::text
        FROM pg_index i
        WHERE i.indrelid = ANY(CAST(:tables AS regclass[]))
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY i.indrelid, i.indexrelid
    """),
        {"tables": tables},
    ).all()
    # a partitioned table's index reads "ON ONLY parent": built on the parent alone it
    # would stay invalid; without ONLY it is built on every partition and attached
    indexes = [(str(r[0]), str(r[1]).replace(" ON ONLY ", " ON ", 1)) for r in found]
    constraints = conn.execute(
        sa.text("""
        SELECT c.contype, c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid),
               c.confrelid::regclass::text
        FROM pg_constraint c
        WHERE c.contype IN ('f', 'p', 'u') AND c.conrelid = ANY(CAST(:tables AS regclass[]))
          AND c.conparentid = 0
        ORDER BY c.conrelid, c.contype, c.conname
    """),
        {"tables": tables},
    ).all()
    return Deferred(
        indexes,
        [(r[1], r[2], r[3]) for r in constraints if r[0] == "f"],
        [(r[1], r[2], r[3]) for r in constraints if r[0] != "f"] if keys else [],
        fresh=keys,
        tables={str(r[0]): str(r[2]) for r in found},
        references={(str(r[1]), str(r[2])): str(r[4]) for r in constraints if r[0] == "f"},
    )


def referencing_closure(conn: Connection, tables: list[str]) -> list[str]:
    """``tables`` and every table whose foreign keys reach them, directly or not."""
    closure = conn.execute(
        sa.text("""
        WITH RECURSIVE t(rel) AS (
            SELECT unnest(CAST(:tables AS regclass[]))::oid
            UNION
            SELECT c.conrelid FROM pg_constraint c JOIN t ON c.confrelid = t.rel
            WHERE c.contype = 'f' AND c.conparentid = 0
        )
        SELECT rel::regclass::text FROM t
    """),
        {"tables": tables},
    ).scalars()
    return list(dict.fromkeys([*tables, *closure]))


@contextmanager
def deferred_indexes_and_foreign_keys(
    conn: Connection,
    tables: list[str],
    *,
    maintenance_work_mem: str = "512MB",
    truncate_if_empty: bool = False,
    stage: Callable[[str], None] | None = None,
) -> Iterator[Deferred]:
    """Drop the secondary indexes and foreign keys of ``tables``; rebuild them on exit.

    For a bulk load that is large against the table: maintaining a GiST index
    and checking seven foreign keys row by row costs far more than building the
    indexes once (sorted, parallel btree builds) and validating each foreign
    key with one anti-join when it is added back.

    ``truncate_if_empty``: when ``tables`` and every table referencing them
    are empty (checked under the lock), truncate them all and drop the primary
    keys and unique constraints too — a fresh load. The truncated tables get
    new files, so at ``wal_level = minimal`` nothing written to them before the
    commit goes through the WAL, and their keys are built once at the end
    (adding a unique constraint back checks every row). ``stage`` is told when
    the rebuild begins and when the foreign keys are checked.

    Must run inside the caller's transaction; everything (the drops, the rows,
    the rebuilds) commits or rolls back together, so a crash or ``kill -9``
    leaves the old indexes and constraints in place. Adding a foreign key back
    validates every row, so a bad reference fails the load instead of slipping
    in. The drops take an ``ACCESS EXCLUSIVE`` lock on the tables until the
    transaction ends: readers wait for the load.
    """
    locked = referencing_closure(conn, tables) if truncate_if_empty else tables
    conn.execute(sa.text(f"LOCK TABLE {', '.join(locked)} IN ACCESS EXCLUSIVE MODE"))
    any_rows = "SELECT " + " OR ".join(f"EXISTS (SELECT FROM {t})" for t in locked)
    fresh = truncate_if_empty and not conn.execute(sa.text(any_rows)).scalar_one()
    if fresh:
        conn.execute(sa.text(f"TRUNCATE {', '.join(locked)}"))
    deferred = secondary_indexes_and_foreign_keys(conn, locked if fresh else tables, keys=fresh)
    conn.execute(sa.text(f"SET LOCAL maintenance_work_mem = '{maintenance_work_mem}'"))
    conn.execute(sa.text("SET LOCAL max_parallel_maintenance_workers = 2"))
    # a bulk load is all or nothing and re-runnable: its one commit need not wait
    # for the WAL flush (the server's default, synchronous_commit = on, stays for
    # everything else: an acknowledged report is on disk)
    conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
    for table, name, _ in deferred.foreign_keys:
        conn.execute(sa.text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for table, name, _ in deferred.keys:
        conn.execute(sa.text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for name, _ in deferred.indexes:
        conn.execute(sa.text(f"DROP INDEX {name}"))
    yield deferred
    if stage is not None:
        stage(f"rebuilding {len(deferred.keys) + len(deferred.indexes)} indexes")
    for table, name, definition in deferred.keys:
        if name not in deferred.built:
            conn.execute(sa.text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
    for name, definition in deferred.indexes:
        if name not in deferred.built:
            conn.execute(sa.text(definition))
    if stage is not None:
        stage(f"checking {len(deferred.foreign_keys)} foreign keys")
    for table, name, definition in deferred.foreign_keys:
        conn.execute(sa.text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
