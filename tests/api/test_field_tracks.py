"""Tracks: batches from the field app and the OsmAnd protocol (GET and POST), into PostGIS."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa

from api import create_app
from api.limits import RateLimits
from tests.api.field_fixtures import WEST_POINT, sign_in
from tests.api.server import serving


def _counts(engine, code: str) -> tuple[int, dict[str, int]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text(
                "SELECT count(*) FROM patrol_points p JOIN workers w ON w.id = p.worker_id "
                "WHERE w.code = :c"
            ),
            {"c": code},
        ).scalar_one()
        aside = dict(
            conn.execute(
                sa.text(
                    "SELECT reason, count(*) FROM patrol_points_aside a "
                    "JOIN workers w ON w.id = a.worker_id WHERE w.code = :c GROUP BY reason"
                ),
                {"c": code},
            ).all()
        )
    return int(stored), {k: int(v) for k, v in aside.items()}


def test_a_batch_is_sieved_deduplicated_and_counted(url, field_db):
    token, _ = sign_in(url, "gw1")
    t0 = time.time() - 600
    x, y = WEST_POINT
    walk = [
        {
            "t": int((t0 + 10 * i) * 1000),
            "lon": x + 0.00005 * i,
            "lat": y,
            "accuracy": 5,
            "speed": 1.2,
            "batt": 80,
        }
        for i in range(30)
    ]
    shuffled = walk[15:] + walk[:15]  # out of order
    bad = [
        walk[3],  # a duplicate inside the batch
        {"t": t0 + 500, "lon": x, "lat": y, "accuracy": 250},  # poor accuracy
        {
            "t": datetime.fromtimestamp(t0 + 155, UTC).isoformat(),
            "lon": x + 0.05,
            "lat": y,
            "accuracy": 5,
        },  # 5 km in 5 s
        {"t": t0 + 400, "lon": x, "lat": y, "accuracy": 5, "speed": 40},  # reported 40 m/s
        {"t": t0 - 30 * 86400, "lon": x, "lat": y, "accuracy": 5},  # a month old
    ]
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as c:
        first = c.post("/field/api/fixes", json={"fixes": shuffled + bad})
        assert first.status_code == 200, first.text
        assert first.json() == {
            "stored": 30,
            "duplicates": 1,
            "aside": {"poor_accuracy": 1, "impossible_speed": 2, "bad_value": 1},
        }
        again = c.post("/field/api/fixes", json={"fixes": walk})
        assert again.json() == {"stored": 0, "duplicates": 30, "aside": {}}
        bad_body = c.post(
            "/field/api/fixes", json={"fixes": [{"t": "yesterday", "lon": 1, "lat": 1}]}
        )
        assert bad_body.status_code == 400 and "fixes.0.t" in bad_body.json()["message"]
    stored, aside = _counts(field_db, "W-T1")
    assert stored >= 30 and aside["impossible_speed"] >= 2 and aside["bad_value"] >= 1
    with field_db.connect() as conn:
        row = conn.execute(
            sa.text("""SELECT count(*) FILTER (WHERE source = 'field') AS field,
                              count(DISTINCT street_code) AS streets, max(batt) AS batt
                       FROM patrol_points p JOIN workers w ON w.id = p.worker_id
                       WHERE w.code = 'W-T1'""")
        ).one()
    assert row.field >= 30 and row.streets == 1 and row.batt == 80


def test_handlers_record_no_track(url):
    token, _ = sign_in(url, "handler1")
    with httpx.Client(base_url=url, timeout=30) as c:
        r = c.post(
            "/field/api/fixes",
            headers={"Authorization": f"Bearer {token}"},
            json={"fixes": [{"t": time.time(), "lon": 120.6, "lat": 31.3}]},
        )
    assert r.status_code == 403 and r.json()["code"] == "no_worker"


def test_osmand_protocol_get_and_post_as_traccar_client_sends_it(url, field_db):
    token, device_id = sign_in(url, "gw2")
    before, _ = _counts(field_db, "W-T2")
    now = int(time.time())
    x, y = WEST_POINT
    # Traccar Client keeps the query of the server URL it is given: ?key=<device token>
    with httpx.Client(base_url=url, timeout=30, params={"key": token}) as c:
        # GET with the worker's code, speed in knots
        got = c.get(
            "/osmand",
            params={
                "id": "W-T2",
                "lat": y,
                "lon": x,
                "timestamp": now - 60,
                "speed": 2.0,
                "bearing": 90,
                "altitude": 12.5,
                "accuracy": 6,
                "batt": 77.5,
            },
        )
        assert got.status_code == 200 and got.text.startswith("OK"), got.text
        # POST with the parameters in the query string (Traccar Client's way) …
        posted = c.post(
            "/osmand",
            params={
                "id": device_id,
                "lat": y,
                "lon": x + 0.0001,
                "timestamp": now - 50,
                "accuracy": 5,
            },
        )
        assert posted.status_code == 200, posted.text
        # … or as a form body
        form = httpx.post(
            f"{url}/osmand",
            data={
                "key": token,
                "id": device_id,
                "lat": str(y),
                "lon": str(x + 0.0002),
                "timestamp": str(now - 40),
                "accuracy": "5",
            },
            timeout=30,
        )
        assert form.status_code == 200, form.text
        dup = c.get("/osmand", params={"id": "W-T2", "lat": y, "lon": x, "timestamp": now - 60})
        assert dup.status_code == 200  # a resend: accepted, not stored twice
        unknown = c.get("/osmand", params={"id": "nobody", "lat": y, "lon": x, "timestamp": now})
        assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_device"
        bad = c.get("/osmand", params={"id": "W-T2", "lat": "north", "lon": x, "timestamp": now})
        assert bad.status_code == 400 and bad.json()["message"].startswith("lat")
        missing = c.get("/osmand", params={"id": "W-T2", "lon": x, "timestamp": now})
        assert missing.status_code == 400 and "lat" in missing.json()["message"]
    after, _ = _counts(field_db, "W-T2")
    assert after - before == 3
    with field_db.connect() as conn:
        row = conn.execute(
            sa.text("""SELECT speed_ms, bearing, altitude_m, batt, accuracy_m, source
                       FROM patrol_points p JOIN workers w ON w.id = p.worker_id
                       WHERE w.code = 'W-T2' AND p.at = to_timestamp(:t)"""),
            {"t": now - 60},
        ).one()
    assert row.speed_ms == pytest.approx(2.0 * 0.514444, rel=1e-4)
    assert (row.bearing, row.altitude_m, row.batt, row.accuracy_m, row.source) == (
        90,
        12.5,
        77.5,
        6,
        "osmand",
    )


def test_osmand_fixes_without_their_devices_key_are_refused_and_counted(url, field_db):
    gw1_token, gw1_device = sign_in(url, "gw1")
    gw2_token, _ = sign_in(url, "gw2")
    before, _ = _counts(field_db, "W-T1")
    with field_db.connect() as conn:
        counted = conn.execute(sa.text("SELECT count(*) FROM osmand_refusals")).scalar_one()
    x, y = WEST_POINT
    fix = {"id": "W-T1", "lat": y, "lon": x, "timestamp": int(time.time()) - 30}
    with httpx.Client(base_url=url, timeout=30) as c:
        none = c.get("/osmand", params=fix)
        assert none.status_code == 401 and none.json()["code"] == "missing_key", none.text
        assert "key" in none.json()["message"]
        wrong = c.get("/osmand", params=fix | {"key": "not-a-token"})
        assert wrong.status_code == 401 and wrong.json()["code"] == "bad_key"
        other = c.get("/osmand", params=fix | {"key": gw2_token})  # gw2's phone as W-T1
        assert other.status_code == 401 and other.json()["code"] == "key_mismatch"
        by_device = c.post("/osmand", params=fix | {"id": gw1_device, "key": gw2_token})
        assert by_device.status_code == 401 and by_device.json()["code"] == "key_mismatch"
        unknown = c.get("/osmand", params=fix | {"id": "nobody", "key": gw1_token})
        assert unknown.status_code == 404
        good = c.get("/osmand", params=fix | {"key": gw1_token})
        assert good.status_code == 200 and good.text == "OK stored=1", good.text
    after, _ = _counts(field_db, "W-T1")
    assert after - before == 1
    with field_db.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT reason, tracker FROM osmand_refusals ORDER BY id OFFSET :n"),
            {"n": counted},
        ).all()
    assert [r.reason for r in rows] == [
        "missing_key",
        "bad_key",
        "key_mismatch",
        "key_mismatch",
        "unknown_device",
    ]
    assert all(r.tracker and "W-T1" not in r.tracker for r in rows)


def test_the_supervisor_sees_each_workers_last_position(url, field_db):
    from services.field_positions import worker_last_positions
    from services.uow import Scope

    token, _ = sign_in(url, "gw1")
    with httpx.Client(base_url=url, timeout=30) as c:
        c.get(
            "/osmand",
            params={
                "key": token,
                "id": "W-T1",
                "lat": WEST_POINT[1],
                "lon": WEST_POINT[0],
                "timestamp": int(time.time()) - 5,
                "accuracy": 4,
            },
        )
    positions = {
        p.worker_code: p
        for p in worker_last_positions(field_db, scope=Scope("supervisor", "320508901001"))
    }
    assert "W-T1" in positions and positions["W-T1"].age_s < 120
    assert "秒前" in positions["W-T1"].age_text and "ago" in positions["W-T1"].age_text


@pytest.fixture(scope="module")
def url(field_app_engine):
    app = create_app(field_app_engine, limits=RateLimits(per_address=None, per_key=None))
    with serving(app) as base:
        yield base
