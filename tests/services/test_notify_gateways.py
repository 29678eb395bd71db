"""SMS gateway and WeChat template messages, to real local HTTP servers; an area watch.

A resident watches the west community (through ``POST /report/api/watches``) by phone;
a case reported there reaches the SMS gateway, one reported in the east does not; a
WeChat follower's template message carries the case number and status; a WeChat
``errcode`` answer counts as a failed attempt (retried, not lost).
"""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa

from api import create_app
from api.limits import RateLimits
from services import notify
from services.senders import SmsGatewaySender, WeChatTemplateSender
from tests.api.server import serving
from tests.conftest import app_login_engine
from tests.services.notify_kit import HttpReceiver, free_port, make_link, report, walk_case
from tests.workflow.factories import INSIDE_EAST, WEST, served_database


@pytest.fixture(scope="module")
def db():
    eng = served_database("gridgov_test_notify_gateways")
    notify.run_once(eng, senders={})
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def api(db):
    app_engine = app_login_engine(db)
    app = create_app(app_engine, limits=RateLimits(per_address=None, per_key=None))
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client
    app_engine.dispose()


@pytest.fixture
def gateway():
    receiver = HttpReceiver(port=free_port())
    receiver.start()
    yield receiver
    receiver.stop()


def test_an_area_watch_by_sms(db, api, gateway) -> None:  # type: ignore[no-untyped-def]
    made = api.post("/report/api/watches", json={"community": WEST, "phone": "+86 139-0000-2222"})
    assert made.status_code == 201, made.text
    assert (
        api.post("/report/api/watches", json={"community": WEST, "phone": "13900002222"}).json()[
            "created"
        ]
        is False
    )  # the same watch again: stored once
    senders = {"sms": SmsGatewaySender(url=gateway.url, token="t0ken")}
    west = report(db)
    report(db, where=INSIDE_EAST)
    list(walk_case(db, west["case_id"], until="accept"))  # a change, not news for a watch
    notify.run_once(db, senders=senders)
    assert len(gateway.requests) == 1
    sms = json.loads(gateway.requests[0]["body"])
    assert sms["to"] == "+8613900002222"
    assert west["case_no"] in sms["text"] and "已收到" in sms["text"]
    assert gateway.requests[0]["headers"]["Authorization"] == "Bearer t0ken"


def test_wechat_template_message_and_an_errcode_is_retried(db, api, gateway) -> None:  # type: ignore[no-untyped-def]
    case = report(db)
    token = make_link(db, case["case_id"])
    openid = "oABCDEFGHIJKLMNOPQRSTU"
    made = api.post(
        f"/report/api/cases/{case['case_no']}/follow",
        json={"token": token, "wechat_openid": openid},
    )
    assert made.status_code == 201, made.text
    senders = {"wechat": WeChatTemplateSender(url=gateway.url, template_id="TPL1", token="AT")}
    gateway.body = b'{"errcode": 40001, "errmsg": "invalid credential"}'
    list(walk_case(db, case["case_id"], until="accept"))
    first = notify.run_once(db, senders=senders)
    assert (first.sent, first.failed) == (0, 1)
    with db.connect() as conn:
        error = conn.execute(
            sa.text(
                "SELECT last_error FROM notifications WHERE case_id = :c AND channel = 'wechat'"
            ),
            {"c": case["case_id"]},
        ).scalar_one()
        conn.execute(
            sa.text("UPDATE notifications SET next_attempt_at = now() WHERE case_id = :c"),
            {"c": case["case_id"]},
        )
        conn.commit()
    assert error == "WeChat errcode 40001: invalid credential"
    gateway.body = b'{"errcode": 0, "errmsg": "ok"}'
    assert notify.run_once(db, senders=senders).sent == 1
    message = json.loads(gateway.requests[-1]["body"])
    assert gateway.requests[-1]["path"] == "/hook?access_token=AT"
    assert (message["touser"], message["template_id"]) == (openid, "TPL1")
    assert message["data"]["keyword1"]["value"] == case["case_no"]
    assert "已受理" in message["data"]["remark"]["value"]
