"""Fuzzing the field app's JSON endpoints (hypothesis): malformed bodies never answer 5xx.

Whole bodies of random JSON (and bytes that are no JSON) at ``POST /field/api/sync``,
``/field/api/fixes`` and ``/field/api/devices``; then a valid outbox action or fix with
one field replaced by a random value. Every malformed body gets a 4xx whose message
starts with the field it is about (``actions.0.client_id: …``, ``body: …``), and nothing
is written: no case, no action, no fix, no device. A malformed *payload* of a well-formed
action is a refusal of that action (200 with ``ok: false``, the reason naming
``payload.<field>``, kept so that a re-send gets the same answer) and makes no case.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import create_app
from api.limits import RateLimits
from tests.api.field_fixtures import jpeg, sign_in
from tests.api.server import serving

SPOT = (120.614, 31.308)
"""Where the fuzzed reports are (west community, away from the other tests' cases)."""
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
FIELDS = {
    "/field/api/sync": ("actions", "body"),
    "/field/api/fixes": ("fixes", "body"),
    "/field/api/devices": ("username", "password", "device_label", "body"),
}
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)


def _counts(engine) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                sa.text(
                    "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM field_actions), "
                    "(SELECT count(*) FROM patrol_points), (SELECT count(*) FROM field_devices)"
                )
            ).one()
        )


def _refused_naming_a_field(r: httpx.Response, fields: tuple[str, ...]) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"code", "message"}, body
    where = body["message"].split(":", 1)[0]
    assert where.split(".")[0] in fields, body["message"]


@pytest.mark.parametrize("path", list(FIELDS))
def test_random_json_bodies_are_refused_naming_the_field(path, fuzz_url, field_db, gw_token):
    headers = {"Authorization": f"Bearer {gw_token}"}

    @given(body=JSON_VALUES)
    @SETTINGS
    def check(body):  # type: ignore[no-untyped-def]
        if path == "/field/api/sync" and isinstance(body, dict) and body.get("actions") == []:
            body["actions"] = [None]  # an empty outbox is valid: keep the body malformed
        before = _counts(field_db)
        r = httpx.post(fuzz_url + path, json=body, headers=headers, timeout=30)
        _refused_naming_a_field(r, FIELDS[path])
        assert _counts(field_db) == before

    check()


@pytest.mark.parametrize("path", list(FIELDS))
def test_bytes_that_are_no_json_are_refused(path, fuzz_url, field_db, gw_token):
    headers = {"Authorization": f"Bearer {gw_token}", "Content-Type": "application/json"}

    @given(raw=st.binary(min_size=1, max_size=200))
    @SETTINGS
    def check(raw):  # type: ignore[no-untyped-def]
        try:
            json.loads(raw)
            return  # valid JSON: the other test's business
        except ValueError:
            pass
        before = _counts(field_db)
        r = httpx.post(fuzz_url + path, content=raw, headers=headers, timeout=30)
        _refused_naming_a_field(r, FIELDS[path])
        assert _counts(field_db) == before

    check()


ACTION_FIELDS = ("client_id", "kind", "at", "case_id", "expected_version", "payload")
PAYLOAD_FIELDS = ("service_code", "lon", "lat", "accuracy_m", "location_source", "part_id")
PAYLOAD_FIELDS += ("description", "photo_ids")


def _wrong_for(field: str) -> st.SearchStrategy:
    """Values that a field cannot take (numbers where text goes, out of range, …)."""
    numbers = ("lon", "lat", "accuracy_m", "part_id", "case_id", "expected_version")
    if field in numbers:
        return st.sampled_from([-1e9, 1e12, "north", [], {}, True]) | st.text(max_size=5)
    if field in ("photo_ids",):
        return st.sampled_from([["x"], "x", [1], {}, [str(uuid.uuid4())] * 9])
    if field == "client_id":
        return st.sampled_from(["", "x", 5, None, [], "00000000-0000-0000-0000"])
    if field == "kind":
        return st.sampled_from(["", "DROP TABLE", "x" * 41, 7, None, "report\x00"])
    if field == "location_source":
        return st.sampled_from(["satellite", 1, None, ""])
    return st.sampled_from([7, None, [], {"a": 1}, "x" * 5_000, "a\x00b"])


@given(data=st.data())
@SETTINGS
def test_one_wrong_field_of_an_action_is_refused_naming_it(
    data, fuzz_url, field_db, gw_token, uploaded_photo, service_code
):
    headers = {"Authorization": f"Bearer {gw_token}"}
    action: dict = {
        "client_id": str(uuid.uuid4()),
        "kind": "report",
        "at": datetime.now(UTC).isoformat(),
        "payload": {
            "service_code": service_code,
            "lon": SPOT[0],
            "lat": SPOT[1],
            "accuracy_m": 8,
            "description": "fuzz",
            "photo_ids": [uploaded_photo],
        },
    }
    in_payload = data.draw(st.booleans())
    field = data.draw(st.sampled_from(PAYLOAD_FIELDS if in_payload else ACTION_FIELDS))
    value = data.draw(_wrong_for(field))
    (action["payload"] if in_payload else action)[field] = value
    before = _counts(field_db)
    r = httpx.post(fuzz_url + "/field/api/sync", json={"actions": [action]}, headers=headers)
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        (result,) = r.json()["results"]
        if result["ok"]:  # the value was fine after all (e.g. a long text within limits)
            return
        assert result["reason_en"].startswith(("payload", "case_id")), result
        assert result["reason_zh"]
        assert _counts(field_db)[0] == before[0]  # no case
    else:
        _refused_naming_a_field(r, ("actions", "body"))
        assert r.json()["message"].startswith("actions.0."), r.json()
        assert _counts(field_db) == before


@given(field=st.sampled_from(["t", "lon", "lat", "accuracy", "speed", "batt"]), data=st.data())
@SETTINGS
def test_one_wrong_field_of_a_fix_is_refused_naming_it(field, data, fuzz_url, field_db, gw_token):
    headers = {"Authorization": f"Bearer {gw_token}"}
    fix = {"t": time.time(), "lon": SPOT[0], "lat": SPOT[1], "accuracy": 5}
    fix[field] = data.draw(st.sampled_from(["north", [], {}, "nan", "1e999", "", True]))
    before = _counts(field_db)
    r = httpx.post(fuzz_url + "/field/api/fixes", json={"fixes": [fix]}, headers=headers)
    if r.status_code == 200:  # a value taken as a number after all ("1e999" is inf, kept aside)
        assert r.json()["stored"] == 0
        return
    _refused_naming_a_field(r, ("fixes",))
    assert r.json()["message"].startswith(f"fixes.0.{field}"), r.json()
    assert _counts(field_db) == before


@pytest.fixture(scope="module")
def fuzz_url(field_app_engine):
    app = create_app(field_app_engine, limits=RateLimits(per_address=None, per_key=None))
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def gw_token(fuzz_url) -> str:
    return sign_in(fuzz_url, "gw2")[0]


@pytest.fixture(scope="module")
def uploaded_photo(fuzz_url, gw_token) -> str:
    pid = str(uuid.uuid4())
    r = httpx.put(
        f"{fuzz_url}/field/api/photos/{pid}",
        content=jpeg(99),
        headers={"Authorization": f"Bearer {gw_token}", "Content-Type": "image/jpeg"},
    )
    assert r.status_code in (200, 201), r.text
    return pid


@pytest.fixture(scope="module")
def service_code(field_db) -> str:
    from tests.workflow.factories import category_with_department

    with field_db.connect() as conn:
        return category_with_department(conn)
