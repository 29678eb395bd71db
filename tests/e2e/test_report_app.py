"""The residents' app in a real headless Chromium on an emulated phone, against the real
API and PostGIS: report with a photo offline then online (stored once, even when an answer
is lost), the duplicate offer and "follow", the command centre's loop, rating and "not
fixed" back to rework; axe-core on every page in both languages and in large-text mode."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from api import create_app
from api.limits import RateLimits
from api.report import ReportLimits
from layers.workflow.cases_api import report_case, validate_report
from layers.workflow.transitions import history
from tests.api.report_support import (
    PLANTED_PHONE,
    case_row,
    command_centre,
    new_token,
    photo_with_gps,
    resident_app_login,
)
from tests.api.server import serving
from tests.e2e.conftest import LOCAL_PREFIXES
from tests.workflow.factories import INSIDE_WEST, served_database

PHONE = {
    # Playwright's "Pixel 5" descriptor: a small Android phone
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 11; Pixel 5) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36"
    ),
    "viewport": {"width": 393, "height": 727},
    "screen": {"width": 393, "height": 851},
    "device_scale_factor": 2.75,
    "is_mobile": True,
    "has_touch": True,
}


@pytest.fixture(scope="module")
def report_app(tmp_path_factory) -> Iterator[tuple[str, sa.Engine]]:
    """The API (and the app's files) on loopback as the app's own login; the admin engine."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GRIDGOV_MEDIA_DIR", str(tmp_path_factory.mktemp("report-e2e-media")))
    admin = served_database("gridgov_test_report_e2e")
    app_login = resident_app_login(admin)
    app = create_app(
        app_login,
        limits=RateLimits(per_address=None, per_key=None),
        report_limits=ReportLimits(per_device=None, per_address=None),
    )
    with serving(app) as url:
        yield url, admin
    app_login.dispose()
    admin.dispose()
    mp.undo()


@pytest.fixture
def phone(browser):  # type: ignore[no-untyped-def]
    """An emulated phone at the test area, with its position allowed; nothing leaves the
    machine (a request to anywhere else is refused and recorded)."""
    context = browser.new_context(
        **PHONE,
        locale="zh-CN",
        geolocation={"longitude": INSIDE_WEST[0], "latitude": INSIDE_WEST[1]},
        permissions=["geolocation"],
        service_workers="block",
    )
    context.external = []

    def guard(route):  # type: ignore[no-untyped-def]
        if route.request.url.startswith(LOCAL_PREFIXES):
            route.fallback()
        else:
            context.external.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    yield context
    context.close()


def _links(admin: sa.Engine) -> int:
    with admin.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM resident_links")).scalar_one())


def _photo_file(colour: tuple[int, int, int]) -> dict:
    return {"name": "lamp.jpg", "mimeType": "image/jpeg", "buffer": photo_with_gps(colour)}


def test_report_offline_follow_and_rate_back_to_rework(report_app, phone):
    base, admin = report_app
    page = phone.new_page()
    page.goto(f"{base}/report/")
    page.get_by_role("button", name=re.compile("路灯不亮")).wait_for()
    case_no, link = _report_offline_then_online(page, phone, admin)
    _duplicate_offer_and_follow(page, admin)
    _each_step_then_rate_and_not_fixed(page, base, admin, case_no, link)
    assert phone.external == []


def _report_offline_then_online(page, phone, admin) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    # -- offline: the report is kept on the phone ------------------------------------------
    phone.set_offline(True)
    page.get_by_role("button", name=re.compile("路灯不亮")).click()
    page.get_by_role("button", name=re.compile("使用我的位置")).click()
    page.get_by_text("已定位").wait_for()
    page.set_input_files("#photo", files=[_photo_file((200, 30, 30))])
    page.get_by_text("照片已备好").wait_for()
    page.fill("#description", f"门口路灯不亮，电话 {PLANTED_PHONE}")
    before = _links(admin)
    page.get_by_role("button", name=re.compile("^提交")).click()
    page.get_by_text("已保存在手机里").wait_for()
    assert _links(admin) == before

    # -- online: the first answer is lost on the way back; the re-send stores nothing new --
    lost = []

    def lose_first_answer(route):  # type: ignore[no-untyped-def]
        if not lost:
            lost.append(route.fetch().status)  # the server took it …
            route.abort()  # … and the phone never heard
        else:
            route.fallback()

    phone.route("**/report/api/reports", lose_first_answer)
    phone.set_offline(False)
    page.wait_for_function("() => true")
    for _ in range(100):
        if lost:
            break
        page.wait_for_timeout(100)
    assert lost == [201]
    assert _links(admin) == before + 1
    phone.set_offline(True)
    phone.set_offline(False)  # the network returns again: the outbox re-sends
    page.get_by_text("案件编号").wait_for()
    assert _links(admin) == before + 1  # stored once
    case_no = re.search(r"案件编号 ([0-9A-Za-z_-]+)", page.inner_text("#done-text")).group(1)  # type: ignore[union-attr]
    with admin.connect() as conn:
        media = conn.execute(
            sa.text("SELECT media FROM cases WHERE case_no = :n"), {"n": case_no}
        ).scalar_one()
    assert len(media) == 1 and media[0]["type"] == "photo"
    link = page.get_attribute("#done-link", "href")
    assert link and "#no=" in link
    return case_no, link


def _duplicate_offer_and_follow(page, admin) -> None:  # type: ignore[no-untyped-def]
    # -- the duplicate offer for a planted nearby case, and "follow" ------------------------
    with admin.begin() as conn:
        planted = report_case(
            conn=conn,
            report=validate_report(
                service_code="E0406", lon=INSIDE_WEST[0] + 0.0002, lat=INSIDE_WEST[1]
            ),
            actor="op1",
            role="operator",
        )
        reporters_before = conn.execute(
            sa.text("SELECT count(*) FROM reporters WHERE case_id = :i"), {"i": planted["case_id"]}
        ).scalar_one()
    page.get_by_role("button", name=re.compile("再反映一件")).click()
    page.get_by_role("button", name=re.compile("路上积水")).click()
    page.get_by_role("button", name=re.compile("使用我的位置")).click()
    page.get_by_text("已定位").wait_for()
    page.get_by_role("button", name=re.compile("^提交")).click()
    offer = page.locator("#dupe-list button.follow")
    offer.first.wait_for()
    assert offer.count() == 1
    offer.first.click()
    page.get_by_text(f"案件编号 {planted['case_no']}").wait_for()
    with admin.connect() as conn:
        reporters_after = conn.execute(
            sa.text("SELECT count(*) FROM reporters WHERE case_id = :i"), {"i": planted["case_id"]}
        ).scalar_one()
    assert reporters_after == reporters_before + 1


def _each_step_then_rate_and_not_fixed(page, base, admin, case_no, link) -> None:  # type: ignore[no-untyped-def]
    # -- the command centre dispatches and closes; the resident sees each step --------------
    page.goto(f"{base}{link}")
    page.locator('#steps li[data-step="received"].done').wait_for()
    assert page.locator('#steps li[data-step="assigned"].done').count() == 0
    # -- follow it by mail from its page: a subscription for this case, once ---------------
    page.fill("#f-contact", "not-an-address@")
    page.get_by_role("button", name=re.compile("通知我")).click()
    page.get_by_text("没有成功").wait_for()
    page.fill("#f-contact", "resident@example.org")
    page.get_by_role("button", name=re.compile("通知我")).click()
    page.get_by_text("每有变化都会通知您").wait_for()
    page.get_by_role("button", name=re.compile("通知我")).click()
    page.get_by_text("您已经在关注这件事").wait_for()
    with admin.connect() as conn:
        follows = conn.execute(
            sa.text(
                "SELECT count(*) FROM notify_subscriptions s JOIN cases c ON c.id = s.case_id"
                " WHERE c.case_no = :n AND s.kind = 'follow' AND s.address = :a"
            ),
            {"n": case_no, "a": "resident@example.org"},
        ).scalar_one()
    assert follows == 1
    command_centre(admin, case_no, until="dispatch")
    page.reload()
    page.locator('#steps li[data-step="assigned"].done').wait_for()
    department = case_row(admin, case_no)["department"]
    assert page.get_by_text(re.compile("已交给")).count() >= 1 and department
    page.get_by_text("预计").first.wait_for()
    command_centre(admin, case_no, until="start")
    page.reload()
    page.locator('#steps li[data-step="handling"].done').wait_for()
    command_centre(admin, case_no, until="close")
    page.reload()
    page.locator('#steps li[data-step="done"].done').wait_for()
    after = page.locator('#timeline li[data-action="handle"] img')
    after.wait_for()
    page.wait_for_function(
        "() => { const i = document.querySelector('#timeline li[data-action=\"handle\"] img');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    assert PLANTED_PHONE not in page.content()

    # -- rate, then "not fixed" with a photo: back in rework with the reason ----------------
    page.get_by_role("button", name=re.compile("基本满意")).click()
    page.get_by_text("谢谢您的评价").wait_for()
    assert case_row(admin, case_no)["satisfaction"] == 4
    page.locator("#notfixed").wait_for()
    page.fill("#nf-reason", f"晚上还是不亮，请打 {PLANTED_PHONE}")
    page.set_input_files("#nf-photo", files=[_photo_file((20, 20, 20))])
    page.get_by_text("照片已备好").wait_for()
    page.get_by_role("button", name=re.compile("没修好，请重新处理")).click()
    page.get_by_text("已退回重新处理").wait_for()
    row = case_row(admin, case_no)
    assert row["status"] == "dispatched" and row["reopen_count"] == 1
    with admin.connect() as conn:
        last = history(conn=conn, case_id=row["id"])[-1]
    assert last["action"] == "reopen" and "晚上还是不亮" in last["reason"]
    assert last["attachments"] and last["attachments"][0]["type"] == "photo"
    page.locator('#timeline li[data-action="reopen"]').wait_for()
    assert PLANTED_PHONE not in page.content()  # masked on the resident's page too


AXE_RUN = """async () => {
  const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
  const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  const bad = r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
    .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
  return {bad, passes: r.passes.length};
}"""


@pytest.mark.parametrize("mode", ["zh", "en", "large"])
def test_every_report_page_passes_axe(report_app, phone, mode):
    base, admin = report_app
    with admin.begin() as conn:
        case = report_case(
            conn=conn,
            report=validate_report(service_code="P0208", lon=INSIDE_WEST[0], lat=INSIDE_WEST[1]),
            actor="op1",
            role="operator",
        )
    page = phone.new_page()
    # a case page with a real link: follow the planted case through the API
    page.goto(f"{base}/report/")
    token = new_token()
    answer = page.evaluate(
        """async ([no, token]) => (await fetch(`/report/api/cases/${no}/reporters`, {
             method: 'POST', headers: {'Content-Type': 'application/json'},
             body: JSON.stringify({client_id: 'axe' + Math.random().toString(36).slice(2, 12),
                                   token})})).status""",
        [case["case_no"], token],
    )
    assert answer in (200, 201)
    # the switches are kept on the phone: flip the mode once with its button
    if mode == "en":
        page.click("#lang")
    elif mode == "large":
        page.click("#large")
    problems: dict[str, list[str]] = {}
    case_page = f"/report/case.html#no={case['case_no']}&t={token}"
    for path in ("/report/", case_page, "/report/watch.html", "/report/stats/"):
        page.goto(f"{base}{path}")
        page.wait_for_load_state("networkidle")
        if "case.html" in path:
            page.locator("#timeline li").first.wait_for()
        if "stats" in path:
            page.locator("#departments").wait_for()
        page.add_script_tag(url=f"{base}/vendor/axe-core/axe.min.js")
        found = page.evaluate(AXE_RUN)
        assert found["passes"] > 10  # axe ran and checked the page
        if found["bad"]:
            problems[path] = found["bad"]
        assert PLANTED_PHONE not in page.content()
        want = "en" if mode == "en" else "zh-CN"
        assert page.evaluate("document.documentElement.lang") == want
        if mode == "large":
            assert page.evaluate("document.documentElement.classList.contains('large')")
    assert problems == {}


def test_a_resident_watches_the_area_around_them(report_app, phone):
    base, admin = report_app
    page = phone.new_page()
    page.goto(f"{base}/report/")
    page.get_by_role("link", name=re.compile("关注附近")).click()
    page.get_by_label(re.compile("路灯不亮")).check()
    page.get_by_role("button", name=re.compile("开始关注")).click()
    page.get_by_text("请先点").wait_for()  # no position yet: nothing is sent
    page.get_by_role("button", name=re.compile("使用我的位置")).click()
    page.get_by_text("已定位").wait_for()
    page.fill("#w-contact", "13912345678")
    page.get_by_role("button", name=re.compile("开始关注")).click()
    page.get_by_text("附近有新情况会通知您").wait_for()
    with admin.connect() as conn:
        watch = conn.execute(
            sa.text(
                "SELECT channel, service_codes, radius_m, ST_X(geom) AS lon, ST_Y(geom) AS lat"
                " FROM notify_subscriptions WHERE kind = 'watch' ORDER BY id DESC LIMIT 1"
            )
        ).one()
    assert watch.channel == "sms" and watch.service_codes == ["P0208"] and watch.radius_m == 500
    assert abs(watch.lon - INSIDE_WEST[0]) < 1e-4 and abs(watch.lat - INSIDE_WEST[1]) < 1e-4
    assert phone.external == []


def test_the_app_opens_with_no_network_after_the_first_visit(report_app, browser):
    base, _ = report_app
    context = browser.new_context(**PHONE, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{base}/report/")
        page.get_by_role("button", name=re.compile("路灯不亮")).wait_for()
        page.evaluate("async () => { await navigator.serviceWorker.ready; }")
        page.reload()  # now controlled by the service worker, which caches what it serves
        page.get_by_role("button", name=re.compile("路灯不亮")).wait_for()
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        context.set_offline(True)
        page.reload()
        page.get_by_role("button", name=re.compile("路灯不亮")).wait_for()
        page.get_by_text("没有网络").wait_for()
    finally:
        context.close()
