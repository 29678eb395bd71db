"""The field app's sign-in and reads: devices, me, categories, grid, plan, queue, parts, nearby.

A phone signs in once with a dashboard user's name and password (the login rules of
:mod:`services.login` apply: throttling, lockout) and gets a long-lived device token;
every later request names the device by that token and runs as the user's scope, so
row-level security decides what the phone sees. Only grid workers, department
handlers and supervisors get devices.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import h3.api.basic_int as h3
from sqlalchemy.engine import Engine

from city import time_zone
from gis.errors import GridGovError
from layers import field, field_reads
from layers.field import Device
from layers.workflow.duplicates import open_cases_near
from layers.workflow.errors import BadValue
from services.login import login
from services.uow import Scope, unit_of_work

FIELD_ROLES = ("grid_worker", "handler", "supervisor")
DEFAULT_PROOF_RADIUS_M = 100.0
NEARBY_RADIUS_M = 150.0
NEARBY_WINDOW = timedelta(days=30)
MAX_BBOX_DEG = 0.05
_PERSONAL_NUMBERS = re.compile(r"\d{17}[\dXx]|\+?\d[\d -]{5,}\d")
"""ID card numbers, phone numbers and other long digit runs: masked in what phones get."""


class DeviceRefused(GridGovError):
    """No device for this token (unknown, revoked, or its user disabled): sign in again."""

    code = "device_token"
    kind = "unauthorised"


class BadLogin(GridGovError):
    """Wrong name or password."""

    code = "bad_login"
    kind = "unauthorised"


class FieldRoleRefused(GridGovError):
    """The user's role does not use the field app."""

    code = "field_role"
    kind = "forbidden"


def proof_radius_m() -> float:
    """``GRIDGOV_FIELD_PROOF_RADIUS_M`` (default 100): how near a case on-site proof must be."""
    raw = os.environ.get("GRIDGOV_FIELD_PROOF_RADIUS_M")
    if raw is None:
        return DEFAULT_PROOF_RADIUS_M
    try:
        value = float(raw)
    except ValueError as exc:
        raise BadValue("GRIDGOV_FIELD_PROOF_RADIUS_M must be a number of metres") from exc
    if not 5 <= value <= 5_000:
        raise BadValue("GRIDGOV_FIELD_PROOF_RADIUS_M must be within 5…5000 m")
    return value


def pause_for_test(where: str) -> None:
    """A hook of the crash tests: with ``GRIDGOV_TEST_PAUSE_IN=<where>:<file>`` in the
    environment, write ``file`` and wait (up to 120 s) inside the open transaction, so that
    a test can kill the server mid-apply. Does nothing otherwise."""
    spec = os.environ.get("GRIDGOV_TEST_PAUSE_IN", "")
    name, _, flag = spec.partition(":")
    if name != where or not flag:
        return
    Path(flag).write_text(f"paused in {where} at {time.time():.3f}\n")
    time.sleep(120)


def scope_of(device: Device) -> Scope:
    """The unit-of-work scope of a device: its user's role, area and department."""
    return Scope(device.role, username=device.username)


def register_device(
    engine: Engine, *, username: str, password: str, label: str, address: str | None = None
) -> dict[str, Any]:
    """Sign a phone in: check the login, make a device; its token is returned only here.

    Raises
    ------
    BadLogin, FieldRoleRefused, services.login.LoginLocked, BadValue
    """
    label = label.strip()
    if not 1 <= len(label) <= 100 or any(ord(c) < 32 for c in label):
        raise BadValue("device_label: 1 to 100 printable characters")
    user = login(engine, username=username, password=password, address=address)
    if user is None:
        raise BadLogin("username or password is wrong / 用户名或密码错误")
    if user.role not in FIELD_ROLES:
        raise FieldRoleRefused(
            f"role {user.role} does not use the field app (grid workers, handlers, supervisors)"
        )
    with engine.begin() as conn:
        device_id, token = field.add_device(conn=conn, username=user.username, label=label)
        device = field.device_for_token(conn=conn, token=token)
    assert device is not None
    return {"device_id": str(device_id), "token": token, "me": me(engine, device)}


def authenticate(engine: Engine, token: str | None) -> Device:
    """The device of a bearer token.

    Raises
    ------
    DeviceRefused
        No token, or an unknown or revoked one, or a disabled user.
    """
    if not token or len(token) > 200:
        raise DeviceRefused("a device token is required (Authorization: Bearer …); sign in")
    with engine.begin() as conn:
        device = field.device_for_token(conn=conn, token=token)
    if device is None:
        raise DeviceRefused("this device was signed out (unknown or revoked token); sign in again")
    return device


def mask(text: str | None) -> str | None:
    """A description with ID numbers and phone numbers replaced by ＊."""
    if text is None:
        return None
    return _PERSONAL_NUMBERS.sub(lambda m: "＊" * min(len(m.group()), 11), text)


def me(engine: Engine, device: Device) -> dict[str, Any]:
    """Who the device acts for: role, names, worker code, department, grids."""
    with unit_of_work(engine, scope_of(device)) as conn:
        worker = field.my_worker(conn=conn)
        grids = (
            field_reads.grid_features(conn=conn, worker_id=worker["id"] if worker else None)
            if device.role != "handler"
            else {"features": []}
        )
    return {
        "username": device.username,
        "role": device.role,
        "display_name": device.display_name,
        "worker_code": worker["code"] if worker else None,
        "department_code": device.department_code,
        "device_id": str(device.device_id),
        "grids": [
            {"grid_id": f["properties"]["grid_id"], "code": f["properties"]["code"]}
            for f in grids["features"]
        ],
    }


def categories(engine: Engine, device: Device) -> list[dict[str, Any]]:
    """The category catalogue (minor classes, zh and en)."""
    with unit_of_work(engine, scope_of(device)) as conn:
        return field_reads.categories(conn=conn)


def grid(engine: Engine, device: Device) -> dict[str, Any]:
    """GeoJSON of my grid(s); a handler has none."""
    if device.role == "handler":
        return {"type": "FeatureCollection", "features": []}
    with unit_of_work(engine, scope_of(device)) as conn:
        worker = field.my_worker(conn=conn)
        return field_reads.grid_features(conn=conn, worker_id=worker["id"] if worker else None)


def plan(engine: Engine, device: Device, *, today: date | None = None) -> dict[str, Any]:
    """Today's patrol plan (else the latest before it) with a done flag per stop."""
    day = today or datetime.now(time_zone()).date()
    empty: dict[str, Any] = {
        "day": day,
        "plan_id": None,
        "route": None,
        "stops": [],
        "done": 0,
        "total": 0,
    }
    with unit_of_work(engine, scope_of(device)) as conn:
        worker = field.my_worker(conn=conn)
        if worker is None:
            return empty
        found = field_reads.plan_of(conn=conn, worker_id=worker["id"], day=day)
        if found is None:
            return empty
        parts = field_reads.part_points(
            conn=conn, part_codes=[s["ref"] for s in found["stops"] if s.get("kind") == "part"]
        )
        stops = []
        for seq, stop in enumerate(found["stops"], start=1):
            point = _stop_point(stop, parts)
            if point is None:
                continue
            label_zh, label_en = (
                ("部件巡查", f"Part {stop['ref']}")
                if stop.get("kind") == "part"
                else ("热点巡查", "Hotspot")
            )
            stops.append(
                {
                    "seq": seq,
                    "lon": point[0],
                    "lat": point[1],
                    "kind": stop.get("kind"),
                    "ref": stop.get("ref"),
                    "label_zh": label_zh,
                    "label_en": label_en,
                }
            )
        done = field_reads.visited(
            conn=conn,
            worker_id=worker["id"],
            day=day,
            points=[(s["lon"], s["lat"]) for s in stops],
            radius_m=proof_radius_m(),
        )
    for stop, flag in zip(stops, done, strict=True):
        stop["done"] = flag
    return {
        "day": found["day"],
        "plan_id": found["plan_id"],
        "route": found["route"],
        "length_m": round(found["length_m"], 1),
        "stops": stops,
        "done": sum(done),
        "total": len(stops),
    }


def _stop_point(stop: dict, parts: dict[str, tuple[float, float]]) -> tuple[float, float] | None:
    if stop.get("kind") == "part":
        return parts.get(str(stop.get("ref")))
    if stop.get("kind") == "cell":
        try:
            lat, lon = h3.cell_to_latlng(h3.str_to_int(str(stop["ref"])))
        except (ValueError, KeyError, TypeError):
            return None
        return float(lon), float(lat)
    return None


def queue(
    engine: Engine, device: Device, *, lon: float | None = None, lat: float | None = None
) -> list[dict[str, Any]]:
    """My tasks: verify and check (grid worker) or handle (handler), by deadline and distance."""
    if (lon is None) != (lat is None):
        raise BadValue("lon and lat: give both or neither")
    with unit_of_work(engine, scope_of(device)) as conn:
        if device.role == "handler":
            rows = field_reads.handler_queue(conn=conn, lon=lon, lat=lat)
        elif device.role == "grid_worker":
            worker = field.my_worker(conn=conn)
            ids = field_reads.grid_ids(conn=conn, worker_id=worker["id"] if worker else None)
            rows = field_reads.worker_queue(
                conn=conn, grid_ids=ids, actor=device.username, lon=lon, lat=lat
            )
        else:
            rows = []
    for row in rows:
        row["description"] = mask(row["description"])
        row["distance_m"] = None if row["distance_m"] is None else float(row["distance_m"])
    return rows


def parts(engine: Engine, device: Device, *, bbox: tuple[float, float, float, float]) -> dict:
    """GeoJSON of the parts in a box (at most 0.05° a side)."""
    x0, y0, x1, y1 = bbox
    if not (x0 < x1 and y0 < y1) or x1 - x0 > MAX_BBOX_DEG or y1 - y0 > MAX_BBOX_DEG:
        raise BadValue(
            f"bbox: min_lon,min_lat,max_lon,max_lat with min < max, at most {MAX_BBOX_DEG}° a side"
        )
    with unit_of_work(engine, scope_of(device)) as conn:
        return field_reads.parts_in(conn=conn, bbox=bbox)


def nearby(
    engine: Engine, device: Device, *, lon: float, lat: float, service_code: str | None
) -> list[dict[str, Any]]:
    """Open cases near a point (the one duplicate hint, row-level security applies)."""
    with unit_of_work(engine, scope_of(device)) as conn:
        rows = open_cases_near(
            conn=conn,
            lon=lon,
            lat=lat,
            service_code=service_code or None,
            at=datetime.now(UTC),
            radius_m=NEARBY_RADIUS_M,
            window=NEARBY_WINDOW,
            limit=10,
        )
    return [
        {
            "case_id": r["id"],
            "case_no": r["case_no"],
            "status": r["status"],
            "service_code": r["service_code"],
            "name_zh": r["name_zh"],
            "name_en": r["name_en"],
            "distance_m": float(r["distance_m"]),
            "reported_at": r["reported_at"],
        }
        for r in rows
    ]


@dataclass(frozen=True)
class DeviceRow:
    """A registered device as the CLI lists it."""

    device_id: str
    username: str
    label: str
    created_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None


def list_devices(engine: Engine, *, username: str | None = None) -> list[DeviceRow]:
    """Registered devices (never their tokens), newest first."""
    with engine.begin() as conn:
        return [
            DeviceRow(
                str(r["device_id"]),
                r["username"],
                r["label"],
                r["created_at"],
                r["last_seen_at"],
                r["revoked_at"],
            )
            for r in field.devices(conn=conn, username=username)
        ]


def revoke_device(engine: Engine, *, device_id: str) -> bool:
    """Revoke a device: its next request answers 401 (the phone keeps its outbox)."""
    with engine.begin() as conn:
        return field.revoke_device(conn=conn, device_id=device_id)


def link_worker(engine: Engine, *, username: str, worker_code: str) -> None:
    """Make a grid-worker login walk as a worker (tracks, plan, grids)."""
    with engine.begin() as conn:
        field.link_worker(conn=conn, username=username, worker_code=worker_code)
