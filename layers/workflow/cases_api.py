"""Reporting cases and reading them the Open311 way — the operations behind the API and CLI.

:func:`report_case` validates a report at the boundary (category, datum,
coordinates, description and media size), converts the coordinates to WGS 84,
computes the H3 cells and calls ``case_report()``, which places the case in
its street, community and grid and writes its first history row.

Open311 status (open/closed) comes from ``case_statuses.open311`` — the one
place internal statuses are mapped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import h3.api.basic_int as h3
import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis.assign import H3_RESOLUTIONS
from gis.datum import DatumError, parse_datum, to_wgs84
from layers.workflow.errors import (
    BadCoordinates,
    BadValue,
    CaseNotFound,
    DescriptionTooLong,
    MediaTooLarge,
    UnknownDatum,
)
from layers.workflow.transitions import refusals_as_errors

MAX_DESCRIPTION = 4_000
MAX_MEDIA_ITEMS = 5
MAX_MEDIA_URL = 1_000
SOURCES = ("patrol", "hotline", "app", "web", "sensor", "leader", "import")
MAX_PAGE_SIZE = 1_000


@dataclass(frozen=True)
class Report:
    """A case as reported, validated and in WGS 84."""

    service_code: str
    lon: float
    lat: float
    source: str
    description: str | None
    media: list[dict[str, str]]
    urgency: str


def validate_report(
    *,
    service_code: str,
    lon: Any,
    lat: Any,
    datum: str = "wgs84",
    source: str = "app",
    description: str | None = None,
    media_urls: list[str] | None = None,
    urgency: str = "normal",
) -> Report:
    """Check a report and convert its coordinates to WGS 84 (no database needed).

    Raises
    ------
    BadCoordinates, UnknownDatum, DescriptionTooLong, MediaTooLarge, BadValue
        With a message the reporter can act on.
    """
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError) as exc:
        raise BadCoordinates(f"long {lon!r} and lat {lat!r} must be numbers") from exc
    if not (math.isfinite(x) and math.isfinite(y)) or not (-180 <= x <= 180 and -90 <= y <= 90):
        raise BadCoordinates(f"long {x} must be within -180…180 and lat {y} within -90…90")
    try:
        kind = parse_datum(datum)
    except DatumError as exc:
        raise UnknownDatum(str(exc)) from exc
    wx, wy = to_wgs84(np.array([x]), np.array([y]), kind)
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise DescriptionTooLong(
            f"description has {len(description)} characters; at most {MAX_DESCRIPTION}"
        )
    urls = list(media_urls or [])
    if len(urls) > MAX_MEDIA_ITEMS:
        raise MediaTooLarge(f"{len(urls)} media items; at most {MAX_MEDIA_ITEMS}")
    for url in urls:
        if len(url) > MAX_MEDIA_URL or not url.startswith(("http://", "https://")):
            raise MediaTooLarge(
                f"media_url must be an http(s) URL of at most {MAX_MEDIA_URL} characters"
            )
    if source not in SOURCES:
        raise BadValue(f"source {source!r} is not one of {', '.join(SOURCES)}")
    if urgency not in ("normal", "urgent"):
        raise BadValue(f"urgency {urgency!r} is not normal or urgent")
    return Report(
        service_code,
        float(wx[0]),
        float(wy[0]),
        source,
        description,
        [{"type": "photo", "url": u} for u in urls],
        urgency,
    )


def report_case(  # noqa: PLR0913 (the fields of a new case, keyword-only)
    *,
    conn: Connection,
    report: Report,
    actor: str,
    role: str,
    at: datetime | None = None,
    reporter_name: str | None = None,
    reporter_phone: str | None = None,
    source_system: str = "gridgov",
    source_id: str | None = None,
    savepoint: bool = True,
) -> dict[str, Any]:
    """Create a case in status ``reported`` with its first history row.

    ``savepoint=False`` when a refusal ends the caller's transaction anyway (the API).

    Returns
    -------
    dict
        ``case_id``, ``case_no``, ``version``, ``community_id``, ``grid_id``.

    Raises
    ------
    UnknownCategory, OutsideServedArea, RoleForbidden
        Refused by the database; nothing written.
    """
    # one point: h3-py's integer API directly (gis.assign.h3_cells is the bulk path, the
    # same cells; its de-duplication costs more than it saves here)
    cells = [h3.latlng_to_cell(report.lat, report.lon, r) for r in H3_RESOLUTIONS]
    with refusals_as_errors(conn, savepoint=savepoint):
        row = (
            conn.execute(
                sa.text("""
            SELECT case_id, case_no, version, community_id, grid_id FROM case_report(
                :service_code, :lon, :lat, :source, :actor, :role, :description,
                CAST(:media AS jsonb), :urgency, coalesce(CAST(:at AS timestamptz), now()),
                CAST(:h3 AS bigint[]), :name, :phone, :channel, :system, :source_id)
        """),
                {
                    "service_code": report.service_code,
                    "lon": report.lon,
                    "lat": report.lat,
                    "source": report.source,
                    "actor": actor,
                    "role": role,
                    "description": report.description,
                    "media": json.dumps(report.media),
                    "urgency": report.urgency,
                    "at": at,
                    "h3": cells,
                    "name": reporter_name,
                    "phone": reporter_phone,
                    "channel": report.source,
                    "system": source_system,
                    "source_id": source_id,
                },
            )
            .mappings()
            .one()
        )
    return dict(row)


def services(*, conn: Connection) -> list[dict[str, Any]]:
    """Open311 services: the minor classes of the catalogue, grouped by major class."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text("""
        SELECT k.service_code, k.name_en AS service_name,
               k.name_zh || ' / ' || k.name_en AS description, true AS metadata,
               'realtime' AS type, k.kind || ',' || p.name_en AS keywords, p.name_en AS "group"
        FROM categories k JOIN categories p ON p.id = k.parent_id
        WHERE k.level = 2 ORDER BY k.service_code
    """)
        ).mappings()
    ]


def service_definition(*, conn: Connection, service_code: str) -> dict[str, Any] | None:
    """Open311 service definition (attributes) of one service, or None if unknown."""
    row = conn.execute(
        sa.text(
            "SELECT kind, urgent_time_limit FROM categories WHERE service_code = :c AND level = 2"
        ),
        {"c": service_code},
    ).first()
    if row is None:
        return None
    attributes = [
        {
            "variable": True,
            "code": "urgency",
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": "normal unless it endangers people or traffic",
            "order": 1,
            "description": "How urgent is it?",
            "values": [{"key": "normal", "name": "Normal"}, {"key": "urgent", "name": "Urgent"}],
        },
        {
            "variable": True,
            "code": "datum",
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": "the datum of lat/long: wgs84 (default), gcj02 or bd09",
            "order": 2,
            "description": "Coordinate datum",
            "values": [{"key": k, "name": k.upper()} for k in ("wgs84", "gcj02", "bd09")],
        },
    ]
    return {"service_code": service_code, "attributes": attributes}


# The public face of a case (anyone may read the API): no rejected reports (refused
# and merged: spam, abuse, twins); a hotline report is a resident speaking to the city,
# not publishing — no description and the point rounded to 3 decimals (~100 m, often
# the caller's home); other points to 5 decimals (~1 m).
_REQUEST_SELECT = """
    SELECT c.id AS service_request_id, s.open311 AS status, s.name_en AS status_notes,
           k.name_en AS service_name, k.service_code,
           CASE WHEN c.source = 'hotline' THEN NULL ELSE c.description END
               AS description,
           d.name_en AS agency_responsible, c.reported_at AS requested_datetime,
           coalesce((SELECT max(e.at) FROM case_events e WHERE e.case_id = c.id), c.reported_at)
               AS updated_datetime,
           c.deadline_at AS expected_datetime, c.case_no AS address_id,
           round(ST_Y(c.geom)::numeric, CASE WHEN c.source = 'hotline' THEN 3 ELSE 5 END)::float8
               AS lat,
           round(ST_X(c.geom)::numeric, CASE WHEN c.source = 'hotline' THEN 3 ELSE 5 END)::float8
               AS long,
           c.media->0->>'url' AS media_url
    FROM cases c
    JOIN case_statuses s ON s.code = c.status
    JOIN categories k ON k.id = c.category_id
    LEFT JOIN departments d ON d.id = c.department_id
"""
_PUBLIC = "c.status <> 'rejected'"


def get_request(*, conn: Connection, case_id: int) -> dict[str, Any]:
    """One case as an Open311 service request.

    Raises
    ------
    CaseNotFound
        No such case.
    """
    row = (
        conn.execute(sa.text(_REQUEST_SELECT + f" WHERE c.id = :id AND {_PUBLIC}"), {"id": case_id})
        .mappings()
        .first()
    )
    if row is None:
        raise CaseNotFound(f"service request {case_id} does not exist")
    return dict(row)


def search_requests(  # noqa: PLR0913 (the Open311 search parameters, keyword-only)
    *,
    conn: Connection,
    ids: list[int] | None = None,
    service_codes: list[str] | None = None,
    status: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    page: int = 1,
    page_size: int = 50,
) -> list[dict[str, Any]]:
    """Cases as Open311 service requests, newest first, filtered and paged.

    Parameters
    ----------
    status
        ``open`` or ``closed`` (Open311 statuses, via ``case_statuses.open311``).
    bbox
        (min_long, min_lat, max_long, max_lat) in WGS 84.
    page, page_size
        1-based page of at most ``page_size`` (≤ 1,000) requests.
    """
    if status not in (None, "open", "closed"):
        raise BadValue(f"status {status!r} is not open or closed")
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise BadValue(f"page must be ≥ 1 and page_size within 1…{MAX_PAGE_SIZE}")
    where = [_PUBLIC]
    params: dict[str, Any] = {"limit": page_size, "offset": (page - 1) * page_size}
    if ids:
        where.append("c.id = ANY(CAST(:ids AS bigint[]))")
        params["ids"] = list(ids)
    if service_codes:
        where.append("k.service_code = ANY(CAST(:codes AS text[]))")
        params["codes"] = list(service_codes)
    if status:
        where.append("s.open311 = :status")
        params["status"] = status
    if start:
        where.append("c.reported_at >= :start")
        params["start"] = start
    if end:
        where.append("c.reported_at <= :end")
        params["end"] = end
    if bbox:
        x0, y0, x1, y1 = bbox
        if not all(math.isfinite(v) for v in bbox) or x0 > x1 or y0 > y1:
            raise BadCoordinates("bbox must be min_long,min_lat,max_long,max_lat with min ≤ max")
        where.append("c.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)")
        params |= {"x0": x0, "y0": y0, "x1": x1, "y1": y1}
    sql = (
        _REQUEST_SELECT
        + " WHERE "
        + " AND ".join(where)
        + " ORDER BY c.reported_at DESC, c.id DESC LIMIT :limit OFFSET :offset"
    )
    return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


def count_reported(*, conn: Connection, source_system: str) -> int:
    """Cases created through one source system (e.g. ``open311``), for load checks."""
    return int(
        conn.execute(
            sa.text("SELECT count(*) FROM cases WHERE source_system = :s"), {"s": source_system}
        ).scalar_one()
    )
