"""Residents' alerts in the residents' app: follow a case, watch an area, unsubscribe.

- ``POST /report/api/cases/{case_no}/follow`` ``{token, email | phone | wechat_openid,
  client_id?}`` — alerts on every change of a case opened with its private link;
- ``POST /report/api/watches`` ``{community | lon, lat, radius_m; kinds; email | phone |
  wechat_openid; client_id?}`` — alerts when a case of those kinds is reported or closed
  in the area (``kinds``: the app's kind codes or catalogue codes; none: every kind;
  sensitive kinds cannot be watched);
- ``POST /report/api/unsubscribe`` ``{token}`` — the token the subscription answered with.

A repeat of the same request (same client id, or the same follow) answers 200 with
``created: false``; a new one 201 with its unsubscribe token. The contact is never
repeated in an answer or an error.

Abuse (someone subscribing another person's mailbox or phone): new subscriptions are
limited per client address (``GRIDGOV_API_RATE_SUBSCRIBE``, default ``30/hour;100/day``)
and per contact (``GRIDGOV_API_RATE_CONTACT``, default ``10/hour;30/day``; counted by a
hash of the contact), in the API's rate storage; ``off`` turns one off, and both are off
when the API's own limits are (``RateLimits(per_address=None)``).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import Engine

from api.limits import Limiter, RateLimits
from services.notify_subscriptions import (
    Contact,
    Subscribed,
    WatchRequest,
    follow_case,
    parse_contact,
    unsubscribe,
    watch_area,
)

__all__ = ["build_notify_router"]


def _no_control_characters(value: object) -> object:
    """NUL and other control characters are refused (the message never repeats the value)."""
    texts = value if isinstance(value, list) else [value]
    for text in texts:
        if isinstance(text, str) and any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text):
            raise ValueError("contains a control character (such as NUL)")
    return value


class _Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    _plain = field_validator("*", mode="after")(_no_control_characters)

    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=20)
    wechat_openid: str | None = Field(None, max_length=64)
    client_id: str | None = Field(None, max_length=64)


class FollowBody(_Contact):
    """The body of a follow."""

    token: str = Field(max_length=128)


class WatchBody(_Contact):
    """The body of a watch."""

    community: str | None = Field(None, max_length=12)
    lon: float | None = None
    lat: float | None = None
    radius_m: float | None = None
    kinds: list[Annotated[str, Field(max_length=32)]] = Field(default_factory=list, max_length=50)


class UnsubscribeBody(BaseModel):
    """The body of an unsubscribe."""

    model_config = ConfigDict(extra="forbid")

    _plain = field_validator("*", mode="after")(_no_control_characters)

    token: str = Field(max_length=128)


def _answer(result: Subscribed) -> JSONResponse:
    body = {"created": result.created, "unsubscribe_token": result.unsubscribe_token}
    return JSONResponse(body, status_code=201 if result.created else 200)


def _limit(env: str, default: str, api_limits: RateLimits | None) -> str | None:
    if api_limits is not None and api_limits.per_address is None:
        return None
    raw = os.environ.get(env, default).strip()
    return None if raw.lower() in ("off", "none", "") else raw


def build_notify_router(
    engine: Engine | Callable[[], Engine], limits: RateLimits | None = None
) -> APIRouter:
    """The alert routes on ``engine`` (or a function returning it, called on first use).

    ``limits``: the API's own limits (their storage is used; off when theirs are off).
    """
    router = APIRouter(tags=["Residents' alerts"])
    storage = (limits or RateLimits.from_env()).storage
    per_address = Limiter(
        RateLimits(_limit("GRIDGOV_API_RATE_SUBSCRIBE", "30/hour;100/day", limits), None, storage)
    )
    per_contact = Limiter(
        RateLimits(_limit("GRIDGOV_API_RATE_CONTACT", "10/hour;30/day", limits), None, storage)
    )

    def count(request: Request, contact: Contact) -> None:
        per_address.address(request.client.host if request.client else None)
        who = f"{contact.channel}:{contact.address}".encode()
        per_contact.address("contact-" + hashlib.sha256(who).hexdigest()[:32])

    @functools.cache
    def current_engine() -> Engine:
        return engine if isinstance(engine, Engine) else engine()

    @router.post("/report/api/cases/{case_no}/follow", summary="Follow a case")
    def follow(
        case_no: Annotated[str, Path(max_length=40, pattern=r"^[A-Za-z0-9-]+$")],
        body: FollowBody,
        request: Request,
    ) -> JSONResponse:
        contact = parse_contact(
            email=body.email, phone=body.phone, wechat_openid=body.wechat_openid
        )
        count(request, contact)
        result = follow_case(
            current_engine(),
            case_no=case_no,
            token=body.token,
            contact=contact,
            client_id=body.client_id,
        )
        return _answer(result)

    @router.post("/report/api/watches", summary="Watch an area for kinds")
    def watch(body: WatchBody, request: Request) -> JSONResponse:
        contact = parse_contact(
            email=body.email, phone=body.phone, wechat_openid=body.wechat_openid
        )
        count(request, contact)
        wanted = WatchRequest(
            kinds=tuple(body.kinds),
            community=body.community,
            lon=body.lon,
            lat=body.lat,
            radius_m=body.radius_m,
            client_id=body.client_id,
        )
        return _answer(watch_area(current_engine(), request=wanted, contact=contact))

    @router.post("/report/api/unsubscribe", summary="End a follow or a watch")
    def stop(body: UnsubscribeBody) -> JSONResponse:
        return JSONResponse({"ended": unsubscribe(current_engine(), token=body.token)})

    return router
