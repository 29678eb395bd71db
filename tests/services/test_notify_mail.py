"""A follower gets a mail on each change of a case: real SMTP server, real API over HTTP.

The resident follows through ``POST /report/api/cases/{case_no}/follow`` (the residents'
app calls it); the command centre walks the case through ``services.case_commands``;
the worker's pass (``services.notify.run_once``, what ``gridgov notify run`` loops)
sends through :class:`services.senders.SmtpSender` to aiosmtpd on loopback.
"""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from api import create_app
from api.limits import RateLimits
from services import notify
from services.senders import SmtpSender
from tests.api.server import serving
from tests.conftest import app_login_engine
from tests.services.notify_kit import make_link, report, smtp_server, walk_case
from tests.workflow.factories import WEST, served_database

WORDS = {  # the plain words each step's mail must say (Chinese first)
    "accept": "已受理",
    "register": "已登记立案",
    "dispatch": "已交给",
    "start": "正在处理中",
    "handle": "已处理",
    "check": "现场核查已完成",
    "close": "已办结",
}


@pytest.fixture(scope="module")
def db():
    eng = served_database("gridgov_test_notify_mail")
    notify.run_once(eng, senders={})  # the worker's first pass: the cursor starts here
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def api(db):
    app_engine = app_login_engine(db)  # the API logs in as the app does (no superuser)
    app = create_app(app_engine, limits=RateLimits(per_address=None, per_key=None))
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client
    app_engine.dispose()


def _events(db, case_id: int) -> int:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM case_events WHERE case_id = :c"), {"c": case_id}
        ).scalar_one()


def test_a_follower_gets_a_mail_on_each_change(db, api) -> None:  # type: ignore[no-untyped-def]
    case = report(db)
    other = report(db)  # nobody follows this one: no mail
    token = make_link(db, case["case_id"])
    follow = api.post(
        f"/report/api/cases/{case['case_no']}/follow",
        json={"token": token, "email": "Li.Ming@example.org"},
    )
    assert follow.status_code == 201, follow.text
    assert follow.json()["unsubscribe_token"]
    again = api.post(
        f"/report/api/cases/{case['case_no']}/follow",
        json={"token": token, "email": "li.ming@example.org"},
    )
    assert (again.status_code, again.json()["created"]) == (200, False)  # stored once
    before = _events(db, case["case_id"])
    with smtp_server() as (port, mails):
        senders = {"email": SmtpSender(host="127.0.0.1", port=port)}
        for _step in walk_case(db, other["case_id"], until="register"):
            assert notify.run_once(db, senders=senders).sent == 0
        assert mails == []
        for step in walk_case(db, case["case_id"]):
            result = notify.run_once(db, senders=senders)
            expected = _events(db, case["case_id"]) - before
            assert result.sent >= 1
            assert len(mails) == expected, step
            mail = mails[-1]
            assert mail["To"] == "li.ming@example.org"
            assert case["case_no"] in mail["Subject"]
            body = mail.get_content()
            assert WORDS[step] in body, (step, body)
            assert "Your report of" in body  # English beside the Chinese
        assert notify.run_once(db, senders=senders).sent == 0  # nothing twice
        assert len({m["Message-ID"] for m in mails}) == len(mails)
    assert "预计完成时间" in mails[2].get_content()  # dispatched: the deadline in words
    assert "照片" in mails[4].get_content()  # handled with an after-photo


def test_unsubscribed_hears_nothing_more(db, api) -> None:  # type: ignore[no-untyped-def]
    case = report(db)
    token = make_link(db, case["case_id"])
    made = api.post(
        f"/report/api/cases/{case['case_no']}/follow",
        json={"token": token, "phone": "139 0000 1111"},
    ).json()
    stop = api.post("/report/api/unsubscribe", json={"token": made["unsubscribe_token"]})
    assert stop.json() == {"ended": True}
    assert api.post(
        "/report/api/unsubscribe", json={"token": made["unsubscribe_token"]}
    ).json() == {"ended": False}
    list(walk_case(db, case["case_id"], until="accept"))
    notify.run_once(db, senders={})
    with db.connect() as conn:
        queued = conn.execute(
            sa.text("SELECT count(*) FROM notifications WHERE case_id = :c"),
            {"c": case["case_id"]},
        ).scalar_one()
    assert queued == 0


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("follow", {"email": "not-an-address"}, 400, "email"),
        ("follow", {"email": "a@example.org", "phone": "13900001111"}, 400, "email|phone"),
        ("follow", {}, 400, "email|phone"),
        ("follow", {"phone": "12345"}, 400, "phone"),
        ("follow", {"email": "a@example.org", "token": "x" * 40}, 404, "case_no"),
        ("follow", {"email": "a@example.org\u0000"}, 400, "email"),
        ("watches", {"email": "a@example.org"}, 400, "community|lon/lat/radius_m"),
        ("watches", {"email": "a@example.org", "community": "1\u0000"}, 400, "community"),
        ("watches", {"email": "a@example.org", "community": "999999999999"}, 400, "community"),
        (
            "watches",
            {"email": "a@example.org", "lon": 120.6, "lat": 31.3, "radius_m": 9e4},
            400,
            "radius_m",
        ),
        ("watches", {"email": "a@example.org", "community": WEST, "kinds": ["NOPE"]}, 400, "kinds"),
        (
            "watches",
            {"email": "a@example.org", "community": WEST, "kinds": ["dispute"]},
            400,
            "kinds",
        ),
    ],
)
def test_bad_requests_name_the_field(db, api, path, body, status, field) -> None:  # type: ignore[no-untyped-def]
    if path == "follow":
        case = report(db)
        token = body.pop("token", None) or make_link(db, case["case_id"])
        answer = api.post(
            f"/report/api/cases/{case['case_no']}/follow", json={"token": token, **body}
        )
    else:
        answer = api.post("/report/api/watches", json=body)
    assert answer.status_code == status, answer.text
    description = answer.json()[0]["description"]
    assert description.startswith(field + ":"), description
    assert "a@example.org" not in description and "13900001111" not in description


def test_one_mailbox_cannot_be_flooded_with_subscriptions(db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRIDGOV_API_RATE_CONTACT", "2/hour")
    app_engine = app_login_engine(db)
    app = create_app(app_engine, limits=RateLimits(per_address="1000/minute", per_key=None))
    try:
        with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            answers = []
            for _ in range(3):
                case = report(db)
                token = make_link(db, case["case_id"])
                answers.append(
                    client.post(
                        f"/report/api/cases/{case['case_no']}/follow",
                        json={"token": token, "email": "victim@example.org"},
                    )
                )
            other = client.post(
                "/report/api/watches", json={"community": WEST, "email": "me@example.org"}
            )
    finally:
        app_engine.dispose()
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].headers["Retry-After"]
    assert "victim" not in answers[2].text
    assert other.status_code == 201  # another contact is not held back
