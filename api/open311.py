"""Open311 GeoReport v2 endpoints (https://wiki.open311.org/GeoReport_v2).

Deviations from the spec, on purpose:

- ``bbox=min_long,min_lat,max_long,max_lat`` and ``page``/``page_size`` on
  ``GET requests`` (common extensions; the spec has no paging);
- ``attribute[datum]`` (or ``datum``) declares the datum of ``lat``/``long``:
  ``wgs84`` (default), ``gcj02`` or ``bd09``; GridGov stores WGS 84;
- errors carry a stable ``error_code`` beside the spec's ``code`` and ``description``;
- ``lat``/``long`` are required: GridGov does not geocode ``address_string``.

Open/closed comes from ``case_statuses.open311``, the one place internal statuses map.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection, Engine

from api.render import respond
from layers.workflow.access import act_as, client_for_key
from layers.workflow.cases_api import (
    MAX_PAGE_SIZE,
    get_request,
    report_case,
    search_requests,
    service_definition,
    services,
    validate_report,
)
from layers.workflow.errors import BadCoordinates, BadValue, UnknownCategory

Fmt = Literal["json", "xml"]
KEY_CACHE_SECONDS = 60.0
DEFAULT_WINDOW = timedelta(days=90)


class ServiceRequestForm(BaseModel):
    """The fields of ``POST requests`` (form-encoded, as the spec says)."""

    model_config = ConfigDict(populate_by_name=True)

    service_code: str = Field(max_length=32)
    lat: float
    long: float
    api_key: str | None = Field(None, max_length=200)
    description: str | None = None  # length checked by validate_report (a stable error code)
    media_url: str | None = None
    address_string: str | None = Field(None, max_length=500)
    email: str | None = Field(None, max_length=200)
    device_id: str | None = Field(None, max_length=200)
    account_id: str | None = Field(None, max_length=200)
    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=40)
    jurisdiction_id: str | None = Field(None, max_length=100)
    datum: str | None = Field(None, max_length=20)
    attr_datum: str | None = Field(None, alias="attribute[datum]", max_length=20)
    attr_urgency: Literal["normal", "urgent"] | None = Field(None, alias="attribute[urgency]")


class _KeyCache:
    """Valid API keys for a minute, so that a busy client costs one lookup a minute."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, float]] = {}

    def client(self, conn: Connection, key: str | None) -> str:
        now = time.monotonic()
        hit = self._seen.get(key or "")
        if hit and now - hit[1] < KEY_CACHE_SECONDS:
            return hit[0]
        client = client_for_key(conn=conn, key=key)
        self._seen[key or ""] = (client, now)
        return client


def build_router(engine: Engine | Callable[[], Engine]) -> APIRouter:
    """The Open311 routes on ``engine`` (or a function returning it, called on first use)."""
    router = APIRouter(tags=["Open311 GeoReport v2"])
    keys = _KeyCache()

    @functools.cache
    def current_engine() -> Engine:
        # the factory checks the connection: call it once, not on every request
        return engine if isinstance(engine, Engine) else engine()

    @contextmanager
    def session(api_key: str | None = None, *, keyed: bool = False) -> Iterator[Connection]:
        with current_engine().begin() as conn:
            if keyed:  # checked before the role switch: api_client cannot read api_keys
                conn.info["client"] = keys.client(conn, api_key)
            # row-level security as the API client; the database checks the client's key row
            act_as(conn=conn, role="api_client", actor=conn.info.get("client"))
            yield conn

    @router.get("/services.{fmt}", summary="Service list: the category catalogue")
    def get_services(fmt: Fmt, jurisdiction_id: str | None = None) -> Response:
        with session() as conn:
            return respond(services(conn=conn), fmt, "services", "service")

    @router.get("/services/{service_code}.{fmt}", summary="Service definition (attributes)")
    def get_service_definition(
        service_code: Annotated[str, Path(max_length=32)],
        fmt: Fmt,
        jurisdiction_id: str | None = None,
    ) -> Response:
        with session() as conn:
            found = service_definition(conn=conn, service_code=service_code)
        if found is None:
            raise UnknownCategory(f"unknown service_code {service_code!r}")
        return respond(found, fmt, "service_definition", "attribute")

    @router.post("/requests.{fmt}", summary="Report a problem (needs an api_key)")
    def post_request(fmt: Fmt, form: Annotated[ServiceRequestForm, Form()]) -> Response:
        report = validate_report(
            service_code=form.service_code,
            lon=form.long,
            lat=form.lat,
            datum=form.attr_datum or form.datum or "wgs84",
            source="app",
            description=form.description,
            media_urls=[form.media_url] if form.media_url else [],
            urgency=form.attr_urgency or "normal",
        )
        name = " ".join(p for p in (form.last_name, form.first_name) if p) or None
        with session(form.api_key, keyed=True) as conn:
            made = report_case(
                conn=conn,
                report=report,
                actor=conn.info["client"],
                role="api_client",
                reporter_name=name,
                reporter_phone=form.phone,
                source_system="open311",
                savepoint=False,  # a refusal ends this request's transaction
            )
        return respond(
            [
                {
                    "service_request_id": str(made["case_id"]),
                    "service_notice": f"case {made['case_no']} reported",
                    "account_id": form.account_id,
                }
            ],
            fmt,
            "service_requests",
            "request",
            201,
        )

    @router.get("/requests.{fmt}", summary="Search service requests")
    def get_requests(
        fmt: Fmt,
        service_request_id: Annotated[str | None, Query(max_length=2000)] = None,
        service_code: Annotated[str | None, Query(max_length=2000)] = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        status: Annotated[str | None, Query(pattern=r"^(open|closed)(,(open|closed))*$")] = None,
        bbox: Annotated[
            str | None, Query(description="min_long,min_lat,max_long,max_lat (WGS 84)")
        ] = None,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
        jurisdiction_id: str | None = None,
    ) -> Response:
        ids = _id_list(service_request_id) if service_request_id else None
        end = _aware(end_date) if end_date else None
        start = _aware(start_date) if start_date else None
        if ids is None and start is None:  # the spec's default window: 90 days before end
            try:
                start = (end or datetime.now(UTC)) - DEFAULT_WINDOW
            except OverflowError as exc:
                raise BadValue("end_date is too early") from exc
        statuses = set(status.split(",")) if status else set()
        with session() as conn:
            rows = search_requests(
                conn=conn,
                ids=ids,
                service_codes=service_code.split(",") if service_code else None,
                status=statuses.pop() if len(statuses) == 1 else None,
                start=start,
                end=end,
                bbox=_bbox(bbox) if bbox else None,
                page=page,
                page_size=page_size,
            )
        return respond(rows, fmt, "service_requests", "request")

    @router.get("/requests/{service_request_id}.{fmt}", summary="One service request")
    def get_one_request(
        service_request_id: Annotated[int, Path(ge=1, le=2**62)],
        fmt: Fmt,
        jurisdiction_id: str | None = None,
    ) -> Response:
        with session() as conn:
            row = get_request(conn=conn, case_id=service_request_id)
        return respond([row], fmt, "service_requests", "request")

    return router


def _id_list(text: str) -> list[int]:
    try:
        ids = [int(p) for p in text.split(",") if p.strip()]
    except ValueError as exc:
        raise BadValue("service_request_id must be comma-separated integers") from exc
    if any(not 0 < i < 2**62 for i in ids):
        raise BadValue("service_request_id out of range")
    return ids


def _bbox(text: str) -> tuple[float, float, float, float]:
    parts: list[Any] = text.split(",")
    try:
        x0, y0, x1, y1 = (float(p) for p in parts)
    except ValueError as exc:
        raise BadCoordinates(
            "bbox must be four numbers: min_long,min_lat,max_long,max_lat"
        ) from exc
    return x0, y0, x1, y1


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
