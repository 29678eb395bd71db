"""GPS fixes from phones into ``patrol_points``: sieved, de-duplicated, COPYed in bulk.

A batch of fixes of one worker is sieved first (:func:`sieve`): values out of range,
accuracy worse than a threshold and speeds no walker reaches (reported, or implied by
the distance from the previous fix kept, less both accuracies) go to
``patrol_points_aside`` with their reason; a fix at the same instant as a stored one
(or an earlier one of the batch) is a duplicate and is dropped. The rest goes in with
one COPY into a temporary table and one ``INSERT … SELECT ST_MakePoint`` (COPY straight
into ``patrol_points`` is not possible: row-level security applies to it); a batch of
fewer than :data:`COPY_FROM` fixes goes in as one ``INSERT`` from arrays instead. Batches may
arrive in any order; a per-worker advisory lock makes two batches of one worker
queue, so the duplicate check holds.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

_LOCK_SPACE = 70
"""First key of the per-worker advisory lock (the migration's number)."""
_EARTH_M = 6_371_008.8
_NEIGHBOURS_S = 900.0
"""Stored fixes this close in time to a batch are its neighbours for the speed check."""
COPY_FROM = 500
"""Batches of this many fixes or more go in by COPY; smaller ones by one INSERT of arrays."""
_COLUMNS = ("at", "lon", "lat", "accuracy_m", "speed_ms", "bearing", "altitude_m", "batt")


@dataclass
class FixBatch:
    """Fixes of one worker as arrays (epoch seconds; NaN where a value is missing)."""

    t: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    accuracy_m: np.ndarray
    speed_ms: np.ndarray = field(default_factory=lambda: np.empty(0))
    bearing: np.ndarray = field(default_factory=lambda: np.empty(0))
    altitude_m: np.ndarray = field(default_factory=lambda: np.empty(0))
    batt: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __post_init__(self) -> None:
        n = len(self.t)
        for name in ("t", "lon", "lat", "accuracy_m", *_COLUMNS[4:]):
            values = np.asarray(getattr(self, name), dtype=float)
            if len(values) == 0 and name in _COLUMNS[4:]:
                values = np.full(n, np.nan)
            if len(values) != n:
                raise ValueError(f"{name}: {len(values)} values for {n} fixes")
            setattr(self, name, values)

    def __len__(self) -> int:
        return len(self.t)


@dataclass(frozen=True)
class SieveRules:
    """Thresholds of the sieve."""

    max_accuracy_m: float = 50.0
    max_speed_ms: float = 15.0
    max_age_s: float = 7 * 86_400.0
    max_ahead_s: float = 300.0


@dataclass
class Sieved:
    """Which fixes of a batch go in, which are duplicates, which are kept aside and why."""

    keep: np.ndarray
    duplicate: np.ndarray
    aside: dict[int, str]


def sieve(
    batch: FixBatch,
    *,
    rules: SieveRules,
    now_s: float,
    known: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Sieved:
    """Sort a batch into kept, duplicate and aside (index → reason) fixes.

    ``known``: stored fixes near the batch in time (t, lon, lat, accuracy_m).
    """
    n = len(batch)
    aside: dict[int, str] = {}
    t, x, y, acc = batch.t, batch.lon, batch.lat, batch.accuracy_m
    bad = ~(np.isfinite(t) & np.isfinite(x) & np.isfinite(y))
    with np.errstate(invalid="ignore"):
        bad |= (np.abs(x) > 180) | (np.abs(y) > 90) | (acc < 0)
        bad |= (t > now_s + rules.max_ahead_s) | (t < now_s - rules.max_age_s)
        poor = acc > rules.max_accuracy_m
        fast = batch.speed_ms > rules.max_speed_ms
    for i in np.flatnonzero(bad):
        aside[int(i)] = "bad_value"
    for i in np.flatnonzero(poor & ~bad):
        aside[int(i)] = "poor_accuracy"
    for i in np.flatnonzero(fast & ~bad & ~poor):
        aside[int(i)] = "impossible_speed"
    known_t = known[0] if known is not None else np.empty(0)
    seen = {round(float(s) * 1000) for s in known_t}
    duplicate = np.zeros(n, dtype=bool)
    candidates = []
    for i in np.argsort(t, kind="stable"):
        if int(i) in aside:
            continue
        key = round(float(t[i]) * 1000)
        if key in seen:
            duplicate[i] = True
            continue
        seen.add(key)
        candidates.append(int(i))
    _implied_speed(batch, candidates, known, rules.max_speed_ms, aside)
    keep = np.zeros(n, dtype=bool)
    keep[[i for i in candidates if i not in aside]] = True
    return Sieved(keep, duplicate, aside)


def _implied_speed(
    batch: FixBatch,
    candidates: list[int],
    known: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    max_speed_ms: float,
    aside: dict[int, str],
) -> None:
    """Mark candidates that no walker reaches from the previous fix kept (time order)."""
    events: list[tuple[float, int, float, float, float]] = [
        (float(batch.t[i]), i, float(batch.lon[i]), float(batch.lat[i]), batch.accuracy_m[i])
        for i in candidates
    ]
    if known is not None:
        events += [
            (float(s), -1, float(a), float(b), float(c)) for s, a, b, c in zip(*known, strict=True)
        ]
    events.sort(key=lambda e: (e[0], e[1]))
    last: tuple[float, float, float, float] | None = None
    for s, i, lon, lat, acc in events:
        a = 0.0 if not math.isfinite(acc) else acc
        if last is not None and i >= 0 and s > last[0]:
            gap = _metres(last[1], last[2], lon, lat) - a - last[3]
            if gap > 0 and gap / (s - last[0]) > max_speed_ms:
                aside[i] = "impossible_speed"
                continue
        last = (s, lon, lat, a)


def _metres(x0: float, y0: float, x1: float, y1: float) -> float:
    """Great-circle distance in metres (haversine; plenty for fixes seconds apart)."""
    p0, p1 = math.radians(y0), math.radians(y1)
    dp, dl = p1 - p0, math.radians(x1 - x0)
    h = math.sin(dp / 2) ** 2 + math.cos(p0) * math.cos(p1) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_M * math.asin(min(1.0, math.sqrt(h)))


def store_fixes(
    *,
    conn: Connection,
    worker_id: int,
    street_code: str,
    batch: FixBatch,
    source: str,
    rules: SieveRules | None = None,
    now: datetime | None = None,
) -> dict[str, object]:
    """Sieve and store a batch of one worker's fixes; nothing is committed here.

    Returns
    -------
    dict
        ``stored``, ``duplicates`` and ``aside`` (reason → count).
    """
    rules = rules or SieveRules()
    now_s = (now or datetime.now(UTC)).timestamp()
    if len(batch) == 0:
        return {"stored": 0, "duplicates": 0, "aside": {}}
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(:a, :w)"), {"a": _LOCK_SPACE, "w": worker_id}
    )
    finite = batch.t[np.isfinite(batch.t)]
    known = _known(conn, worker_id, finite) if len(finite) else None
    result = sieve(batch, rules=rules, now_s=now_s, known=known)
    stored = _copy_in(
        conn,
        worker_id=worker_id,
        street_code=street_code,
        batch=batch,
        keep=result.keep,
        source=source,
    )
    _put_aside(
        conn,
        worker_id=worker_id,
        street_code=street_code,
        batch=batch,
        aside=result.aside,
        source=source,
    )
    return {
        "stored": stored,
        "duplicates": int(result.duplicate.sum()),
        "aside": dict(Counter(result.aside.values())),
    }


def _known(
    conn: Connection, worker_id: int, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rows = conn.execute(
        sa.text("""
        SELECT extract(epoch FROM at)::float8, ST_X(geom), ST_Y(geom),
               coalesce(accuracy_m, 0)::float8
        FROM patrol_points
        WHERE worker_id = :w AND at BETWEEN to_timestamp(:t0) AND to_timestamp(:t1)
    """),
        {
            "w": worker_id,
            "t0": float(t.min()) - _NEIGHBOURS_S,
            "t1": float(t.max()) + _NEIGHBOURS_S,
        },
    ).all()
    cols = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    return tuple(np.asarray(c, dtype=float) for c in cols)  # type: ignore[return-value]


def _copy_in(
    conn: Connection,
    *,
    worker_id: int,
    street_code: str,
    batch: FixBatch,
    keep: np.ndarray,
    source: str,
) -> int:
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        return 0
    if len(idx) < COPY_FROM:
        return _insert_arrays(
            conn, worker_id=worker_id, street_code=street_code, batch=batch, idx=idx, source=source
        )
    conn.execute(sa.text("DROP TABLE IF EXISTS pg_temp.field_fixes_in"))
    conn.execute(
        sa.text("""
        CREATE TEMP TABLE field_fixes_in (at timestamptz, lon float8, lat float8,
            accuracy_m real, speed_ms real, bearing real, altitude_m real, batt real)
        ON COMMIT DROP
    """)
    )
    raw = conn.connection.driver_connection
    assert raw is not None
    cols = [getattr(batch, c if c != "at" else "t")[idx] for c in _COLUMNS]
    with (
        raw.cursor() as cur,
        cur.copy(f"COPY field_fixes_in ({', '.join(_COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in zip(*cols, strict=True):
            copy.write_row(
                [datetime.fromtimestamp(row[0], UTC)]
                + [None if not math.isfinite(v) else float(v) for v in row[1:]]
            )
    return int(
        conn.execute(
            sa.text("""
        INSERT INTO patrol_points (worker_id, street_code, at, accuracy_m, speed_ms, bearing,
                                   altitude_m, batt, source, geom)
        SELECT :w, :s, at, accuracy_m, speed_ms, bearing, altitude_m, batt, :src,
               ST_SetSRID(ST_MakePoint(lon, lat), 4326)
        FROM field_fixes_in
    """),
            {"w": worker_id, "s": street_code, "src": source},
        ).rowcount
    )


def _insert_arrays(
    conn: Connection,
    *,
    worker_id: int,
    street_code: str,
    batch: FixBatch,
    idx: np.ndarray,
    source: str,
) -> int:
    """A small batch: one INSERT from arrays (a temporary table costs more than it saves)."""

    def col(name: str) -> list[float | None]:
        return [None if not math.isfinite(v) else float(v) for v in getattr(batch, name)[idx]]

    return int(
        conn.execute(
            sa.text("""
        INSERT INTO patrol_points (worker_id, street_code, at, accuracy_m, speed_ms, bearing,
                                   altitude_m, batt, source, geom)
        SELECT :w, :s, to_timestamp(t), acc, v, b, alt, batt, :src,
               ST_SetSRID(ST_MakePoint(x, y), 4326)
        FROM unnest(CAST(:t AS float8[]), CAST(:x AS float8[]), CAST(:y AS float8[]),
                    CAST(:acc AS real[]), CAST(:v AS real[]), CAST(:b AS real[]),
                    CAST(:alt AS real[]), CAST(:batt AS real[]))
             AS f(t, x, y, acc, v, b, alt, batt)
    """),
            {
                "w": worker_id,
                "s": street_code,
                "src": source,
                "t": col("t"),
                "x": col("lon"),
                "y": col("lat"),
                "acc": col("accuracy_m"),
                "v": col("speed_ms"),
                "b": col("bearing"),
                "alt": col("altitude_m"),
                "batt": col("batt"),
            },
        ).rowcount
    )


def _put_aside(
    conn: Connection,
    *,
    worker_id: int,
    street_code: str,
    batch: FixBatch,
    aside: dict[int, str],
    source: str,
) -> None:
    if not aside:
        return

    def num(v: float) -> float | None:
        return float(v) if math.isfinite(v) else None

    rows = []
    for i, reason in aside.items():
        t, x, y = batch.t[i], batch.lon[i], batch.lat[i]
        placed = math.isfinite(x) and math.isfinite(y) and abs(x) <= 180 and abs(y) <= 90
        ok_t = math.isfinite(t) and abs(t) < 1e11
        rows.append(
            {
                "w": worker_id,
                "s": street_code,
                "at": datetime.fromtimestamp(t, UTC) if ok_t else None,
                "r": reason,
                "acc": num(batch.accuracy_m[i]),
                "v": num(batch.speed_ms[i]),
                "src": source,
                "x": float(x) if placed else None,
                "y": float(y) if placed else None,
            }
        )
    conn.execute(
        sa.text("""
        INSERT INTO patrol_points_aside (worker_id, street_code, at, reason, accuracy_m,
                                         speed_ms, source, geom)
        VALUES (:w, :s, :at, :r, :acc, :v, :src,
                CASE WHEN CAST(:x AS float8) IS NULL THEN NULL
                     ELSE ST_SetSRID(ST_MakePoint(:x, :y), 4326) END)
    """),
        rows,
    )


def last_positions(*, conn: Connection) -> list[dict[str, object]]:
    """Each worker's last stored fix (as the scope sees them): code, at, lon, lat, accuracy."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text("""
        SELECT w.code AS worker_code, p.at, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat,
               p.accuracy_m, p.source, extract(epoch FROM now() - p.at)::float8 AS age_s
        FROM workers w
        CROSS JOIN LATERAL (SELECT * FROM patrol_points q WHERE q.worker_id = w.id
                            ORDER BY q.at DESC LIMIT 1) p
        ORDER BY w.code
    """)
        ).mappings()
    ]


def fix_counts(*, conn: Connection, worker_id: int) -> dict[str, int]:
    """Stored and aside fixes of one worker (for checks and benchmarks)."""
    row = conn.execute(
        sa.text("""
        SELECT (SELECT count(*) FROM patrol_points WHERE worker_id = :w) AS stored,
               (SELECT count(*) FROM patrol_points_aside WHERE worker_id = :w) AS aside
    """),
        {"w": worker_id},
    ).one()
    return {"stored": int(row.stored), "aside": int(row.aside)}
