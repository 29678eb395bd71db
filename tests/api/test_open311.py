"""Open311 GeoReport v2: services, POST with an API key, searches, one request, errors."""

import numpy as np
import pytest
import sqlalchemy as sa

from gis.datum import wgs84_to_gcj02
from tests.workflow.factories import INSIDE_EAST, INSIDE_WEST, OUTSIDE, X0, X1, Y0, Y1

BASE = "/open311/v2"


def _post(client, key, **fields):
    data = {"api_key": key, "lat": INSIDE_WEST[1], "long": INSIDE_WEST[0]} | fields
    return client.post(f"{BASE}/requests.json", data=data)


def _code(client):
    return client.get(f"{BASE}/services.json").json()[0]["service_code"]


def test_services_come_from_the_catalogue(client):
    services = client.get(f"{BASE}/services.json").json()
    assert len(services) > 50 and {"service_code", "service_name", "group"} <= set(services[0])
    definition = client.get(f"{BASE}/services/{services[0]['service_code']}.json").json()
    assert {a["code"] for a in definition["attributes"]} == {"urgency", "datum"}
    xml = client.get(f"{BASE}/services.xml")
    assert xml.headers["content-type"].startswith("text/xml") and b"<services>" in xml.content


def test_post_then_get(client, api_key, api_engine):
    code = _code(client)
    r = _post(
        client,
        api_key,
        service_code=code,
        description="井盖缺失",
        first_name="三",
        last_name="张",
        phone="13812345678",
        **{"attribute[urgency]": "urgent"},
    )
    assert r.status_code == 201, r.text
    rid = r.json()[0]["service_request_id"]
    got = client.get(f"{BASE}/requests/{rid}.json").json()[0]
    assert got["status"] == "open" and got["service_code"] == code
    assert got["lat"] == pytest.approx(INSIDE_WEST[1]) and got["long"] == pytest.approx(
        INSIDE_WEST[0]
    )
    with api_engine.connect() as conn:
        row = conn.execute(
            sa.text("""
            SELECT c.urgency, c.source_system, e.action, e.role, r.name
            FROM cases c JOIN case_events e ON e.case_id = c.id
            JOIN reporters r ON r.case_id = c.id WHERE c.id = :id
        """),
            {"id": int(rid)},
        ).one()
    assert tuple(row) == ("urgent", "open311", "report", "api_client", "张 三")


def test_gcj02_coordinates_are_converted_on_entry(client, api_key):
    lon, lat = wgs84_to_gcj02(np.array([INSIDE_EAST[0]]), np.array([INSIDE_EAST[1]]))
    r = _post(
        client,
        api_key,
        service_code=_code(client),
        lat=float(lat[0]),
        long=float(lon[0]),
        **{"attribute[datum]": "gcj02"},
    )
    assert r.status_code == 201, r.text
    got = client.get(f"{BASE}/requests/{r.json()[0]['service_request_id']}.json").json()[0]
    assert got["long"] == pytest.approx(INSIDE_EAST[0], abs=1e-6)
    assert got["lat"] == pytest.approx(INSIDE_EAST[1], abs=1e-6)


def test_search_filters_bbox_and_paging(client, api_key):
    code = _code(client)
    for _ in range(3):
        assert _post(client, api_key, service_code=code).status_code == 201
    west_box = f"{X0},{Y0},{(X0 + X1) / 2 - 1e-6},{Y1}"
    rows = client.get(f"{BASE}/requests.json", params={"bbox": west_box, "page_size": 2}).json()
    assert len(rows) == 2 and all(r["long"] < (X0 + X1) / 2 for r in rows)
    page2 = client.get(
        f"{BASE}/requests.json", params={"bbox": west_box, "page_size": 2, "page": 2}
    ).json()
    assert {r["service_request_id"] for r in rows}.isdisjoint(
        {r["service_request_id"] for r in page2}
    )
    assert client.get(f"{BASE}/requests.json", params={"status": "closed"}).json() == []
    assert client.get(f"{BASE}/requests.json", params={"service_code": code}).json()
    assert client.get(f"{BASE}/requests.xml").content.startswith(b"<?xml")


@pytest.mark.parametrize(
    ("fields", "status", "error_code"),
    [
        ({"service_code": "NOPE"}, 400, "unknown_category"),
        ({"lat": OUTSIDE[1], "long": OUTSIDE[0]}, 400, "outside_served_area"),
        ({"lat": 95.0}, 400, "bad_coordinates"),
        ({"lat": "north"}, 400, "bad_request"),
        ({"description": "x" * 4001}, 400, "description_too_long"),
        ({"media_url": "ftp://example.org/" + "x" * 10}, 400, "media_too_large"),
        ({"datum": "mars2000"}, 400, "unknown_datum"),
        ({"api_key": "wrong"}, 401, "bad_api_key"),
    ],
)
def test_bad_input_is_refused_with_a_stable_code(
    client, api_key, api_engine, fields, status, error_code
):
    with api_engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM cases")).scalar()
    data = {"service_code": _code(client)} | fields
    r = _post(client, api_key, **data)
    assert r.status_code == status, r.text
    assert r.json()[0]["error_code"] == error_code
    with api_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM cases")).scalar() == before


def test_unknown_request_is_404(client):
    r = client.get(f"{BASE}/requests/999999999.json")
    assert r.status_code == 404 and r.json()[0]["error_code"] == "case_not_found"
