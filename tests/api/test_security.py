"""Issue 13 on the API: NUL bytes, control characters in XML, rate limits per key and
per address (429 + Retry-After), bounded paging, Idempotency-Key, revoked keys,
keys in URLs, security headers, no CDN docs, and what anonymous readers see."""

from __future__ import annotations

import logging
from xml.etree import ElementTree as ET

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from api import create_app
from api.guard import _redact_keys, install_guard
from api.limits import Limiter, RateLimits
from layers.workflow.access import create_api_key, revoke_api_key
from layers.workflow.transitions import transition
from tests.api.server import serving
from tests.workflow.factories import INSIDE_WEST, T0, make_case

BASE = "/open311/v2"
PHONE = "13987654321"
UNLIMITED = RateLimits(per_address=None, per_key=None)


def _form(key, code, **fields):
    return {"api_key": key, "lat": INSIDE_WEST[1], "long": INSIDE_WEST[0], "service_code": code}


@pytest.fixture(scope="module")
def code(client):
    return client.get(f"{BASE}/services.json").json()[0]["service_code"]


@pytest.fixture
def served(api_engine):
    """Serve an app of the test's own limits: ``with served(limits) as client``."""
    from contextlib import contextmanager

    @contextmanager
    def run(limits: RateLimits = UNLIMITED, docs: bool | None = None):
        with (
            serving(create_app(api_engine, limits=limits, docs=docs)) as url,
            httpx.Client(base_url=url, timeout=30) as c,
        ):
            yield c

    return run


def _count(api_engine, client_name: str) -> int:
    with api_engine.connect() as conn:
        return conn.execute(
            sa.text("""SELECT count(*) FROM case_events e WHERE e.action = 'report'
                       AND e.actor = :c"""),
            {"c": client_name},
        ).scalar_one()


def test_a_nul_byte_is_a_400_naming_the_field_and_nothing_personal_is_logged(
    client, api_key, code, caplog
):
    caplog.set_level(logging.DEBUG)
    for field in ("description", "first_name", "address_string", "phone"):
        data = _form(api_key, code) | {"first_name": "张", "phone": PHONE, field: "x\x00y"}
        r = client.post(f"{BASE}/requests.json", data=data)
        assert r.status_code == 400, (field, r.text)
        assert r.json()[0]["description"].startswith(f"{field}:")
        assert PHONE not in r.text
    r = client.post(f"{BASE}/requests.xml", data=_form(api_key, code) | {"description": "\x01"})
    assert r.status_code == 400 and ET.fromstring(r.content).tag == "errors"
    assert PHONE not in caplog.text and "Traceback" not in caplog.text
    for query in ({"service_code": "a\x00b"}, {"service_request_id": "1\x00"}):
        r = client.get(f"{BASE}/requests.json", params=query)
        assert r.status_code == 400 and "NUL" in r.json()[0]["description"]


def test_a_stored_control_character_keeps_requests_xml_valid(client, api_engine):
    with api_engine.begin() as conn:
        case = make_case(conn)
        conn.execute(
            sa.text("UPDATE cases SET description = :d WHERE id = :i"),
            {"d": "bell\x01 and \x0b tab", "i": case["case_id"]},
        )
    r = client.get(f"{BASE}/requests.xml", params={"service_request_id": case["case_id"]})
    assert r.status_code == 200
    (request,) = ET.fromstring(r.content)  # parses: the document is valid XML
    assert request.findtext("description") == "bell\ufffd and \ufffd tab"


def test_reports_are_limited_per_api_key_with_retry_after(served, api_engine, code):
    with api_engine.begin() as conn:
        noisy = create_api_key(conn=conn, client="noisy-app")
        other = create_api_key(conn=conn, client="other-app")
    limits = RateLimits(per_address=None, per_key="3/minute;5/day")
    with served(limits) as c:
        answers = [c.post(f"{BASE}/requests.json", data=_form(noisy, code)) for _ in range(5)]
        assert [a.status_code for a in answers] == [201, 201, 201, 429, 429]
        assert 1 <= int(answers[3].headers["Retry-After"]) <= 60
        assert answers[3].json()[0]["error_code"] == "rate_limited"
        # another client's key is not held back by the noisy one
        assert c.post(f"{BASE}/requests.json", data=_form(other, code)).status_code == 201
    assert _count(api_engine, "noisy-app") == 3


def test_every_request_is_limited_per_address(served):
    with served(RateLimits(per_address="5/minute", per_key=None)) as c:
        codes = [c.get(f"{BASE}/services.json").status_code for _ in range(7)]
        assert codes == [200] * 5 + [429] * 2
        r = c.get(f"{BASE}/requests.xml")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert ET.fromstring(r.content).find("error/error_code").text == "rate_limited"


def test_deep_paging_is_refused_with_advice(client):
    r = client.get(f"{BASE}/requests.json", params={"page": 100_000, "page_size": 1000})
    assert r.status_code == 400 and "start_date" in r.json()[0]["description"]
    assert client.get(f"{BASE}/requests.json", params={"page": 10, "page_size": 1000}).is_success


def test_a_retried_post_with_an_idempotency_key_creates_one_case(client, api_engine, code):
    with api_engine.begin() as conn:
        key = create_api_key(conn=conn, client="retrying-app")
    data = _form(key, code) | {"description": "路灯不亮", "phone": PHONE}
    headers = {"Idempotency-Key": "7f1c2e9a-report-1"}
    first = client.post(f"{BASE}/requests.json", data=data, headers=headers)
    again = client.post(f"{BASE}/requests.xml", data=data, headers=headers)
    assert first.status_code == again.status_code == 201
    rid = first.json()[0]["service_request_id"]
    assert ET.fromstring(again.content).findtext("request/service_request_id") == rid
    assert _count(api_engine, "retrying-app") == 1
    other = client.post(
        f"{BASE}/requests.json", data=data | {"description": "另一件事"}, headers=headers
    )
    assert other.status_code == 422 and other.json()[0]["error_code"] == "idempotency_key_reused"
    assert _count(api_engine, "retrying-app") == 1
    # keys are per client: another client may use the same string
    with api_engine.begin() as conn:
        key2 = create_api_key(conn=conn, client="retrying-app-2")
    r = client.post(f"{BASE}/requests.json", data=_form(key2, code), headers=headers)
    assert r.status_code == 201 and r.json()[0]["service_request_id"] != rid
    bad = client.post(f"{BASE}/requests.json", data=data, headers={"Idempotency-Key": "a b"})
    assert bad.status_code == 400


def test_a_revoked_key_stops_working_at_once(client, api_engine, code):
    with api_engine.begin() as conn:
        key = create_api_key(conn=conn, client="revoked-app")
    assert client.post(f"{BASE}/requests.json", data=_form(key, code)).status_code == 201
    with api_engine.begin() as conn:
        assert revoke_api_key(conn=conn, client="revoked-app")
    r = client.post(f"{BASE}/requests.json", data=_form(key, code))
    assert r.status_code == 401 and r.json()[0]["error_code"] == "bad_api_key"


def test_an_api_key_in_the_url_is_refused_and_never_logged(client, api_key, code):
    r = client.post(f"{BASE}/requests.json?api_key={api_key}", data=_form(None, code))
    assert r.status_code == 400 and r.json()[0]["error_code"] == "api_key_in_url"
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', None, None
    )
    record.args = ("127.0.0.1:5", "POST", f"{BASE}/requests.json?api_key={api_key}&x=1", "1.1", 400)
    _redact_keys(record)
    assert api_key not in record.getMessage() and "api_key=[redacted]&x=1" in record.getMessage()


def test_security_headers_and_no_cdn_docs(client):
    r = client.get(f"{BASE}/services.json")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert client.get("/docs").status_code == 404  # off unless GRIDGOV_API_DOCS=1
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/nowhere").headers["X-Content-Type-Options"] == "nosniff"


def test_anonymous_reads_hide_rejected_and_phone_reports_details(client, api_engine):
    with api_engine.begin() as conn:
        made = make_case(conn)
        rejected = made["case_id"]
        transition(
            conn=conn,
            case_id=rejected,
            action="reject",
            actor="tester",
            role="operator",
            expected_version=made["version"],
            reason="spam",
            at=T0,
        )
        hotline = make_case(conn, where=(INSIDE_WEST[0] + 0.000123, INSIDE_WEST[1]))["case_id"]
        conn.execute(
            sa.text("UPDATE cases SET source = 'hotline', description = :d WHERE id = :i"),
            {"d": f"张三 {PHONE} 住 3 号楼 502", "i": hotline},
        )
    ids = f"{rejected},{hotline}"
    rows = client.get(f"{BASE}/requests.json", params={"service_request_id": ids}).json()
    assert [r["service_request_id"] for r in rows] == [hotline]
    (row,) = rows
    assert row["description"] is None and PHONE not in str(rows)
    assert row["long"] == round(row["long"], 3) and row["lat"] == round(row["lat"], 3)
    assert client.get(f"{BASE}/requests/{rejected}.json").status_code == 404


def test_an_unexpected_error_logs_no_sql_or_personal_data(caplog):
    from sqlalchemy.exc import DataError

    app = FastAPI()
    install_guard(app, Limiter(UNLIMITED))

    @app.get("/boom")
    def boom():  # type: ignore[no-untyped-def]
        raise DataError("INSERT INTO reporters VALUES (%(phone)s)", {"phone": PHONE}, ValueError())

    caplog.set_level(logging.DEBUG)
    with serving(app) as url:
        r = httpx.get(f"{url}/boom", timeout=30)
    assert r.status_code == 500 and r.json()[0]["error_code"] == "internal"
    assert PHONE not in caplog.text and "INSERT" not in caplog.text
    assert "DataError" in caplog.text


def test_docs_when_turned_on_load_swagger_from_this_server(served):
    with served(docs=True) as c:
        page = c.get("/docs")
        assert page.status_code == 200
        assert "cdn" not in page.text.lower() and "/docs-assets/swagger-ui-bundle.js" in page.text
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        bundle = c.get("/docs-assets/swagger-ui-bundle.js")
        assert bundle.status_code == 200 and bundle.headers["X-Content-Type-Options"] == "nosniff"
