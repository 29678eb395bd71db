"""Residents' alerts: follow a case by its private link, watch an area for kinds.

Each request is checked here (the field and why in every refusal), stored once per
client id (an offline phone may send twice), and answered with an unsubscribe token
that only the resident holds (the database keeps its SHA-256).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from city.errors import GridGovError
from layers import notify_subscriptions
from layers.notify_subscriptions import NewWatch
from layers.workflow.access import Scope
from services.resident_kinds import kind_for_service, kinds
from services.uow import unit_of_work

__all__ = [
    "BadContact",
    "Contact",
    "Subscribed",
    "WatchRequest",
    "follow_case",
    "parse_contact",
    "sensitive_service_codes",
    "unsubscribe",
    "watch_area",
]

PUBLIC = Scope("api_client")
_EMAIL = re.compile(r"^[^@\s<>\"'\x00-\x1f\x7f]{1,64}@[A-Za-z0-9.-]{1,189}\.[A-Za-z]{2,24}$")
_PHONE = re.compile(r"^(\+?86)?1[3-9][0-9]{9}$|^\+[1-9][0-9]{6,14}$")
_OPENID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


class BadContact(GridGovError):
    """An e-mail address, phone number or WeChat id that cannot be used (which and why)."""

    code = "bad_contact"
    kind = "bad_input"


@dataclass(frozen=True)
class Contact:
    """Where a resident's alerts go."""

    channel: str
    address: str


@dataclass(frozen=True)
class Subscribed:
    """The answer to a follow or a watch."""

    created: bool
    """False: the same request (client id, or the same follow) was stored before."""
    unsubscribe_token: str | None
    """The secret that ends this subscription (None when it was stored before)."""


def parse_contact(
    *, email: str | None = None, phone: str | None = None, wechat_openid: str | None = None
) -> Contact:
    """Exactly one of e-mail, phone or WeChat openid, checked.

    Raises
    ------
    BadContact
        None or several given, or one that is malformed (the field named).
    """
    given = {
        k: v.strip()
        for k, v in (("email", email), ("phone", phone), ("wechat_openid", wechat_openid))
        if v is not None and v.strip()
    }
    if len(given) != 1:
        raise BadContact("email|phone: give exactly one of email, phone or wechat_openid")
    field, value = next(iter(given.items()))
    if field == "email" and not _EMAIL.fullmatch(value):
        raise BadContact("email: not an e-mail address like name@example.org")
    if field == "phone":
        value = re.sub(r"[\s-]", "", value)
        if not _PHONE.fullmatch(value):
            raise BadContact("phone: not a mobile number (11 digits from 13…19, or +country…)")
        if not value.startswith("+") or value.startswith("+86"):
            value = "+86" + value[-11:]  # one spelling per mainland number
    if field == "wechat_openid" and not _OPENID.fullmatch(value):
        raise BadContact("wechat_openid: 16–64 letters, digits, _ or -")
    channel = {"email": "email", "phone": "sms", "wechat_openid": "wechat"}[field]
    return Contact(channel, value.lower() if field == "email" else value)


def _client_id(client_id: str | None, *parts: object) -> str:
    if client_id is None:
        return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:40]
    if not _CLIENT_ID.fullmatch(client_id):
        raise BadContact("client_id: 8–64 letters, digits, _ or -")
    return client_id


def _new_token() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(24)
    return token, hashlib.sha256(token.encode()).digest()


def follow_case(
    engine: Engine,
    *,
    case_no: str,
    token: str,
    contact: Contact,
    client_id: str | None = None,
) -> Subscribed:
    """Alert ``contact`` on every change of case ``case_no`` (opened with its private link).

    Raises
    ------
    BadContact
        A malformed token or client id.
    layers.notify_subscriptions.CaseLinkNotFound
        The case number and the link do not belong together.
    """
    if not _TOKEN.fullmatch(token or ""):
        raise BadContact("token: the private link's token is 16–128 letters, digits, _ or -")
    cid = _client_id(client_id, "follow", case_no, contact.channel, contact.address)
    unsubscribe_token, unsubscribe_hash = _new_token()
    with unit_of_work(engine, PUBLIC, write=True) as conn:
        created = notify_subscriptions.add_follow(
            conn=conn,
            case_no=case_no,
            token_hash=hashlib.sha256(token.encode()).digest(),
            channel=contact.channel,
            address=contact.address,
            client_id=cid,
            unsubscribe_hash=unsubscribe_hash,
        )
    return Subscribed(created, unsubscribe_token if created else None)


@dataclass(frozen=True)
class WatchRequest:
    """An area and kinds to watch: a community code, or lon/lat (WGS 84) and a radius."""

    kinds: tuple[str, ...] = ()
    community: str | None = None
    lon: float | None = None
    lat: float | None = None
    radius_m: float | None = None
    client_id: str | None = None


def watch_area(engine: Engine, *, request: WatchRequest, contact: Contact) -> Subscribed:
    """Alert ``contact`` when a case of ``request.kinds`` is reported or closed in the area.

    Raises
    ------
    BadContact, layers.notify_subscriptions.SubscriptionRefused
        No area or two, a point outside −180…180 / −90…90, a radius outside 1…5000 m,
        an unknown community or kind.
    """
    r = request
    point = r.lon is not None or r.lat is not None or r.radius_m is not None
    if (r.community is None) == (not point):
        raise BadContact("community|lon/lat/radius_m: give a community or a point and a radius")
    if point:
        if r.lon is None or r.lat is None or r.radius_m is None:
            raise BadContact("lon/lat/radius_m: all three are needed for a circle")
        if not (-180 <= r.lon <= 180 and -90 <= r.lat <= 90):
            raise BadContact("lon/lat: outside −180…180 / −90…90 (WGS 84 degrees)")
        if not 1 <= r.radius_m <= 5000:
            raise BadContact("radius_m: between 1 and 5000 metres")
    if len(r.kinds) > 50:
        raise BadContact("kinds: at most 50")
    service_codes = _watchable(r.kinds)
    cid = _client_id(r.client_id, "watch", r, contact.channel, contact.address)
    unsubscribe_token, unsubscribe_hash = _new_token()
    watch = NewWatch(
        channel=contact.channel,
        address=contact.address,
        client_id=cid,
        unsubscribe_hash=unsubscribe_hash,
        service_codes=service_codes,
        community_code=r.community,
        lon=r.lon,
        lat=r.lat,
        radius_m=r.radius_m,
    )
    with unit_of_work(engine, PUBLIC, write=True) as conn:
        created = notify_subscriptions.add_watch(conn=conn, watch=watch)
    return Subscribed(created, unsubscribe_token if created else None)


def sensitive_service_codes() -> tuple[str, ...]:
    """Catalogue classes of the sensitive resident kinds (disputes, safety): never watched."""
    return tuple(sorted({k.service_code for k in kinds() if k.sensitive}))


def _watchable(requested: tuple[str, ...]) -> tuple[str, ...]:
    """Resident kind codes (``streetlight``) or catalogue codes (``P0208``) as catalogue codes.

    An empty list watches every kind that may be watched (sensitive kinds never are).
    """
    by_code = {k.code: k for k in kinds()}
    out: set[str] = set()
    for raw in requested:
        code = raw.strip()
        if not code:
            continue
        resident_kind = by_code.get(code) or kind_for_service(code)
        if resident_kind is not None and resident_kind.sensitive:
            raise BadContact(f"kinds: {code!r} is a sensitive kind and cannot be watched")
        out.add(by_code[code].service_code if code in by_code else code)
    return tuple(sorted(out))


def unsubscribe(engine: Engine, *, token: str) -> bool:
    """End the subscription of this unsubscribe token; False when none (or ended already)."""
    if not _TOKEN.fullmatch(token or ""):
        raise BadContact("token: 16–128 letters, digits, _ or -")
    with unit_of_work(engine, PUBLIC, write=True) as conn:
        return notify_subscriptions.end_subscription(
            conn=conn, unsubscribe_hash=hashlib.sha256(token.encode()).digest()
        )
