"""The residents' app: report, follow instead, see the timeline, rate or say "not fixed".

Every call is one :func:`services.uow.unit_of_work` as the ``resident`` scope (no account:
the database's public entry for the resident role, row-level security as the API
client). A report and a follow are stored once by the client id the phone made (an
offline outbox may send them many times); the private link's secret token is made on the
phone too, so a re-send needs no answer to be kept, and only its SHA-256 is stored.
Ratings and "not fixed" move the case through ``case_transition`` (``rate``, ``reopen``):
the measures (satisfaction, false closure) read them from the case as before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from gis.errors import GridGovError
from layers import media, place_search, residents
from layers.workflow import duplicates
from layers.workflow.cases_api import report_case, validate_report
from layers.workflow.errors import BadValue, CaseNotFound
from services.resident_kinds import kind, kind_for_service
from services.uow import Scope, unit_of_work

ACTOR = "resident-app"
"""Who acts in the history for a resident (never a name: residents have no account): the
API client migration 0080 made for the app; revoking its key stops the app."""
RESIDENT = Scope("resident", username=ACTOR)
_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 2_000_000
"""A resident's photo after compression on the phone (the app sends ≤ 1 MB)."""
MAX_DESCRIPTION = 1_000
NEARBY_RADIUS_M = 100.0
NEARBY_WINDOW = timedelta(days=30)
VERDICTS = {"satisfied": 5, "basically_satisfied": 4, "dissatisfied": 1, "not_fixed": None}
"""满意 / 基本满意 / 不满意 → the case's satisfaction (4 and 5 count as satisfied);
``not_fixed`` reopens the case for rework."""


class ClientIdTaken(GridGovError):
    """A client id already stored something else (another token or another case)."""

    code = "client_id_taken"
    kind = "conflict"


class NotYours(GridGovError):
    """The token is not the private link of this case."""

    code = "not_your_case"
    kind = "forbidden"


@dataclass(frozen=True)
class Photo:
    """A photo as the phone sent it: its file name and bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class NewReport:
    """A report from the app, as the outbox sends it."""

    client_id: str
    token: str
    kind: str
    lon: float
    lat: float
    description: str | None = None
    photos: list[Photo] = field(default_factory=list)
    name: str | None = None
    phone: str | None = None
    anonymous: bool = True


def decode_photo(name: str, data_b64: str) -> Photo:
    """A photo from its base64 text, checked for size and type (JPEG, PNG or WebP).

    Raises
    ------
    media.PhotoError
        Not base64, empty, larger than :data:`MAX_PHOTO_BYTES`, or not an image.
    """
    try:
        data = base64.b64decode(data_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise media.PhotoError(f"photos: {name[:60]!r} is not base64 data") from exc
    if not data:
        raise media.PhotoError(f"photos: {name[:60]!r} is empty")
    if len(data) > MAX_PHOTO_BYTES:
        raise media.PhotoError(
            f"photos: {len(data) / 1e6:.1f} MB is more than the {MAX_PHOTO_BYTES / 1e6:.0f} MB "
            "a photo may have"
        )
    try:
        media.photo_kind(data)
    except media.PhotoError as exc:
        raise media.PhotoError(f"photos: {name[:60]!r}: {exc}") from None
    return Photo(name=name[:200] or "photo", data=data)


def check_ids(client_id: str, token: str | None = None) -> None:
    """Raise :class:`BadValue` naming the field when a client id or token is malformed."""
    if not _ID.match(client_id or ""):
        raise BadValue("client_id: 8 to 64 letters, digits, '-' or '_'")
    if token is not None and not _TOKEN.match(token or ""):
        raise BadValue("token: 32 to 128 letters, digits, '-' or '_' (made on the phone)")


def _hash(value: str | None) -> str | None:
    return hashlib.sha256(value.encode()).hexdigest()[:32] if value else None


def nearby(engine: Engine, *, kind_code: str, lon: float, lat: float, now: datetime) -> list[dict]:
    """Open cases of the same kind near a point, nearest first ("already reported — follow
    it instead"); none for a sensitive kind (never shown to the public by place)."""
    k = kind(kind_code)
    report = validate_report(service_code=k.service_code, lon=lon, lat=lat)
    if k.sensitive:
        return []
    with unit_of_work(engine, RESIDENT) as conn:
        rows = duplicates.open_cases_near(
            conn=conn,
            lon=report.lon,
            lat=report.lat,
            service_code=k.service_code,
            at=now,
            radius_m=NEARBY_RADIUS_M,
            window=NEARBY_WINDOW,
        )
        names = {r["case_no"]: residents.case_by_no(conn=conn, case_no=r["case_no"]) for r in rows}
    return [
        {
            "case_no": r["case_no"],
            "kind": k.code,
            "icon": k.icon,
            "name_zh": k.name_zh,
            "name_en": k.name_en,
            "status_zh": (names[r["case_no"]] or {}).get("status_zh"),
            "status_en": (names[r["case_no"]] or {}).get("status_en"),
            "distance_m": float(r["distance_m"]),
            "reported_at": r["reported_at"].isoformat(),
        }
        for r in rows
    ]


def submit_report(
    engine: Engine, report: NewReport, *, device: str | None, address: str | None
) -> dict[str, Any]:
    """Store a report once per client id; return its case number (and whether it is new).

    Raises
    ------
    BadValue, BadCoordinates, OutsideServedArea, PhotoError
        With the field and why; nothing stored.
    ClientIdTaken
        The client id stored a report with another token.
    """
    check_ids(report.client_id, report.token)
    k = kind(report.kind)
    if report.description and len(report.description) > MAX_DESCRIPTION:
        raise BadValue(f"description: at most {MAX_DESCRIPTION} characters")
    if len(report.photos) > MAX_PHOTOS:
        raise BadValue(f"photos: at most {MAX_PHOTOS}")
    checked = validate_report(
        service_code=k.service_code,
        lon=report.lon,
        lat=report.lat,
        source="app",
        description=(report.description or "").strip() or None,
    )
    with unit_of_work(engine, RESIDENT, write=True) as conn:
        earlier = residents.link_by_client_id(conn=conn, client_id=report.client_id)
        if earlier is not None:
            return _again(earlier, report.token, "report")
        case = report_case(
            conn=conn,
            report=checked,
            actor=ACTOR,
            role="resident",
            reporter_name=None if report.anonymous else (report.name or None),
            reporter_phone=None if report.anonymous else (report.phone or None),
            savepoint=False,
        )
        residents.add_link(
            conn=conn,
            case_id=int(case["case_id"]),
            token=report.token,
            client_id=report.client_id,
            relation="report",
            kind=k.code,
            device_hash=_hash(device),
            address_key=_hash(address),
        )
        if report.photos:
            with ExitStack() as kept:
                records = [
                    kept.enter_context(
                        media.photo_kept_if_accepted(
                            p.data, case_id=int(case["case_id"]), name=p.name
                        )
                    )
                    for p in report.photos
                ]
                residents.attach_photos(
                    conn=conn,
                    case_id=int(case["case_id"]),
                    client_id=report.client_id,
                    media=records,
                )
    return {"case_no": case["case_no"], "new": True, "relation": "report"}


def _again(earlier: dict[str, Any], token: str, relation: str) -> dict[str, Any]:
    if not hmac.compare_digest(bytes(earlier["token_hash"]), residents.token_hash(token)):
        raise ClientIdTaken("client_id: already used for another report; make a new one")
    return {"case_no": earlier["case_no"], "new": False, "relation": earlier["relation"]}


def follow_instead(
    engine: Engine,
    *,
    case_no: str,
    client_id: str,
    token: str,
    name: str | None,
    phone: str | None,
    device: str | None,
    address: str | None,
) -> dict[str, Any]:
    """Follow an open case instead of reporting it again: the resident becomes one of its
    reporters and gets a private link of its own. Stored once per client id.

    Raises
    ------
    CaseNotFound
        No open case with that number that the public may follow (sensitive kinds are not).
    """
    check_ids(client_id, token)
    with unit_of_work(engine, RESIDENT, write=True) as conn:
        earlier = residents.link_by_client_id(conn=conn, client_id=client_id)
        if earlier is not None:
            return _again(earlier, token, "follow")
        case = residents.case_by_no(conn=conn, case_no=case_no)
        k = kind_for_service(case["service_code"]) if case else None
        if case is None or case["open311"] != "open" or k is None or k.sensitive:
            raise CaseNotFound(f"case_no: no open case {case_no!r} to follow")
        reporter = residents.add_reporter(
            conn=conn, case_id=int(case["id"]), name=name or None, phone=phone or None
        )
        residents.add_link(
            conn=conn,
            case_id=int(case["id"]),
            token=token,
            client_id=client_id,
            relation="follow",
            kind=k.code,
            device_hash=_hash(device),
            address_key=_hash(address),
            reporter_id=reporter,
        )
    return {"case_no": case_no, "new": True, "relation": "follow"}


def find_places(engine: Engine, *, query: str) -> list[dict[str, Any]]:
    """Addresses, roads and communities of GridGov's own layers matching ``query`` (no map
    needed; the same search as the hotline's, :mod:`layers.place_search`, without grid and
    part codes, which residents do not know)."""
    text = (query or "").strip()
    if not text:
        raise BadValue("q: type part of an address")
    with unit_of_work(engine, RESIDENT) as conn:
        rows = place_search.find_places(
            conn=conn, text=text[:60], limit=8, kinds=("building", "road", "community")
        )
    return [
        {
            "address": r["name_zh"],
            # a community's own name is not repeated as the community it lies in
            "community_zh": None if r["kind"] == "community" else r["community_zh"],
            "community_en": None if r["kind"] == "community" else r["community_en"],
            "lon": round(float(r["lon"]), 6),
            "lat": round(float(r["lat"]), 6),
        }
        for r in rows
    ]
