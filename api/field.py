"""The field app's JSON API under ``/field/api`` (contract: docs/field_api.md).

A front door: it reads the request, names the device by its bearer token and calls one
service function. Errors answer ``{"code", "message"}`` (see :func:`field_error`).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from api.render import plain
from layers.field import Device
from layers.media import MAX_PHOTO_BYTES, PhotoError
from layers.workflow.errors import BadValue
from services import field as field_service
from services import field_sync, field_tracks

FIELD_PREFIXES = ("/field/api/", "/osmand")
"""Paths whose errors are answered in the field format (not Open311's)."""
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")
Auth = Annotated[str | None, Header(max_length=300)]
"""The ``Authorization: Bearer <device token>`` header."""


class PhotoTooLarge(PhotoError):
    """A photo over the size limit."""

    code = "photo_too_large"
    kind = "bad_input"


class NotAnImage(PhotoError):
    """Bytes that are no JPEG, PNG or WebP."""

    code = "bad_photo"
    kind = "bad_input"


def field_error(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    """The field API's error body: ``{"code": stable code, "message": field and why}``."""
    return JSONResponse({"code": code, "message": message}, status, headers=headers)


class DeviceForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)
    device_label: str = Field(min_length=1, max_length=100)


class SyncBody(BaseModel):
    actions: list[field_sync.Action] = Field(max_length=field_sync.MAX_ACTIONS)


class FixIn(BaseModel):
    """One fix: numbers must be JSON numbers (strict: ``true`` or ``"12"`` is refused)."""

    t: float | str
    lon: float = Field(strict=True)
    lat: float = Field(strict=True)
    accuracy: float | None = Field(None, strict=True)
    speed: float | None = Field(None, strict=True)
    bearing: float | None = Field(None, strict=True)
    altitude: float | None = Field(None, strict=True)
    batt: float | None = Field(None, strict=True)

    @field_validator("t", mode="before")
    @classmethod
    def _no_bool(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("a time (epoch seconds or ms, or ISO 8601), not true/false")
        return value


class FixesBody(BaseModel):
    fixes: list[FixIn] = Field(max_length=field_tracks.MAX_FIXES)


def build_field_router(engine: Engine | Callable[[], Engine]) -> APIRouter:  # noqa: C901 (one route each)
    """The ``/field/api`` routes on ``engine`` (or a function returning it)."""
    router = APIRouter(tags=["Field app"])

    @functools.cache
    def db() -> Engine:
        return engine if isinstance(engine, Engine) else engine()

    def device(authorization: str | None) -> Device:
        token = None
        if authorization and authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        return field_service.authenticate(db(), token)

    @router.post("/devices", status_code=201, summary="Sign a phone in (device token)")
    def post_device(body: DeviceForm, request: Request) -> Any:
        address = request.client.host if request.client else None
        made = field_service.register_device(
            db(),
            username=body.username,
            password=body.password,
            label=body.device_label,
            address=address,
        )
        return JSONResponse(plain(made), 201)

    @router.get("/me", summary="Who this device acts for")
    def get_me(authorization: Auth = None) -> Any:
        return plain(field_service.me(db(), device(authorization)))

    @router.get("/categories", summary="The category catalogue, zh and en")
    def get_categories(authorization: Auth = None) -> Any:
        return field_service.categories(db(), device(authorization))

    @router.get("/grid", summary="GeoJSON of my grid(s)")
    def get_grid(authorization: Auth = None) -> Any:
        return field_service.grid(db(), device(authorization))

    @router.get("/plan", summary="Today's patrol plan with progress")
    def get_plan(authorization: Auth = None) -> Any:
        return plain(field_service.plan(db(), device(authorization)))

    @router.get("/queue", summary="My tasks, by deadline then distance")
    def get_queue(
        authorization: Auth = None,
        lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
        lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    ) -> Any:
        return plain(field_service.queue(db(), device(authorization), lon=lon, lat=lat))

    @router.get("/parts", summary="GeoJSON of parts in a box")
    def get_parts(
        bbox: Annotated[str, Query(max_length=200, description="min_lon,min_lat,max_lon,max_lat")],
        authorization: Auth = None,
    ) -> Any:
        try:
            x0, y0, x1, y1 = (float(p) for p in bbox.split(","))
        except ValueError as exc:
            raise BadValue("bbox: four numbers min_lon,min_lat,max_lon,max_lat") from exc
        return field_service.parts(db(), device(authorization), bbox=(x0, y0, x1, y1))

    @router.get("/nearby", summary="Open cases near a point (duplicate hint)")
    def get_nearby(
        lon: Annotated[float, Query(ge=-180, le=180)],
        lat: Annotated[float, Query(ge=-90, le=90)],
        authorization: Auth = None,
        service_code: Annotated[str | None, Query(max_length=32)] = None,
    ) -> Any:
        return plain(
            field_service.nearby(
                db(), device(authorization), lon=lon, lat=lat, service_code=service_code
            )
        )

    @router.put("/photos/{photo_id}", summary="Upload a photo by client id (idempotent)")
    async def put_photo(
        photo_id: Annotated[uuid.UUID, Path()],
        request: Request,
        authorization: Auth = None,
        content_type: Annotated[str | None, Header(max_length=100)] = None,
    ) -> Any:
        who = await run_in_threadpool(device, authorization)
        declared = (content_type or "").split(";")[0].strip().lower()
        if declared not in PHOTO_TYPES:
            return field_error(
                415, "bad_photo", "Content-Type: image/jpeg, image/png or image/webp"
            )
        try:
            data = await _read_limited(request)
        except PhotoTooLarge as exc:
            return field_error(413, exc.code, exc.message)
        try:
            status, body = await run_in_threadpool(
                field_sync.upload_photo, db(), who, photo_id=photo_id, data=data
            )
        except PhotoError as exc:
            if "not a JPEG" in exc.message:
                return field_error(415, "bad_photo", f"body: {exc.message}")
            raise
        return JSONResponse(body, status)

    @router.post("/sync", summary="Send the outbox: actions in order, each applied once")
    def post_sync(body: SyncBody, authorization: Auth = None) -> Any:
        results = field_sync.sync(db(), device(authorization), body.actions)
        return {"results": plain(results)}

    @router.post("/fixes", summary="A batch of GPS fixes")
    def post_fixes(body: FixesBody, authorization: Auth = None) -> Any:
        who = device(authorization)
        fixes = [
            field_tracks.Fix(
                t=field_tracks.epoch_seconds(f.t, name=f"fixes.{i}.t"),
                lon=f.lon,
                lat=f.lat,
                accuracy=f.accuracy,
                speed=f.speed,
                bearing=f.bearing,
                altitude=f.altitude,
                batt=f.batt,
            )
            for i, f in enumerate(body.fixes)
        ]
        return field_tracks.record_fixes(db(), who, fixes)

    return router


async def _read_limited(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it passes the photo size limit."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_PHOTO_BYTES:
        raise PhotoTooLarge(
            f"body: {int(declared) / 1e6:.1f} MB; a photo may have {MAX_PHOTO_BYTES / 1e6:.0f} MB"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_PHOTO_BYTES:
            raise PhotoTooLarge(
                f"body: more than the {MAX_PHOTO_BYTES / 1e6:.0f} MB a photo may have"
            )
        chunks.append(chunk)
    return b"".join(chunks)
