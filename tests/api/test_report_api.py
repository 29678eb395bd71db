"""The residents' API against a real PostGIS, served by uvicorn, as the app's own login
(a non-superuser: the grants and row-level security of migration 0080 apply)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image

from api import create_app
from api.limits import RateLimits
from api.report import ReportLimits
from layers.workflow import errors
from layers.workflow.transitions import history, transition
from services.privacy import mask_text, strip_photo
from tests.api.report_support import (
    PLANTED_ID,
    PLANTED_PHONE,
    case_row,
    command_centre,
    new_id,
    new_token,
    photo_with_gps,
    resident_app_login,
)
from tests.api.server import serving
from tests.workflow.factories import INSIDE_EAST, INSIDE_WEST, served_database

OPEN = RateLimits(per_address=None, per_key=None)


@pytest.fixture(scope="module")
def report_db(tmp_path_factory) -> Iterator[tuple[sa.Engine, sa.Engine]]:
    """(admin engine, the app's own login) on a database with the test area."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GRIDGOV_MEDIA_DIR", str(tmp_path_factory.mktemp("report-media")))
    admin = served_database("gridgov_test_report_api")
    app_login = resident_app_login(admin)
    yield admin, app_login
    app_login.dispose()
    admin.dispose()
    mp.undo()


@pytest.fixture(scope="module")
def api(report_db) -> Iterator[httpx.Client]:
    app = create_app(
        report_db[1], limits=OPEN, report_limits=ReportLimits(per_device=None, per_address=None)
    )
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def report_body(**over) -> dict:  # type: ignore[no-untyped-def]
    body = {
        "client_id": new_id(),
        "token": new_token(),
        "kind": "streetlight",
        "lon": INSIDE_WEST[0],
        "lat": INSIDE_WEST[1],
        "description": f"路灯不亮，请联系 {PLANTED_PHONE}",
        "photos": [{"name": "lamp.jpg", "data": b64(photo_with_gps())}],
    }
    return body | over


def test_a_report_is_stored_once_however_often_it_is_sent(api, report_db):
    body = report_body()
    first = api.post("/report/api/reports", json=body)
    assert first.status_code == 201, first.text
    again = api.post("/report/api/reports", json=body)
    assert again.status_code == 200 and again.json()["case_no"] == first.json()["case_no"]
    with report_db[0].connect() as conn:
        n = conn.execute(
            sa.text("SELECT count(*) FROM resident_links WHERE client_id = :c"),
            {"c": body["client_id"]},
        ).scalar_one()
        case = conn.execute(
            sa.text("SELECT id, source, media FROM cases WHERE case_no = :n"),
            {"n": first.json()["case_no"]},
        ).one()
        reporters = conn.execute(
            sa.text("SELECT name, phone FROM reporters WHERE case_id = :i"), {"i": case.id}
        ).all()
    assert n == 1 and case.source == "app"
    assert len(case.media) == 1 and case.media[0]["type"] == "photo"
    assert all(r.phone is None and r.name is None for r in reporters)  # anonymous
    # the same client id with another token is someone else's: refused, nothing stored
    stolen = api.post("/report/api/reports", json=body | {"token": new_token()})
    assert stolen.status_code == 409


@pytest.mark.parametrize(
    ("over", "status", "field"),
    [
        ({"kind": "ufo"}, 400, "kind"),
        ({"client_id": "short"}, 400, "client_id"),
        ({"lon": 121.9}, 400, "outside the served area"),
        ({"photos": [{"name": "x.gif", "data": b64(b"GIF89a....")}]}, 400, "photos"),
        ({"photos": [{"name": "x.jpg", "data": "%%%notbase64"}]}, 400, "photos"),
        ({"description": "x" * 1001}, 400, "description"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(api, report_db, over, status, field):
    body = report_body(**over)
    r = api.post("/report/api/reports", json=body)
    assert r.status_code == status, r.text
    text = r.text
    if field:
        assert field in text
    assert PLANTED_PHONE not in text
    with report_db[0].connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM resident_links WHERE client_id = :c"),
                {"c": body["client_id"]},
            ).scalar_one()
            == 0
        )


def test_only_json_bodies_are_taken(api):
    r = api.post(
        "/report/api/reports", content=b"kind=streetlight", headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 415 and "application/json" in r.text


def test_nearby_offers_the_open_case_and_a_follow_adds_the_reporter(api, report_db):
    planted = api.post("/report/api/reports", json=report_body(kind="flooding", photos=[])).json()[
        "case_no"
    ]
    offer = api.get(
        "/report/api/nearby",
        params={"kind": "flooding", "lon": INSIDE_WEST[0] + 0.0003, "lat": INSIDE_WEST[1]},
    )
    assert offer.status_code == 200
    assert [c["case_no"] for c in offer.json()["cases"]] == [planted]
    assert 0 < offer.json()["cases"][0]["distance_m"] < 100
    far = api.get(
        "/report/api/nearby",
        params={"kind": "flooding", "lon": INSIDE_EAST[0], "lat": INSIDE_EAST[1]},
    )
    assert far.json()["cases"] == []
    case_id = case_row(report_db[0], planted)["id"]
    with report_db[0].connect() as conn:
        before = conn.execute(
            sa.text("SELECT count(*) FROM reporters WHERE case_id = :i"), {"i": case_id}
        ).scalar_one()
    body = {"client_id": new_id(), "token": new_token(), "phone": PLANTED_PHONE}
    r = api.post(f"/report/api/cases/{planted}/reporters", json=body)
    assert r.status_code == 201, r.text
    assert api.post(f"/report/api/cases/{planted}/reporters", json=body).status_code == 200
    with report_db[0].connect() as conn:
        after = conn.execute(
            sa.text("SELECT count(*) FROM reporters WHERE case_id = :i"), {"i": case_id}
        ).scalar_one()
    assert after == before + 1  # once, though sent twice
    # the follower's own link shows the case
    view = api.get(f"/report/api/cases/{planted}", headers={"X-Case-Token": body["token"]})
    assert view.status_code == 200 and view.json()["relation"] == "follow"


def test_a_sensitive_kind_is_never_offered_by_place(api):
    api.post("/report/api/reports", json=report_body(kind="dispute", photos=[]))
    offer = api.get(
        "/report/api/nearby",
        params={"kind": "dispute", "lon": INSIDE_WEST[0], "lat": INSIDE_WEST[1]},
    )
    assert offer.json()["cases"] == []


def test_the_resident_follows_rates_and_says_not_fixed(api, report_db):
    body = report_body()
    case_no = api.post("/report/api/reports", json=body).json()["case_no"]
    token = {"X-Case-Token": body["token"]}
    assert (
        api.get(f"/report/api/cases/{case_no}", headers={"X-Case-Token": new_token()}).status_code
        == 403
    )
    view = api.get(f"/report/api/cases/{case_no}", headers=token).json()
    assert view["summary"] == {
        "received": True,
        "assigned": False,
        "handling": False,
        "done": False,
    }
    assert PLANTED_PHONE not in str(view)
    command_centre(report_db[0], case_no, until="dispatch")
    view = api.get(f"/report/api/cases/{case_no}", headers=token).json()
    assert view["summary"]["assigned"] and view["expected_by"]
    assert any(
        step["zh"].startswith("已交给") and view["department_zh"] in step["zh"]
        for step in view["timeline"]
    )
    command_centre(report_db[0], case_no, until="close")
    view = api.get(f"/report/api/cases/{case_no}", headers=token).json()
    assert view["summary"]["done"] and view["may_rate"]
    after = next(s for s in view["timeline"] if s["action"] == "handle")
    assert after["photos"]
    photo = api.get(f"/report/api/cases/{case_no}/photos/{after['photos'][0]}", headers=token)
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert (
        b"PlantedPhoneModel" not in photo.content
        and not Image.open(io.BytesIO(photo.content)).getexif()
    )
    # the office that closed it cannot rate it
    with report_db[0].begin() as conn, pytest.raises(errors.RoleForbidden):
        row = case_row(report_db[0], case_no)
        transition(
            conn=conn,
            case_id=row["id"],
            action="rate",
            actor="op",
            role="operator",
            expected_version=row["version"],
            changes={"satisfaction": 5},
        )
    rate = {"client_id": new_id(), "token": body["token"], "verdict": "basically_satisfied"}
    assert api.post(f"/report/api/cases/{case_no}/feedback", json=rate).status_code == 201
    assert api.post(f"/report/api/cases/{case_no}/feedback", json=rate).status_code == 200
    assert case_row(report_db[0], case_no)["satisfaction"] == 4
    no_reason = {"client_id": new_id(), "token": body["token"], "verdict": "not_fixed"}
    r = api.post(f"/report/api/cases/{case_no}/feedback", json=no_reason)
    assert r.status_code == 400 and "reason" in r.text
    not_fixed = no_reason | {
        "reason": "晚上还是不亮",
        "photo": {"name": "still.jpg", "data": b64(photo_with_gps((10, 10, 10)))},
    }
    assert api.post(f"/report/api/cases/{case_no}/feedback", json=not_fixed).status_code == 201
    row = case_row(report_db[0], case_no)
    assert row["status"] == "dispatched" and row["reopen_count"] == 1
    with report_db[0].connect() as conn:
        last = history(conn=conn, case_id=row["id"])[-1]
    assert (
        last["action"] == "reopen"
        and "晚上还是不亮" in last["reason"]
        and last["role"] == "resident"
    )
    assert last["attachments"][0]["type"] == "photo"
    view = api.get(f"/report/api/cases/{case_no}", headers=token).json()
    assert view["status"] == "dispatched" and not view["may_rate"]
    assert view["timeline"][-1]["action"] == "reopen"


def test_masking_and_stripping():
    assert (
        mask_text(f"电话{PLANTED_PHONE}，身份证{PLANTED_ID}")
        == "电话139****5678，身份证320***********1234"
    )
    assert (
        mask_text("call 139 1234 5678 or 0512-6523 1234") == "call 139 **** 5678 or 051*-**** 1234"
    )
    assert mask_text("3 lamps on road 12") == "3 lamps on road 12"
    clean = strip_photo(photo_with_gps())
    assert not Image.open(io.BytesIO(clean)).getexif() and b"Planted" not in clean


def test_a_flood_from_one_device_is_slowed(report_db):
    app = create_app(
        report_db[1],
        limits=OPEN,
        report_limits=ReportLimits(per_device="3/minute", per_address=None),
    )
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        codes = [
            client.post(
                "/report/api/reports",
                json=report_body(photos=[]),
                headers={"X-Device-Id": "flooder"},
            ).status_code
            for _ in range(4)
        ]
        other = client.post(
            "/report/api/reports", json=report_body(photos=[]), headers={"X-Device-Id": "someone"}
        )
    assert codes[:3] == [201, 201, 201] and codes[3] == 429
    assert other.status_code == 201  # the city still hears everyone else


def test_places_come_from_gridgovs_own_layer(api, report_db):
    with report_db[0].begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO buildings (address, households, geom) VALUES "
                "('测试路88号', 10, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
            ),
            {"x": INSIDE_WEST[0], "y": INSIDE_WEST[1]},
        )
    r = api.get("/report/api/places", params={"q": "测试路88"})
    assert r.status_code == 200
    assert r.json()["places"][0]["address"] == "测试路88号"
    assert abs(r.json()["places"][0]["lon"] - INSIDE_WEST[0]) < 1e-6


def test_places_include_roads_but_not_grid_or_part_codes(api, report_db):
    """The residents' search is the hotline's (layers.place_search): a road by its name,
    but no grid or part codes, which residents do not know."""
    x, y = INSIDE_WEST
    with report_db[0].begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO roads (name_zh, name_en, road_class, geom) VALUES "
                "('银杏测试大道', 'Ginkgo Test Avenue', 'major', "
                "ST_SetSRID(ST_MakeLine(ST_MakePoint(:x, :y), ST_MakePoint(:x + 0.001, :y)), 4326))"
            ),
            {"x": x, "y": y},
        )
        grid = conn.execute(sa.text("SELECT code FROM grids_current LIMIT 1")).scalar_one()
    roads = api.get("/report/api/places", params={"q": "银杏测试"}).json()["places"]
    assert [p["address"] for p in roads] == ["银杏测试大道"]
    assert api.get("/report/api/places", params={"q": grid}).json()["places"] == []


def test_kinds_are_mapped_to_the_catalogue(api, report_db):
    kinds = api.get("/report/api/kinds").json()["kinds"]
    with report_db[0].connect() as conn:
        known = set(
            conn.execute(sa.text("SELECT service_code FROM categories WHERE level = 2")).scalars()
        )
    assert kinds and all(k["service_code"] in known for k in kinds)
    assert {k["code"] for k in kinds if k["sensitive"]} == {"dispute", "safety"}
