"""Open311 GeoReport v2 endpoints (https://wiki.open311.org/GeoReport_v2).

Deviations from the spec, on purpose:

- ``bbox=min_long,min_lat,max_long,max_lat`` and ``page``/``page_size`` on
  ``GET requests`` (common extensions; the spec has no paging);
- ``attribute[datum]`` (or ``datum``) declares the datum of ``lat``/``long``:
  ``wgs84`` (default), ``gcj02`` or ``bd09``; GridGov stores WGS 84;
- errors carry a stable ``error_code`` beside the spec's ``code`` and ``description``;
- ``lat``/``long`` are required: GridGov does not geocode ``address_string``;
- ``page * page_size`` is at most :data:`MAX_RESULT_WINDOW` (deep paging costs the
  database the whole offset): narrow by ``start_date``/``end_date`` or ``bbox`` instead;
- ``POST requests`` takes an ``Idempotency-Key`` header (the same key and body get the
  first answer again, no second case; the same key with another body answers 422);
- reports are rate-limited per API key and every request per client address
  (429 with ``Retry-After``, :mod:`api.limits`);
- text fields refuse control characters (NUL, ``\x01`` …: they break XML and
  PostgreSQL text), with the field's name and no echo of its value;
- anonymous reads leave out rejected reports, and for reports taken by phone
  (``hotline``) the description and the exact point (rounded to ~100 m).

Open/closed comes from ``case_statuses.open311``, the one place internal statuses map.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Header, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import Connection, Engine

from api.limits import Limiter, RateLimits
from api.render import respond
from layers import idempotency
from layers.workflow.access import client_for_key
from layers.workflow.cases_api import (
    MAX_PAGE_SIZE,
    Report,
    get_request,
    report_case,
    search_requests,
    service_definition,
    services,
    validate_report,
)
from layers.workflow.errors import BadCoordinates, BadValue, UnknownCategory
from services.uow import Scope, unit_of_work

Fmt = Literal["json", "xml"]
DEFAULT_WINDOW = timedelta(days=90)
API_CLIENT = Scope("api_client")
"""The scope every API request runs in (row-level security as the API client)."""
MAX_RESULT_WINDOW = 10_000
"""The deepest result a page may reach (``page * page_size``)."""
_LINE_BREAKS = {"\n", "\r", "\t"}


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

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: Any) -> Any:
        """NUL and other control characters are refused (line breaks only in a description);
        the message names the field and never repeats the value (it may be personal)."""
        if isinstance(value, str):
            allowed = _LINE_BREAKS if info.field_name == "description" else set()
            if any((ord(c) < 32 or 127 <= ord(c) < 160) and c not in allowed for c in value):
                raise ValueError("contains a control character (such as NUL)")
        return value


def build_router(
    engine: Engine | Callable[[], Engine], limits: RateLimits | None = None
) -> APIRouter:
    """The Open311 routes on ``engine`` (or a function returning it, called on first use).

    ``limits``: the rate limit per API key (default :meth:`RateLimits.from_env`).
    """
    router = APIRouter(tags=["Open311 GeoReport v2"])
    limiter = Limiter(limits or RateLimits.from_env())

    @functools.cache
    def current_engine() -> Engine:
        # the factory checks the connection: call it once, not on every request
        return engine if isinstance(engine, Engine) else engine()

    @contextmanager
    def session(api_key: str | None = None, *, keyed: bool = False) -> Iterator[Connection]:
        """One committed unit of work as the API client (row-level security).

        The database checks the client's key row (``gridgov_enter``); anonymous reads
        act as the public.
        """
        client = None
        if keyed:  # checked with the app's own rights: api_client cannot read api_keys
            # every request: a revoked key stops at once (one indexed lookup)
            with unit_of_work(current_engine(), None) as conn:
                client = client_for_key(conn=conn, key=api_key)
        scope = Scope(API_CLIENT.role, username=client)
        with unit_of_work(current_engine(), scope, write=True) as conn:
            conn.info["client"] = client
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
    def post_request(
        fmt: Fmt,
        form: Annotated[ServiceRequestForm, Form()],
        idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    ) -> Response:
        limiter.key(form.api_key)  # before any database work
        key = idempotency.check_key(idempotency_key) if idempotency_key is not None else None
        report = _report_of(form)
        name = _reporter_name(form)
        fingerprint = idempotency.request_hash(form.model_dump(exclude={"api_key"}))
        with session(form.api_key, keyed=True) as conn:
            client = conn.info["client"]
            done = _claimed(conn, client=client, key=key, fingerprint=fingerprint)
            if done is not None:  # a retry: the first answer, no second case
                return respond(done[1], fmt, "service_requests", "request", done[0])
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
            body = [
                {
                    "service_request_id": str(made["case_id"]),
                    "service_notice": f"case {made['case_no']} reported",
                    "account_id": form.account_id,
                }
            ]
            if key is not None:
                idempotency.remember(
                    conn=conn,
                    client=client,
                    key=key,
                    fingerprint=fingerprint,
                    status_code=201,
                    body=body,
                )
        return respond(body, fmt, "service_requests", "request", 201)

    @router.get("/requests.{fmt}", summary="Search service requests")
    def get_requests(  # noqa: PLR0913 (the query parameters of GeoReport v2 search)
        fmt: Fmt,
        *,
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
        _check_window(page, page_size)
        ids = _id_list(service_request_id) if service_request_id else None
        start, end = _search_window(ids, start_date, end_date)
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


def _report_of(form: ServiceRequestForm) -> Report:
    """The checked report of a posted form (datum and urgency from the attributes first)."""
    return validate_report(
        service_code=form.service_code,
        lon=form.long,
        lat=form.lat,
        datum=form.attr_datum or form.datum or "wgs84",
        source="app",
        description=form.description,
        media_urls=[form.media_url] if form.media_url else [],
        urgency=form.attr_urgency or "normal",
    )


def _claimed(
    conn: Connection, *, client: str, key: str | None, fingerprint: str
) -> tuple[int, Any] | None:
    """The first answer to a retried request, None for a new one or a request without a key."""
    if key is None:
        return None
    return idempotency.claim(conn=conn, client=client, key=key, fingerprint=fingerprint)


def _reporter_name(form: ServiceRequestForm) -> str | None:
    """Family name, then given name, as written in Chinese; None when neither is given."""
    return " ".join(p for p in (form.last_name, form.first_name) if p) or None


def _check_window(page: int, page_size: int) -> None:
    """Refuse paging deeper than the result window."""
    if page * page_size > MAX_RESULT_WINDOW:
        raise BadValue(
            f"page * page_size may be at most {MAX_RESULT_WINDOW:,}; narrow the search "
            "with start_date/end_date or bbox instead of paging deeper"
        )


def _search_window(
    ids: list[int] | None, start_date: datetime | None, end_date: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """Start and end of the search (UTC when naive); without ids or start, the spec's default:
    the 90 days before the end (or now)."""
    end = _aware(end_date) if end_date else None
    start = _aware(start_date) if start_date else None
    if ids is None and start is None:  # the spec's default window: 90 days before end
        try:
            start = (end or datetime.now(UTC)) - DEFAULT_WINDOW
        except OverflowError as exc:
            raise BadValue("end_date is too early") from exc
    return start, end


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
