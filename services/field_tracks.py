"""Tracks from phones: batches from the field app and single fixes in the OsmAnd protocol.

Both land in ``patrol_points`` through :func:`layers.tracks.store_fixes` as the worker's
own scope (row-level security lets a grid worker add fixes for its own worker only).
The OsmAnd protocol (Traccar Client) names the phone by ``id``: here the worker's code
or a registered device id. The protocol carries no secret of its own, so GridGov asks for
one more parameter, ``key`` — the device's token, put into the server URL that Traccar
Client is given (it keeps the URL's query and adds the protocol's parameters). A fix
without a valid key is refused and counted (``osmand_refusals``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy.engine import Engine

from gis.errors import GridGovError
from layers import field
from layers.field import Device
from layers.tracks import FixBatch, SieveRules, store_fixes
from layers.workflow.errors import BadValue
from services.field import pause_for_test, scope_of
from services.uow import Scope, unit_of_work

MAX_FIXES = 5_000
KNOTS = 0.514444
"""Metres per second in a knot (OsmAnd and Traccar Client send speed in knots)."""


class NoWorker(GridGovError):
    """Fixes from a login that walks as no worker (``gridgov field link-worker``)."""

    code = "no_worker"
    kind = "forbidden"


class UnknownTracker(GridGovError):
    """An OsmAnd ``id`` that is neither a linked worker's code nor a registered device."""

    code = "unknown_device"
    kind = "not_found"


class TrackerKeyRefused(GridGovError):
    """An OsmAnd fix without the ``key`` of its device (missing, unknown/revoked, another's)."""

    code = "bad_key"
    kind = "unauthorised"


@dataclass(frozen=True)
class Fix:
    """One fix as received: epoch seconds, WGS 84, metres, m/s, degrees, percent."""

    t: float
    lon: float
    lat: float
    accuracy: float | None = None
    speed: float | None = None
    bearing: float | None = None
    altitude: float | None = None
    batt: float | None = None


def rules() -> SieveRules:
    """The sieve: ``GRIDGOV_FIELD_MAX_ACCURACY_M`` (50 m), ``GRIDGOV_FIELD_MAX_SPEED_MS`` (15)."""

    def number(name: str, default: float) -> float:
        raw = os.environ.get(name)
        try:
            value = float(raw) if raw is not None else default
        except ValueError as exc:
            raise BadValue(f"{name} must be a number") from exc
        if not value > 0:
            raise BadValue(f"{name} must be positive")
        return value

    return SieveRules(
        max_accuracy_m=number("GRIDGOV_FIELD_MAX_ACCURACY_M", 50.0),
        max_speed_ms=number("GRIDGOV_FIELD_MAX_SPEED_MS", 15.0),
    )


def epoch_seconds(value: object, *, name: str = "t") -> float:
    """A time as epoch seconds: seconds, milliseconds (> 1e11) or ISO 8601 with an offset."""
    if isinstance(value, bool):
        raise BadValue(f"{name}: a time, not true/false")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            try:
                stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError as exc:
                raise BadValue(
                    f"{name}: {text[:40]!r} is not epoch seconds/ms or ISO 8601"
                ) from exc
            if stamp.tzinfo is None:
                raise BadValue(f"{name}: an ISO time needs its offset (Z or +08:00)") from None
            return stamp.timestamp()
    if not math.isfinite(number):
        raise BadValue(f"{name}: not a finite number")
    return number / 1000.0 if abs(number) > 1e11 else number


def _batch(fixes: list[Fix]) -> FixBatch:
    def col(name: str) -> np.ndarray:
        return np.array(
            [np.nan if getattr(f, name) is None else getattr(f, name) for f in fixes], dtype=float
        )

    return FixBatch(
        t=col("t"),
        lon=col("lon"),
        lat=col("lat"),
        accuracy_m=col("accuracy"),
        speed_ms=col("speed"),
        bearing=col("bearing"),
        altitude_m=col("altitude"),
        batt=col("batt"),
    )


def record_fixes(
    engine: Engine, device: Device, fixes: list[Fix], *, source: str = "field"
) -> dict[str, object]:
    """Store a batch of the device user's fixes: ``{stored, duplicates, aside: {reason: n}}``.

    Raises
    ------
    NoWorker, BadValue
    """
    if device.role != "grid_worker":
        raise NoWorker(f"role {device.role} records no patrol track (grid workers only)")
    if len(fixes) > MAX_FIXES:
        raise BadValue(f"fixes: {len(fixes)} in one batch; at most {MAX_FIXES}")
    with unit_of_work(engine, scope_of(device), write=True) as conn:
        worker = field.my_worker(conn=conn)
        if worker is None:
            raise NoWorker(
                f"{device.username} walks as no worker: link it (gridgov field link-worker)"
            )
        stored = store_fixes(
            conn=conn,
            worker_id=int(worker["id"]),
            street_code=str(worker["street_code"]),
            batch=_batch(fixes),
            source=source,
            rules=rules(),
            now=datetime.now(UTC),
        )
        pause_for_test("fixes")
        return stored


def tracker_device(engine: Engine, tracker_id: str, key: str | None) -> Device:
    """The device an OsmAnd ``id`` stands for, proven by ``key`` (the device's token).

    ``id`` is a registered device id (then ``key`` must be that device's token) or a
    linked worker code (then ``key`` must be the token of a live device of the worker's
    login). The token is the one the field app got at sign-in (it shows the Traccar
    Client URL with it: ``…/osmand?key=<token>``).

    Raises
    ------
    BadValue, TrackerKeyRefused, UnknownTracker
    """
    tracker_id = tracker_id.strip()
    if not tracker_id or len(tracker_id) > 100:
        raise BadValue("id: the worker code or a registered device id")
    if not key:
        raise TrackerKeyRefused(
            "key: required — the device token, in the server URL (…/osmand?key=<token>)",
            code="missing_key",
        )
    if len(key) > 200:
        raise TrackerKeyRefused("key: not a device token (too long)", code="bad_key")
    with engine.begin() as conn:
        named = field.device_by_id(conn=conn, device_id=tracker_id)
        if named is None:
            named = field.user_of_worker(conn=conn, worker_code=tracker_id)
        if named is None:
            raise UnknownTracker("id: not a linked worker code nor a registered device id")
        holder = field.device_for_token(conn=conn, token=key)
    if holder is None:
        raise TrackerKeyRefused(
            "key: unknown or revoked device token; sign the phone in again", code="bad_key"
        )
    if (named.device_id is not None and named.device_id != holder.device_id) or (
        named.username != holder.username
    ):
        raise TrackerKeyRefused("key: the token is not this id's device", code="key_mismatch")
    return holder


def osmand_fix(engine: Engine, params: dict[str, str]) -> dict[str, object]:
    """Store one fix in the OsmAnd protocol (``id``, ``lat``, ``lon``, ``timestamp``, optional
    ``speed`` in knots, ``bearing``, ``altitude``, ``accuracy``, ``batt``) proven by ``key``
    (the device token; see :func:`tracker_device`).

    Raises
    ------
    BadValue, TrackerKeyRefused, UnknownTracker, NoWorker
    """
    for name in ("id", "lat", "lon", "timestamp"):
        if not params.get(name):
            raise BadValue(f"{name}: required (OsmAnd protocol)")
    for name, value in params.items():
        if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
            raise BadValue(f"{name}: contains a control character (such as NUL)")

    def number(name: str) -> float | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = float(raw)
        except ValueError as exc:
            raise BadValue(f"{name}: {raw[:20]!r} is not a number") from exc
        if not math.isfinite(value):
            raise BadValue(f"{name}: not a finite number")
        return value

    lat, lon = number("lat"), number("lon")
    assert lat is not None and lon is not None
    speed = number("speed")
    fix = Fix(
        t=epoch_seconds(params["timestamp"], name="timestamp"),
        lon=lon,
        lat=lat,
        accuracy=number("accuracy"),
        speed=None if speed is None else speed * KNOTS,
        bearing=number("bearing"),
        altitude=number("altitude"),
        batt=number("batt"),
    )
    device = tracker_device(engine, params["id"], params.get("key"))
    return record_fixes(engine, device, [fix], source="osmand")


def refuse_fix(engine: Engine, *, reason: str, tracker_id: str | None) -> None:
    """Count a refused OsmAnd fix (``osmand_refusals``: reason, the id as a SHA-256 prefix)."""
    field.count_osmand_refusal(conn_engine=engine, reason=reason, tracker_id=tracker_id)


def refusal_counts(engine: Engine, *, since_hours: float = 24.0) -> dict[str, int]:
    """Refused OsmAnd fixes by reason over the last ``since_hours``."""
    with engine.connect() as conn:
        return field.osmand_refusal_counts(conn=conn, since_hours=since_hours)


__all__ = [
    "Fix",
    "NoWorker",
    "Scope",
    "TrackerKeyRefused",
    "UnknownTracker",
    "osmand_fix",
    "record_fixes",
    "refusal_counts",
    "refuse_fix",
]
