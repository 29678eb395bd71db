"""Monthly partitions of ``cases``, ``case_events`` and ``patrol_points`` (migration 0100).

One partition per calendar month in UTC, ``<table>_pYYYY_MM``, and a
``<table>_default`` partition that catches a row of a month without its own
partition (never lost; :func:`ensure` moves such rows out when it creates the
month). The SQL lives in the database (``gridgov_partition_create``,
``gridgov_partitions_ensure``) so that the migration, the loaders and the
command line create partitions the same way; here are the callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import fix_archive
from gis.errors import GridGovError
from layers import rollup_queue

TABLES = ("cases", "case_events", "patrol_points")
"""The partitioned tables, parents before children."""
KEYS = {"cases": "reported_at", "case_events": "at", "patrol_points": "at"}
"""The column whose month places a row."""
MONTHS_AHEAD = 3


class PartitionError(GridGovError, ValueError):
    """A bad month, a partition that is not there, an archive whose account does not add up."""

    code = "partition"
    kind = "bad_input"


@dataclass(frozen=True)
class PartitionInfo:
    """One partition: which table, which month (None: the default partition), rows, bytes."""

    table: str
    name: str
    month: str | None
    rows: int
    bytes: int


def parse_month(text: str) -> date:
    """``YYYY-MM`` as the first day of that month; a clear error otherwise."""
    try:
        parsed = datetime.strptime(text.strip(), "%Y-%m")
    except ValueError:
        raise PartitionError(
            f"月份格式应为 YYYY-MM / month must be YYYY-MM, got {text!r}"
        ) from None
    return parsed.date().replace(day=1)


def partition_name(table: str, month: date) -> str:
    """``cases_p2026_11`` for ``cases`` and November 2026."""
    return f"{table}_p{month:%Y_%m}"


def ensure(
    conn: Connection,
    *,
    months_ahead: int = MONTHS_AHEAD,
    start: date | pd.Timestamp | datetime | None = None,
    end: date | pd.Timestamp | datetime | None = None,
) -> list[tuple[str, str]]:
    """Create every missing monthly partition from ``start`` (default: this month) to
    ``end`` (default: ``months_ahead`` months after this month); idempotent.

    Returns the (table, partition) pairs created. Rows of those months that
    waited in a default partition are moved into their month.
    """
    if months_ahead < 0:
        raise PartitionError(f"--months-ahead 不能为负 / must not be negative: {months_ahead}")
    today = datetime.now(UTC).date().replace(day=1)
    low = _month_of(start) if start is not None else today
    high = (
        _month_of(end)
        if end is not None
        else (pd.Timestamp(today) + pd.DateOffset(months=months_ahead)).date()
    )
    if end is None and start is not None:
        high = max(high, low)
    rows = conn.execute(
        sa.text("SELECT table_name, partition_name FROM gridgov_partitions_ensure(:lo, :hi)"),
        {"lo": low, "hi": high},
    ).all()
    return [(r[0], r[1]) for r in rows]


def ensure_for(conn: Connection, times: pd.Series | list) -> list[tuple[str, str]]:
    """Partitions for every month in ``times`` (a loader's rows), in one range."""
    stamps = pd.to_datetime(pd.Series(times), utc=True).dropna()
    if stamps.empty:
        return []
    return ensure(conn, start=stamps.min(), end=stamps.max())


def _month_of(value: date | pd.Timestamp | datetime) -> date:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC")
    return stamp.date().replace(day=1)


def is_partitioned(conn: Connection) -> bool:
    """True once migration 0100 has run (the registry of partitioned tables exists)."""
    return (
        conn.execute(sa.text("SELECT to_regclass('public.gridgov_partitioned')")).scalar()
        is not None
    )


def partitions(conn: Connection, *, exact: bool = True) -> list[PartitionInfo]:
    """Every partition of the three tables with its rows (counted, or the planner's
    estimate when not ``exact``) and its size on disk (table, indexes, TOAST)."""
    found = conn.execute(
        sa.text("""
        SELECT p.relname AS parent, c.relname AS name,
               pg_get_expr(c.relpartbound, c.oid) AS bound,
               greatest(c.reltuples, 0)::bigint AS estimate,
               pg_total_relation_size(c.oid) AS bytes
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = ANY(:tables) AND p.relnamespace = 'public'::regnamespace
        ORDER BY p.relname, c.relname
    """),
        {"tables": list(TABLES)},
    ).all()
    out = []
    for parent, name, bound, estimate, size in found:
        month = None if bound == "DEFAULT" else f"{name[-7:-3]}-{name[-2:]}"
        rows = (
            conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one()
            if exact
            else estimate
        )
        out.append(PartitionInfo(parent, name, month, int(rows), int(size)))
    order = {t: i for i, t in enumerate(TABLES)}
    return sorted(out, key=lambda p: (order[p.table], p.month or "9999"))


def estimated_rows(conn: Connection, table: str) -> int:
    """The planner's row estimate of ``table``, summed over its partitions when it has them."""
    return int(
        conn.execute(
            sa.text("""
            SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint
            FROM pg_class c
            WHERE c.oid = CAST(:t AS regclass) AND c.relkind = 'r'
               OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = CAST(:t AS regclass))
        """),
            {"t": table},
        ).scalar_one()
    )


# -- archive: detach a month into GeoParquet, attach it back ----------------------------

ACCOUNT = fix_archive.ACCOUNT


@dataclass(frozen=True)
class Reference:
    """``table.column`` refers to ``target.target_column`` (a foreign key)."""

    table: str
    column: str
    target: str
    target_column: str


def references(conn: Connection) -> list[Reference]:
    """Every foreign key of the database by its first column, from the catalogue (so a
    table added later is archived with the cases it refers to)."""
    rows = conn.execute(
        sa.text("""
        SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, b.attname
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute b ON b.attrelid = c.confrelid AND b.attnum = c.confkey[1]
        WHERE c.contype = 'f' AND c.conparentid = 0
        ORDER BY 1, 2
    """)
    ).all()
    return [Reference(*r) for r in rows]


def _bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    nxt = (pd.Timestamp(start) + pd.DateOffset(months=1)).to_pydatetime()
    return start, nxt


def _month_rows(conn: Connection, month: date) -> dict[str, str]:
    """table -> the WHERE clause of the rows that go into the archive of ``month``: the
    month's partitions and, table by table, every row that refers to one of them."""
    lo, hi = (f"'{b.isoformat()}'" for b in _bounds(month))
    where = {
        "cases": f"reported_at >= {lo} AND reported_at < {hi}",
        "case_keys": f"reported_at >= {lo} AND reported_at < {hi}",
        "case_events": f"at >= {lo} AND at < {hi}",
        "patrol_points": f"at >= {lo} AND at < {hi}",
    }
    fixed = dict(where)
    refs = [r for r in references(conn) if r.table not in fixed]
    for _ in range(len(refs) + 1):  # until no table gains a clause
        grown = dict(fixed)
        for r in refs:
            if r.target in where and r.target != r.table:
                clause = (
                    f"{r.column} IN (SELECT {r.target_column} FROM {r.target} "
                    f"WHERE {where[r.target]})"
                )
                grown[r.table] = f"({grown[r.table]}) OR {clause}" if r.table in grown else clause
        if grown == where:
            break
        where = grown
    return where


def _load_order(conn: Connection, tables: list[str]) -> list[str]:
    """``tables`` with every table after the tables it refers to."""
    # case_keys is written by the trigger on cases: a reference to it waits for cases
    refs = [
        Reference(r.table, r.column, "cases" if r.target == "case_keys" else r.target, "")
        for r in references(conn)
        if r.table in tables and r.target in tables and r.table != "case_keys"
    ]
    done: list[str] = []
    while len(done) < len(tables):
        ready = [
            t
            for t in tables
            if t not in done
            and all(r.target in done or r.target == t for r in refs if r.table == t)
        ]
        if not ready:
            raise PartitionError(f"circular references among {tables}")
        done.extend(ready)
    return done


def _blockers(conn: Connection, month: date, where: dict[str, str]) -> list[str]:
    """Live rows outside the archive that refer to what the archive takes away."""
    lo, hi = _bounds(month)
    out = []
    other_events = conn.execute(
        sa.text(f"""
        SELECT count(*) FROM case_events e
        WHERE NOT (e.at >= :lo AND e.at < :hi)
          AND e.case_id IN (SELECT id FROM cases WHERE {where["cases"]})
    """),
        {"lo": lo, "hi": hi},
    ).scalar_one()
    if other_events:
        out.append(
            f"{other_events} 条其他月份的案件历史属于本月案件 / case_events rows of other months "
            "belong to cases of this month (detach those months first, newest first)"
        )
    merged = conn.execute(
        sa.text(f"""
        SELECT count(*) FROM cases c
        WHERE NOT ({where["cases"]})
          AND c.merged_into IN (SELECT id FROM cases WHERE {where["cases"]})
    """)
    ).scalar_one()
    if merged:
        out.append(
            f"{merged} 件其他月份的案件并入本月案件 / "
            "cases of other months merged into this month's"
        )
    return out


def detach(conn: Connection, month_text: str, archive: str) -> dict:
    """Write the rows of ``month`` (its partitions of the three tables and every row that
    refers to its cases or events) into ``archive/YYYY-MM/`` as GeoParquet, check the
    files against the database, then drop the month. Returns the account. The month's
    days (and those of the cases its cases set flags of) are queued for the rollups
    (:mod:`layers.rollup_queue`): the next dirty refresh forgets the month's rows.

    All in the caller's transaction: a failure leaves the month where it was.
    """
    import json

    import geopandas as gpd

    month = parse_month(month_text)
    tag = f"{month:%Y-%m}"
    missing = [t for t in TABLES if not _exists(conn, partition_name(t, month))]
    if missing:
        raise PartitionError(
            f"{tag} 没有分区 / has no partition of {', '.join(missing)} "
            "(gridgov db partitions list)"
        )
    where = _month_rows(conn, month)
    archived = [t for t in where if t != "case_keys"]  # case_keys: rebuilt by the trigger
    blocked = _blockers(conn, month, where)
    if blocked:
        raise PartitionError(f"{tag} 不能归档 / cannot be detached: " + "; ".join(blocked))
    folder = Path(archive) / tag
    folder.mkdir(parents=True, exist_ok=True)
    account: dict = {"month": tag, "tables": {}}
    for table in _load_order(conn, archived):
        columns = _export_columns(conn, table)
        sql = f"SELECT {columns} FROM {table} WHERE {where[table]} ORDER BY 1"
        frame = pd.read_sql(sa.text(sql), conn, dtype_backend="numpy_nullable")
        if "geom" in frame.columns:
            geoms = gpd.GeoSeries.from_wkb(frame["geom"].to_numpy(dtype=object), crs=4326)  # hex
            frame = gpd.GeoDataFrame(frame.assign(geom=geoms), geometry="geom", crs=4326)
        if table == fix_archive.FIXES_FOLDER:
            name = _write_fixes(frame, folder)
        else:
            name = f"{table}.parquet"
            frame.to_parquet(folder / name, index=False)  # GeoParquet with geom
        account["tables"][table] = {"rows": len(frame), "file": name}
    # the account adds up: what the files hold is what the database holds
    for table, entry in account["tables"].items():
        on_disk = len(pd.read_parquet(folder / entry["file"], columns=[]))
        in_db = conn.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE {where[table]}")
        ).scalar_one()
        if on_disk != entry["rows"] or in_db != entry["rows"]:
            raise PartitionError(
                f"{table}: 归档 {on_disk} 行, 数据库 {in_db} 行 / archive {on_disk} rows, "
                f"database {in_db}: nothing dropped"
            )
    (folder / ACCOUNT).write_text(json.dumps(account, indent=2, ensure_ascii=False))
    # the deletes below run with triggers off: queue the rollups' days they make stale
    # (the month's and those of the cases its cases set flags of), as the trigger would
    lo, hi = _bounds(month)
    rollup_queue.queue_days(conn, rollup_queue.days_of_cases_reported(conn, start=lo, end=hi))
    # drop: rows that refer first, then the month's partitions (the rows are in the archive)
    conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
    for table in reversed(_load_order(conn, list(where))):
        if table not in TABLES:
            conn.execute(sa.text(f"DELETE FROM {table} WHERE {where[table]}"))
    conn.execute(sa.text("SET LOCAL session_replication_role = origin"))
    for table in TABLES:
        name = partition_name(table, month)
        conn.execute(sa.text(f'ALTER TABLE {table} DETACH PARTITION "{name}"'))
        conn.execute(sa.text(f'DROP TABLE "{name}"'))
    return account


def _write_fixes(frame: pd.DataFrame, folder: Path) -> str:
    """A month's GPS fixes as one GeoParquet file per worker group
    (``patrol_points/workers-I-of-N.parquet``, :mod:`gis.fix_archive`): each file holds all
    fixes of its workers, so ``gridgov analyse coverage --fixes`` reads the archive in parts.
    Returns the folder's name, relative to ``folder``."""
    out = folder / fix_archive.FIXES_FOLDER
    out.mkdir(exist_ok=True)
    for old in out.glob("*.parquet"):  # a detach that failed before its commit
        old.unlink()
    groups = fix_archive.group_count(len(frame), fix_archive.FIXES_PER_FILE)
    group = frame["worker_id"].to_numpy(dtype="int64") % groups
    for i in range(groups):
        part = frame[group == i].sort_values(["worker_id", "at"], kind="stable")
        part.to_parquet(out / fix_archive.file_name(i, groups), index=False)
    return fix_archive.FIXES_FOLDER


def attach(conn: Connection, month_text: str, archive: str) -> dict:
    """Read ``archive/YYYY-MM/`` back (the month's partitions and the rows that refer to
    them), checking every table against the account. Returns the account."""
    import json

    import shapely

    from layers.bulk import copy_frame, ewkb_hex

    month = parse_month(month_text)
    tag = f"{month:%Y-%m}"
    folder = Path(archive) / tag
    if not (folder / ACCOUNT).exists():
        raise PartitionError(f"{folder / ACCOUNT} 不存在 / not found: no archive of {tag} there")
    account = json.loads((folder / ACCOUNT).read_text())
    present = [t for t in TABLES if _exists(conn, partition_name(t, month))]
    if present:
        live = sum(
            conn.execute(sa.text(f'SELECT count(*) FROM "{partition_name(t, month)}"')).scalar_one()
            for t in present
        )
        if live:
            raise PartitionError(f"{tag} 已在数据库中 / is in the database already ({live} rows)")
    ensure(conn, start=month, end=month)
    for table in _load_order(conn, list(account["tables"])):
        entry = account["tables"][table]
        path = folder / entry["file"]
        frame = pd.read_parquet(path, dtype_backend="numpy_nullable")
        if "geom" in frame.columns:  # GeoParquet keeps WKB: back to EWKB with the SRID
            wkb = frame["geom"].to_numpy(dtype=object)
            frame["geom"] = ewkb_hex(shapely.from_wkb(wkb))
        if len(frame) != entry["rows"]:
            raise PartitionError(
                f"{path}: {len(frame)} 行, 账目 {entry['rows']} 行 / rows, the account says "
                f"{entry['rows']}: nothing attached"
            )
        copy_frame(conn, table, frame)
    where = _month_rows(conn, month)
    for table, entry in account["tables"].items():
        back = conn.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE {where[table]}")
        ).scalar_one()
        if back != entry["rows"]:
            raise PartitionError(
                f"{table}: 读回 {back} 行, 账目 {entry['rows']} 行 / read back {back} rows, the "
                f"account says {entry['rows']}"
            )
    return account


def _exists(conn: Connection, name: str) -> bool:
    return (
        conn.execute(sa.text("SELECT to_regclass(:n)"), {"n": f"public.{name}"}).scalar()
        is not None
    )


def _has_geom(conn: Connection, table: str) -> bool:
    return bool(
        conn.execute(
            sa.text("""SELECT EXISTS (SELECT 1 FROM information_schema.columns
                       WHERE table_schema = 'public' AND table_name = :t
                         AND column_name = 'geom')"""),
            {"t": table},
        ).scalar()
    )


def _export_columns(conn: Connection, table: str) -> str:
    """The columns of ``table`` as they go into Parquet: JSON as text (read back as JSON),
    arrays as text, everything else as it is."""
    rows = conn.execute(
        sa.text("""SELECT column_name, data_type FROM information_schema.columns
                   WHERE table_schema = 'public' AND table_name = :t ORDER BY ordinal_position"""),
        {"t": table},
    ).all()
    cols = []
    for name, kind in rows:
        if name == "geom":
            cols.append('''encode(ST_AsBinary("geom"), 'hex') AS "geom"''')
        elif kind in ("json", "jsonb", "ARRAY", "inet", "interval", "USER-DEFINED"):
            cols.append(f'"{name}"::text AS "{name}"')
        else:
            cols.append(f'"{name}"')
    return ", ".join(cols)
