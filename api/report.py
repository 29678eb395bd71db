"""The residents' app's JSON API under ``/report/api/`` (the app itself: ``webapps/report/``).

No account: every call acts as the public ``resident`` scope. A report or a follow is
stored once by its ``client_id`` (the phone's outbox re-sends it until it is answered);
the private link's secret ``token`` is made on the phone and sent in the body (POST) or
the ``X-Case-Token`` header (GET) — never in a URL, which is logged.

Abuse: writes are limited per device (``X-Device-Id``, a random id the app keeps) and per
client address (``GRIDGOV_REPORT_RATE_DEVICE``, default ``10/hour;40/day``;
``GRIDGOV_REPORT_RATE_ADDRESS``, default ``60/hour``; ``off`` turns one off), bodies are
JSON only (415 otherwise) and at most :data:`MAX_BODY` bytes (413), photos at most
3 of 2 MB each, JPEG, PNG or WebP by their content.
"""

import functools
import hashlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine

from api.limits import RateLimited
from api.render import plain
from services import resident, resident_case, resident_stats
from services.resident_kinds import kinds

MAX_BODY = 8_000_000
"""The largest request body (three compressed photos in base64 and the text)."""
CASE_NO = r"^[A-Za-z0-9_-]{1,40}$"


@dataclass(frozen=True)
class ReportLimits:
    """Writes per device and per client address (``limits`` notation; None: no limit)."""

    per_device: str | None = "10/hour;40/day"
    per_address: str | None = "60/hour"
    storage: str = "memory://"

    @classmethod
    def from_env(cls) -> "ReportLimits":
        """From ``GRIDGOV_REPORT_RATE_DEVICE`` and ``GRIDGOV_REPORT_RATE_ADDRESS``."""
        d = cls()

        def read(env: str, fallback: str | None) -> str | None:
            raw = os.environ.get(env)
            if raw is None:
                return fallback
            return None if raw.strip().lower() in ("off", "none", "") else raw.strip()

        return cls(
            per_device=read("GRIDGOV_REPORT_RATE_DEVICE", d.per_device),
            per_address=read("GRIDGOV_REPORT_RATE_ADDRESS", d.per_address),
            storage=os.environ.get("GRIDGOV_API_RATE_STORAGE", d.storage),
        )


class _WriteLimiter:
    def __init__(self, limits: ReportLimits) -> None:
        self._device = parse_many(limits.per_device) if limits.per_device else []
        self._address = parse_many(limits.per_address) if limits.per_address else []
        self._window = MovingWindowRateLimiter(storage_from_string(limits.storage))

    def hit(self, *, device: str | None, address: str | None) -> None:
        for items, what, ident in (
            (self._device, "device", device or "unknown-device"),
            (self._address, "address", address or "unknown-address"),
        ):
            key = hashlib.sha256(ident.encode()).hexdigest()[:32]
            for item in items:
                self._check(item, what, key)

    def _check(self, item: RateLimitItem, what: str, key: str) -> None:
        if not self._window.hit(item, "report-" + what, key):
            reset = self._window.get_window_stats(item, "report-" + what, key).reset_time
            raise RateLimited(what, item, max(1, math.ceil(reset - time.time())))


class PhotoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("photo.jpg", max_length=200)
    data: str = Field(..., min_length=4, max_length=2_800_000, description="base64 of the photo")


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(..., min_length=8, max_length=64)
    token: str = Field(..., min_length=32, max_length=128)
    kind: str = Field(..., min_length=1, max_length=40)
    lon: float
    lat: float
    description: str | None = Field(None, max_length=1000)
    photos: list[PhotoIn] = Field(default_factory=list, max_length=3)
    anonymous: bool = True
    name: str | None = Field(None, max_length=60)
    phone: str | None = Field(None, max_length=30, pattern=r"^[0-9+\- ]*$")


class FollowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(..., min_length=8, max_length=64)
    token: str = Field(..., min_length=32, max_length=128)
    name: str | None = Field(None, max_length=60)
    phone: str | None = Field(None, max_length=30, pattern=r"^[0-9+\- ]*$")


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(..., min_length=8, max_length=64)
    token: str = Field(..., min_length=32, max_length=128)
    verdict: str = Field(..., max_length=30)
    reason: str | None = Field(None, max_length=1000)
    photo: PhotoIn | None = None


class BodyRefused(Exception):
    """A write whose body is not JSON (415) or too large (413)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _write_guard(limiter: _WriteLimiter) -> Callable[..., tuple[str | None, str | None]]:
    """The dependency of every write: JSON only, a size limit, the per-device and
    per-address limits; gives (device id, client address)."""

    def write_guard(
        request: Request,
        content_type: Annotated[str | None, Header()] = None,
        content_length: Annotated[int | None, Header()] = None,
        x_device_id: Annotated[str | None, Header(max_length=80)] = None,
    ) -> tuple[str | None, str | None]:
        if (content_type or "").split(";")[0].strip().lower() != "application/json":
            raise BodyRefused(415, "Content-Type: send application/json")
        if content_length is not None and content_length > MAX_BODY:
            raise BodyRefused(413, f"body: at most {MAX_BODY // 1_000_000} MB")
        address = request.client.host if request.client else None
        limiter.hit(device=x_device_id, address=address)
        return x_device_id, address

    return write_guard


def build_report_router(
    engine: Engine | Callable[[], Engine], limits: ReportLimits | None = None
) -> APIRouter:
    """The residents' routes on ``engine`` (or a function returning it, called on first use)."""
    router = APIRouter(tags=["Residents' app"])
    limiter = _WriteLimiter(limits or ReportLimits.from_env())

    @functools.cache
    def db() -> Engine:
        return engine if isinstance(engine, Engine) else engine()

    write_guard = _write_guard(limiter)

    Guarded = Annotated[tuple[str | None, str | None], Depends(write_guard)]
    Token = Annotated[str, Header(alias="X-Case-Token", min_length=32, max_length=128)]
    CaseNo = Annotated[str, Path(pattern=CASE_NO)]

    @router.get("/kinds", summary="The kinds a resident can report, in plain words")
    def list_kinds() -> dict[str, Any]:
        return {"kinds": [k.public() for k in kinds()]}

    @router.get("/places", summary="Search GridGov's own buildings and addresses")
    def places(q: Annotated[str, Query(min_length=1, max_length=60)]) -> dict[str, Any]:
        return {"places": plain(resident.find_places(db(), query=q))}

    @router.get("/nearby", summary="Open cases of the same kind nearby (follow instead)")
    def nearby(
        kind: Annotated[str, Query(max_length=40)],
        lon: Annotated[float, Query()],
        lat: Annotated[float, Query()],
    ) -> dict[str, Any]:
        rows = resident.nearby(
            db(), kind_code=kind, lon=lon, lat=lat, now=datetime.now().astimezone()
        )
        return {"cases": rows}

    @router.post("/reports", summary="Report a problem (stored once per client_id)")
    def report(body: ReportIn, guard: Guarded) -> JSONResponse:
        photos = [resident.decode_photo(p.name, p.data) for p in body.photos]
        out = resident.submit_report(
            db(),
            resident.NewReport(
                client_id=body.client_id,
                token=body.token,
                kind=body.kind,
                lon=body.lon,
                lat=body.lat,
                description=body.description,
                photos=photos,
                name=body.name,
                phone=body.phone,
                anonymous=body.anonymous,
            ),
            device=guard[0],
            address=guard[1],
        )
        return JSONResponse(out, 201 if out["new"] else 200)

    @router.post(
        "/cases/{case_no}/reporters", summary="Follow an open case instead of reporting it"
    )
    def follow(case_no: CaseNo, body: FollowIn, guard: Guarded) -> JSONResponse:
        out = resident.follow_instead(
            db(),
            case_no=case_no,
            client_id=body.client_id,
            token=body.token,
            name=body.name,
            phone=body.phone,
            device=guard[0],
            address=guard[1],
        )
        return JSONResponse(out, 201 if out["new"] else 200)

    @router.get("/cases/{case_no}", summary="A case through its private link")
    def case(case_no: CaseNo, token: Token) -> dict[str, Any]:
        return resident_case.case_view(db(), case_no=case_no, token=token)

    @router.get("/cases/{case_no}/photos/{sha256}", summary="A photo of the case, no metadata")
    def photo(
        case_no: CaseNo, sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")], token: Token
    ) -> Response:
        data = resident_case.case_photo(db(), case_no=case_no, token=token, sha256=sha256)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @router.post("/cases/{case_no}/feedback", summary="Rate a closed case, or say it is not fixed")
    def feedback(case_no: CaseNo, body: FeedbackIn, guard: Guarded) -> JSONResponse:
        photo = _photo(body.photo)
        out = resident_case.give_feedback(
            db(),
            case_no=case_no,
            token=body.token,
            client_id=body.client_id,
            verdict=body.verdict,
            reason=body.reason,
            photo=photo,
        )
        return JSONResponse(out, 201 if out["new"] else 200)

    @router.get("/stats", summary="Public figures per department and community")
    def stats() -> dict[str, Any]:
        return plain(resident_stats.public_stats(db()))

    return router


def _photo(photo: PhotoIn | None) -> resident.Photo | None:
    return resident.decode_photo(photo.name, photo.data) if photo else None
