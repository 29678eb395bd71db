"""The field API on a real PostGIS, served by uvicorn, through the app's own login (RLS on).

Devices, photos, the sync outbox (each client id once, refusals with reasons), queue,
plan and reference data. Tracks and OsmAnd: tests/api/test_field_tracks.py.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import h3.api.basic_int as h3
import httpx
import pytest
import sqlalchemy as sa

from api import create_app
from api.limits import RateLimits
from layers.workflow.transitions import history
from tests.api.field_fixtures import (
    EAST_POINT,
    PASSWORD,
    WEST_POINT,
    jpeg,
    make_reported,
    sign_in,
)
from tests.api.server import serving
from tests.workflow.factories import category_with_department, walk_to


def test_a_phone_signs_in_once_and_is_named_by_its_token(field_url, field_db):
    with httpx.Client(base_url=field_url, timeout=30) as c:
        made = c.post(
            "/field/api/devices",
            json={"username": "gw1", "password": PASSWORD, "device_label": "测试手机 A"},
        )
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["me"]["role"] == "grid_worker"
        assert body["me"]["worker_code"] == "W-T1"
        assert [g["code"] for g in body["me"]["grids"]] == ["320508901001001"]
        token = body["token"]
        me = c.get("/field/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["device_id"] == body["device_id"]
        # the token is kept only as its hash
        with field_db.connect() as conn:
            stored = conn.execute(
                sa.text("SELECT token_hash FROM field_devices WHERE id = :i"),
                {"i": body["device_id"]},
            ).scalar_one()
        assert stored == hashlib.sha256(token.encode()).hexdigest() and token not in stored
        # no token, a wrong one, a wrong password, a role that has no field app
        assert c.get("/field/api/me").json()["code"] == "device_token"
        assert c.get("/field/api/me", headers={"Authorization": "Bearer nope"}).status_code == 401
        bad = c.post(
            "/field/api/devices",
            json={"username": "gw1", "password": "wrong-password", "device_label": "x"},
        )
        assert bad.status_code == 401 and bad.json()["code"] == "bad_login"
        op = c.post(
            "/field/api/devices",
            json={"username": "op1", "password": PASSWORD, "device_label": "x"},
        )
        assert op.status_code == 403 and op.json()["code"] == "field_role"
        missing = c.post("/field/api/devices", json={"username": "gw1", "password": "x"})
        assert missing.status_code == 400 and "device_label" in missing.json()["message"]


def test_a_revoked_device_is_refused_at_once(field_url, field_db):
    from services.field import revoke_device

    token, device_id = sign_in(field_url, "gw1")
    with httpx.Client(base_url=field_url, timeout=30) as c:
        auth = {"Authorization": f"Bearer {token}"}
        assert c.get("/field/api/me", headers=auth).status_code == 200
        assert revoke_device(field_db, device_id=device_id)
        gone = c.get("/field/api/me", headers=auth)
        assert gone.status_code == 401 and gone.json()["code"] == "device_token"
        assert c.post("/field/api/sync", headers=auth, json={"actions": []}).status_code == 401


def test_photos_upload_by_client_id_retry_safely(field_url, gw1):
    pid = str(uuid.uuid4())
    with httpx.Client(base_url=field_url, timeout=60, headers=gw1) as c:
        put = lambda data, kind="image/jpeg": c.put(  # noqa: E731
            f"/field/api/photos/{pid}", content=data, headers={"Content-Type": kind}
        )
        first = put(jpeg(1))
        assert first.status_code == 201, first.text
        assert first.json()["sha256"] == hashlib.sha256(jpeg(1)).hexdigest()
        again = put(jpeg(1))
        assert again.status_code == 200 and again.json() == first.json()
        other = put(jpeg(2))
        assert other.status_code == 409 and other.json()["code"] == "photo_conflict"
        html = c.put(
            f"/field/api/photos/{uuid.uuid4()}",
            content=b"<html>not a photo</html>",
            headers={"Content-Type": "image/jpeg"},
        )
        assert html.status_code == 415 and html.json()["code"] == "bad_photo"
        wrong_type = c.put(
            f"/field/api/photos/{uuid.uuid4()}",
            content=jpeg(3),
            headers={"Content-Type": "text/html"},
        )
        assert wrong_type.status_code == 415
        huge = c.put(
            f"/field/api/photos/{uuid.uuid4()}",
            content=jpeg(4) + bytes(11_000_000),
            headers={"Content-Type": "image/jpeg"},
        )
        assert huge.status_code == 413 and huge.json()["code"] == "photo_too_large"
        assert "MB" in huge.json()["message"]


def _photo(c: httpx.Client, seed: int) -> str:
    pid = str(uuid.uuid4())
    r = c.put(
        f"/field/api/photos/{pid}", content=jpeg(seed), headers={"Content-Type": "image/jpeg"}
    )
    assert r.status_code in (200, 201), r.text
    return pid


def _report(pid: str, where=WEST_POINT, **extra) -> dict:  # type: ignore[no-untyped-def]
    return {
        "client_id": str(uuid.uuid4()),
        "kind": "report",
        "at": datetime.now(UTC).isoformat(),
        "payload": {
            "service_code": extra.pop("service_code", None) or "",
            "lon": where[0],
            "lat": where[1],
            "accuracy_m": 8,
            "location_source": "gps",
            "description": "井盖破损 manhole cover broken",
            "photo_ids": [pid],
            **extra,
        },
    }


def test_the_outbox_is_applied_in_order_each_action_once(field_url, field_db, gw1):
    with field_db.connect() as conn:
        code = category_with_department(conn)
    target = make_reported(field_db, where=(WEST_POINT[0] + 0.0003, WEST_POINT[1]))
    with httpx.Client(base_url=field_url, timeout=60, headers=gw1) as c:
        p1, p2, p3, p4 = (_photo(c, s) for s in (11, 12, 13, 14))
        fix = _report(p2, service_code=code)
        fix["kind"] = "fix_on_spot"
        fix["payload"] |= {"before_photo_ids": [p2], "after_photo_ids": [p3], "photo_ids": []}
        verify = {
            "client_id": str(uuid.uuid4()),
            "kind": "verify",
            "case_id": target,
            "expected_version": 1,
            "payload": {
                "outcome": "confirmed",
                "lon": WEST_POINT[0],
                "lat": WEST_POINT[1],
                "accuracy_m": 6,
                "photo_ids": [p4],
            },
        }
        actions = [_report(p1, service_code=code), fix, verify]
        first = c.post("/field/api/sync", json={"actions": actions})
        assert first.status_code == 200, first.text
        results = first.json()["results"]
        assert [r["ok"] for r in results] == [True, True, True], results
        assert [r["status"] for r in results] == ["reported", "closed", "reported"]
        again = c.post("/field/api/sync", json={"actions": actions})
        assert again.json()["results"] == results  # the stored answers, nothing done twice
    ids = [r["case_id"] for r in results[:2]]
    with field_db.connect() as conn:
        n = conn.execute(
            sa.text("SELECT count(*) FROM cases WHERE source_id = ANY(:s)"),
            {"s": [a["client_id"] for a in actions[:2]]},
        ).scalar()
        assert n == 2
        rows = conn.execute(
            sa.text(
                "SELECT id, source, status, closed_at IS NOT NULL AS closed FROM cases "
                "WHERE id = ANY(:i) ORDER BY id"
            ),
            {"i": ids},
        ).all()
        assert [(r.source, r.status, r.closed) for r in rows] == [
            ("patrol", "reported", False),
            ("patrol", "closed", True),
        ]
        fixed = history(conn=conn, case_id=ids[1])
        assert [(e["action"], e["role"], e["actor"]) for e in fixed] == [
            ("report", "grid_worker", "gw1"),
            ("close", "grid_worker", "gw1"),
        ]
        assert fixed[1]["attachments"][0]["path"].startswith(f"{ids[1]}/")
        verified = history(conn=conn, case_id=target)
        assert [(e["action"], e["role"]) for e in verified] == [
            ("report", "operator"),
            ("verify", "grid_worker"),
        ]
        assert "confirmed" in verified[1]["reason"] and " m from the case" in verified[1]["reason"]


def test_refusals_come_back_with_reasons_and_undo_only_themselves(field_url, field_db, gw1, gw2):
    far = make_reported(field_db, where=EAST_POINT)  # another community: outside gw1's area
    near = make_reported(field_db, where=(WEST_POINT[0] + 0.005, WEST_POINT[1]))
    with httpx.Client(base_url=field_url, timeout=60, headers=gw1) as c:
        photo = _photo(c, 21)
        proof = {
            "outcome": "confirmed",
            "lon": WEST_POINT[0],
            "lat": WEST_POINT[1],
            "accuracy_m": 5,
            "photo_ids": [photo],
        }
        actions = [
            {
                "client_id": str(uuid.uuid4()),
                "kind": "verify",
                "case_id": near,
                "expected_version": 1,
                "payload": proof,
            },  # ~480 m away: not on site
            {
                "client_id": str(uuid.uuid4()),
                "kind": "verify",
                "case_id": far,
                "expected_version": 1,
                "payload": proof,
            },
            {
                "client_id": str(uuid.uuid4()),
                "kind": "verify",
                "case_id": near,
                "expected_version": 1,
                "payload": proof | {"no_gps_reason": "地下室无信号 basement"},
            },
            {"client_id": str(uuid.uuid4()), "kind": "teleport", "payload": {}},
            _report(str(uuid.uuid4()), service_code="nope"),
        ]
        results = c.post("/field/api/sync", json={"actions": actions}).json()["results"]
    assert [r["ok"] for r in results] == [False, False, True, False, False]
    assert results[0]["code"] == "not_on_site" and "m from the case" in results[0]["reason_en"]
    assert results[0]["reason_zh"].startswith("不在现场")
    assert results[1]["code"] == "case_not_found"
    assert results[3]["code"] == "unknown_kind"
    assert results[4]["code"] == "photo_missing"
    # two workers verify one case offline: the first to arrive wins, the other is told why
    contested = make_reported(field_db, where=WEST_POINT)
    outcomes = []
    for headers in (gw1, gw2):
        with httpx.Client(base_url=field_url, timeout=60, headers=headers) as c:
            photo = _photo(c, 22)
            outcomes.append(
                c.post(
                    "/field/api/sync",
                    json={
                        "actions": [
                            {
                                "client_id": str(uuid.uuid4()),
                                "kind": "verify",
                                "case_id": contested,
                                "expected_version": 1,
                                "payload": proof | {"photo_ids": [photo]},
                            }
                        ]
                    },
                ).json()["results"][0]
            )
    assert outcomes[0]["ok"] and not outcomes[1]["ok"]
    assert outcomes[1]["code"] == "stale_case" and "version" in outcomes[1]["reason_en"]
    assert "版本" in outcomes[1]["reason_zh"]


def test_one_client_id_sent_twice_at_once_is_applied_once(field_url, field_db, gw1):
    with field_db.connect() as conn:
        code = category_with_department(conn)
    with httpx.Client(base_url=field_url, timeout=60, headers=gw1) as c:
        action = _report(_photo(c, 31), service_code=code)
    answers: list[dict] = []

    def send() -> None:
        with httpx.Client(base_url=field_url, timeout=60, headers=gw1) as c:
            answers.append(c.post("/field/api/sync", json={"actions": [action]}).json())

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 4
    assert len({a["results"][0]["case_id"] for a in answers}) == 1
    with field_db.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM cases WHERE source_id = :s"),
                {"s": action["client_id"]},
            ).scalar()
            == 1
        )


def test_handlers_accept_feed_back_and_ask(field_url, field_db):
    token, _ = sign_in(field_url, "handler1")
    cases = [make_reported(field_db, where=WEST_POINT) for _ in range(2)]
    with field_db.connect() as conn, conn.begin():
        versions = [walk_to(conn, case_id, "dispatched") for case_id in cases]
    with httpx.Client(
        base_url=field_url, timeout=60, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        queue = c.get("/field/api/queue").json()
        mine = {q["case_id"]: q for q in queue}
        assert set(cases) <= set(mine) and {mine[i]["task"] for i in cases} == {"handle"}
        photo = _photo(c, 41)
        a, b = cases
        steps = [
            ("accept", a, versions[0], {}),
            (
                "extension",
                a,
                versions[0] + 1,
                {"hours": 24, "reason": "等待配件 waiting for parts"},
            ),
            ("return", b, versions[1], {"reason": "不属于本部门 not ours"}),
        ]
        actions = [
            {
                "client_id": str(uuid.uuid4()),
                "kind": k,
                "case_id": i,
                "expected_version": v,
                "payload": p,
            }
            for k, i, v, p in steps
        ]
        results = c.post("/field/api/sync", json={"actions": actions}).json()["results"]
        assert [r["ok"] for r in results] == [True, True, True], results
        feedback = c.post(
            "/field/api/sync",
            json={
                "actions": [
                    {
                        "client_id": str(uuid.uuid4()),
                        "kind": "feedback",
                        "case_id": a,
                        "expected_version": results[1]["version"],
                        "payload": {"text": "已更换 replaced", "photo_ids": [photo]},
                    }
                ]
            },
        ).json()["results"][0]
        assert feedback["ok"] and feedback["status"] == "handled", feedback
    with field_db.connect() as conn:
        pending = conn.execute(
            sa.text("SELECT pending_request FROM cases WHERE id = :i"), {"i": b}
        ).scalar()
        assert pending == "return"
        steps_a = [(e["action"], e["role"]) for e in history(conn=conn, case_id=a)][-3:]
        assert steps_a == [
            ("start", "handler"),
            ("request_extension", "handler"),
            ("handle", "handler"),
        ]


def test_the_queue_plan_grid_and_reference_data(field_url, field_db, gw1):
    reported = make_reported(
        field_db,
        where=(WEST_POINT[0] + 0.001, WEST_POINT[1]),
        description="住户电话 13812345678 请联系",
    )
    handled = make_reported(field_db, where=(WEST_POINT[0] + 0.002, WEST_POINT[1]))
    with field_db.connect() as conn, conn.begin():
        walk_to(conn, handled, "handled")
        conn.execute(
            sa.text("""
            INSERT INTO patrol_plans (worker_id, grid_id, plan_date, stops, n_stops, length_m,
                                      duration_s, baseline_m, geom)
            SELECT w.id, g.id, :d, CAST(:stops AS jsonb), 1, 100, 600, 120,
                   ST_MakeLine(ST_Point(120.605, 31.305, 4326), ST_Point(120.606, 31.305, 4326))
            FROM workers w, grids g WHERE w.code = 'W-T1' AND g.code = '320508901001001'
            ON CONFLICT (worker_id, plan_date) DO NOTHING
        """),
            {
                "d": datetime.now(UTC).date() - timedelta(days=1),
                "stops": json.dumps(
                    [
                        {
                            "kind": "cell",
                            "ref": h3.int_to_str(h3.latlng_to_cell(31.3051, 120.6051, 10)),
                        }
                    ]
                ),
            },
        )
    with httpx.Client(base_url=field_url, timeout=60, headers=gw1) as c:
        queue = c.get("/field/api/queue", params={"lon": WEST_POINT[0], "lat": WEST_POINT[1]})
        assert queue.status_code == 200, queue.text
        tasks = {q["case_id"]: q for q in queue.json()}
        assert tasks[reported]["task"] == "verify" and tasks[handled]["task"] == "check"
        assert "13812345678" not in tasks[reported]["description"]
        assert "＊" in tasks[reported]["description"]
        assert tasks[handled]["deadline_at"] is not None
        order = [q["case_id"] for q in queue.json()]
        assert order.index(handled) < order.index(reported)  # a deadline first
        assert c.get("/field/api/queue", params={"lon": 120.6}).status_code == 400
        grid = c.get("/field/api/grid").json()
        assert grid["type"] == "FeatureCollection"
        assert [f["properties"]["code"] for f in grid["features"]] == ["320508901001001"]
        plan = c.get("/field/api/plan").json()
        assert plan["total"] == 1 and plan["route"]["type"] == "LineString"
        stop = plan["stops"][0]
        # done: one of the worker's fixes of today (city time) within the proof radius
        # (100 m); other tests of this module walk W-T1 there, so the truth is read here
        with field_db.connect() as conn:
            walked = conn.execute(
                sa.text("""
                SELECT EXISTS (
                    SELECT 1 FROM patrol_points p JOIN workers w ON w.id = p.worker_id
                    WHERE w.code = 'W-T1'
                      AND (p.at AT TIME ZONE gridgov_time_zone())::date
                          = (now() AT TIME ZONE gridgov_time_zone())::date
                      AND ST_Distance(p.geom::geography,
                                      ST_Point(:x, :y, 4326)::geography) <= 100)
            """),
                {"x": stop["lon"], "y": stop["lat"]},
            ).scalar_one()
        assert stop["label_zh"] and stop["done"] is walked
        cats = c.get("/field/api/categories").json()
        assert cats and {"service_code", "name_zh", "name_en", "major_zh", "kind"} <= set(cats[0])
        parts = c.get("/field/api/parts", params={"bbox": "120.60,31.30,120.64,31.31"})
        assert parts.status_code == 200 and parts.json()["type"] == "FeatureCollection"
        assert c.get("/field/api/parts", params={"bbox": "120,31,121,32"}).status_code == 400
        near = c.get("/field/api/nearby", params={"lon": WEST_POINT[0], "lat": WEST_POINT[1]})
        assert reported in [n["case_id"] for n in near.json()]


@pytest.fixture(scope="module")
def field_url(field_app_engine):
    app = create_app(field_app_engine, limits=RateLimits(per_address=None, per_key=None))
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def gw1(field_url) -> dict:
    return {"Authorization": f"Bearer {sign_in(field_url, 'gw1')[0]}"}


@pytest.fixture(scope="module")
def gw2(field_url) -> dict:
    return {"Authorization": f"Bearer {sign_in(field_url, 'gw2')[0]}"}


def _part_near(conn, where: tuple[float, float]) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    """A part-fault category and a part of it standing at ``where`` (committed by caller)."""
    kind = conn.execute(
        sa.text("SELECT id, service_code FROM categories WHERE level = 2 AND kind = 'part' LIMIT 1")
    ).one()
    part = conn.execute(
        sa.text("""
        INSERT INTO parts (part_code, category_id, source, source_id, geom)
        VALUES (:code, :k, 'test', :code, ST_Point(:x, :y, 4326)) RETURNING id
    """),
        {"code": f"{uuid.uuid4().int % 10**16:016d}", "k": kind.id, "x": where[0], "y": where[1]},
    ).scalar_one()
    return kind.service_code, int(part)


def test_a_part_fault_report_keeps_the_part_and_the_gps_accuracy(field_url, field_db, gw1):
    with field_db.begin() as conn:
        part_code, part = _part_near(conn, (WEST_POINT[0] + 0.0002, WEST_POINT[1]))
        _, far_part = _part_near(conn, (WEST_POINT[0] + 0.01, WEST_POINT[1]))
        event_code = conn.execute(
            sa.text(
                "SELECT service_code FROM categories WHERE level = 2 AND kind = 'event' LIMIT 1"
            )
        ).scalar_one()
    with httpx.Client(base_url=field_url, timeout=60, headers=gw1) as c:
        picked = _report(_photo(c, 31), service_code=part_code, part_id=part, accuracy_m=7.5)
        tapped = _report(_photo(c, 32), service_code=part_code, location_source="map")
        too_far = _report(_photo(c, 33), service_code=part_code, part_id=far_part)
        not_a_part = _report(_photo(c, 34), service_code=event_code, part_id=part)
        r = c.post("/field/api/sync", json={"actions": [picked, tapped, too_far, not_a_part]})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
    assert [x["ok"] for x in results] == [True, True, False, False], results
    assert "payload.part_id" in results[2]["reason_en"] and "300 m" in results[2]["reason_en"]
    assert "payload.part_id" in results[3]["reason_en"] and "part fault" in results[3]["reason_en"]
    with field_db.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT source_id, part_id, location_accuracy_m FROM cases "
                "WHERE source_id = ANY(:s)"
            ),
            {"s": [a["client_id"] for a in (picked, tapped, too_far, not_a_part)]},
        ).all()
    got = {r.source_id: (r.part_id, r.location_accuracy_m) for r in rows}
    assert got == {picked["client_id"]: (part, 7.5), tapped["client_id"]: (None, None)}


def test_the_reported_accuracy_is_shown_where_the_position_is(field_url, field_db, gw1):
    """The verifier's queue and the operator's case file carry the reported accuracy."""
    from dashboard.labels import position_text
    from layers.cases import case_record

    case = make_reported(field_db, where=(WEST_POINT[0] + 0.0025, WEST_POINT[1] + 0.001))
    with field_db.begin() as conn:  # as a field report from another phone keeps it
        conn.execute(
            sa.text("UPDATE cases SET location_accuracy_m = 23 WHERE id = :i"), {"i": case}
        )
    with httpx.Client(base_url=field_url, timeout=60, headers=gw1) as c:
        queue = {q["case_id"]: q for q in c.get("/field/api/queue").json()}
    assert queue[case]["location_accuracy_m"] == 23
    with field_db.connect() as conn:
        record = case_record(conn=conn, case_id=case)
    assert record is not None and record.location_accuracy_m == 23
    assert position_text(record.lon, record.lat, record.location_accuracy_m, "zh").endswith(
        "±23 米"
    )
    assert "accuracy unknown" in position_text(record.lon, record.lat, None, "en")
