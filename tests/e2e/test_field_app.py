"""Issue 15's bar, in a real browser: the field app on an emulated phone, offline, then synced.

A grid worker (Playwright's Pixel 5, geolocation set) signs in, the network goes off, the app
is opened again from the service worker's cache, and the worker reports 3 cases with photos,
handles 1 on the spot (before/after photos), verifies 1 case on site and walks 30 GPS fixes.
The network comes back; the first sync reaches the real API (``uvicorn api.app:create_app``,
a subprocess on the app's own non-superuser login), which applies it — and is then killed
(SIGKILL) before the phone hears the answer. The API is started again on the same port and
the phone's outbox sends again: every item is in PostGIS exactly once, with history rows by
the grid worker's role. Screenshots are kept in tests/artifacts/field_*.png.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from layers.auth import DEMO_PASSWORD
from layers.workflow.cases_api import report_case, validate_report
from services.field import link_worker
from tests.api.server import free_port, start_api_process, wait_for_api
from tests.e2e.conftest import ARTIFACTS, DEVICES, LOCAL_PREFIXES, MEDIA
from tests.workflow.factories import in_scope

ROOT = Path(__file__).resolve().parents[2]
PIN = "2468"
WALK = 30
FIELD_LOGIN = "gridgov_test_field_app" + os.environ.get("GRIDGOV_TEST_DB_SUFFIX", "").lower()
STEP_DEG = 0.00007  # ~7.8 m north per fix: 1 fix / 0.7 s is ~11 m/s, under the 15 m/s limit


class Api:
    """``gridgov``'s API as a subprocess on a fixed loopback port: start, kill -9, start."""

    def __init__(self, database_url: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "GRIDGOV_API_RATE_ADDRESS": "off",
            "GRIDGOV_MEDIA_DIR": str(MEDIA),
        }
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.log = (ARTIFACTS / "field-api.log").open("a")
        self.proc = start_api_process(port=self.port, env=self.env, log=self.log)
        try:
            wait_for_api(f"{self.base}/field/", proc=self.proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; see tests/artifacts/field-api.log") from exc

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(20)
        self.log.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
        if not self.log.closed:
            self.log.close()


@pytest.fixture(scope="module")
def field_world(scratch_engine) -> Iterator[dict]:  # type: ignore[no-untyped-def]
    """The demo grid worker linked to the worker of the first community's first grid, a
    reported case inside that grid to verify, and the API serving the app."""
    with scratch_engine.begin() as conn:
        worker_id, worker_code, lon, lat, service = conn.execute(
            sa.text("""
            SELECT w.id, w.code, ST_X(p), ST_Y(p), k.service_code
            FROM grids_current g JOIN workers w ON w.id = g.worker_id
            JOIN communities c ON c.id = g.community_id,
            LATERAL ST_PointOnSurface(g.geom) p,
            LATERAL (SELECT service_code FROM categories WHERE kind = 'event' AND level = 2
                     ORDER BY service_code LIMIT 1) k
            WHERE c.code = (SELECT code FROM communities ORDER BY code LIMIT 1)
            ORDER BY g.code LIMIT 1""")
        ).one()
    link_worker(scratch_engine, username="grid_worker", worker_code=worker_code)
    marker = uuid.uuid4().hex[:8]
    with scratch_engine.begin() as conn, in_scope(conn=conn, role="operator"):
        case = report_case(
            conn=conn,
            report=validate_report(
                service_code=service, lon=lon, lat=lat, description=f"待核实 to verify {marker}"
            ),
            actor="test",
            role="operator",
        )
    api = Api(_own_app_login(scratch_engine))
    api.start()
    try:
        yield {
            "api": api,
            "worker_id": worker_id,
            "lon": lon,
            "lat": lat,
            "case_id": int(case["case_id"]),
            "case_no": str(case["case_no"]),
            "marker": marker,
            "started": datetime.now(UTC),
            "engine": scratch_engine,
        }
    finally:
        api.stop()


def _own_app_login(admin) -> str:  # type: ignore[no-untyped-def]
    """URL of a login of this test's own that is a member of ``gridgov_app`` and nothing else,
    like the app's production login (``tests.conftest.app_login_engine``'s shared login gets
    a new password whenever another test run on this server makes it)."""
    password = uuid.uuid4().hex
    with admin.begin() as conn:
        conn.execute(
            sa.text(f"""
            DO $$ BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{FIELD_LOGIN}') THEN
                    CREATE ROLE {FIELD_LOGIN} LOGIN;
                END IF;
            END $$""")
        )
        conn.execute(
            sa.text(f"ALTER ROLE {FIELD_LOGIN} LOGIN INHERIT NOSUPERUSER PASSWORD '{password}'")
        )
        conn.execute(sa.text(f"GRANT gridgov_app TO {FIELD_LOGIN}"))
    url = admin.url.set(username=FIELD_LOGIN, password=password)
    return url.render_as_string(hide_password=False)


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1200, 900), colour).save(out, "JPEG", quality=92)
    return out.getvalue()


def _photo(page, picker: str, colour: tuple[int, int, int]) -> None:  # type: ignore[no-untyped-def]
    box = page.locator(picker)
    before = int(box.get_attribute("data-count") or 0)
    box.locator("input[type=file]").set_input_files(
        files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": _jpeg(colour)}]
    )
    page.wait_for_selector(f"{picker}[data-count='{before + 1}']")


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(ARTIFACTS / f"field_{name}.png"))


def _pending(page) -> int:  # type: ignore[no-untyped-def]
    return int(page.get_attribute("body", "data-pending") or -1)


def _report(page, n: int, marker: str, *, fix: bool = False) -> None:  # type: ignore[no-untyped-def]
    page.click("#tab-report")
    page.wait_for_selector("#report-form")
    if fix:
        page.click("#mode-fix")
    page.fill("#category-search", "垃圾" if n % 2 else "井盖")
    page.locator("#category-list .cat").first.click()
    if fix:
        _photo(page, "fieldset[data-picker=before]", (120, 90, 40))
        _photo(page, "fieldset[data-picker=after]", (40, 160, 60))
    else:
        _photo(page, "fieldset[data-picker=photos]", (200, 30 + 40 * n, 30))
    if n == 2:  # one report placed by a tap on the map (location_source "map")
        page.click("#use-map")
        mini = page.locator("#report-map")
        box = mini.bounding_box()
        mini.click(position={"x": box["width"] / 2 + 20, "y": box["height"] - 30})
        page.wait_for_selector("#report-where >> text=Tap on the map")
    kind = "fix" if fix else "report"
    page.fill("#description", f"e2e {kind} {n} {marker} <b>不是HTML</b>")
    if n == 1:
        _shot(page, "report_form")
    before = _pending(page)
    page.click("#report-submit")
    page.wait_for_function(f"() => document.body.dataset.pending === '{before + 1}'")


def test_offline_field_work_lands_exactly_once(browser, field_world) -> None:  # type: ignore[no-untyped-def]
    w = field_world
    here = {"latitude": w["lat"], "longitude": w["lon"], "accuracy": 8}
    context = browser.new_context(
        **DEVICES["Pixel 5"], geolocation=here, permissions=["geolocation"], locale="zh-CN"
    )
    external: list[str] = []

    def guard(route):  # type: ignore[no-untyped-def]
        if route.request.url.startswith(LOCAL_PREFIXES):
            route.fallback()
        else:
            external.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        _sign_in(page, w)
        _reopen_offline(context, page)
        recorded = _offline_work(context, page, w, here)
        answers = _sync_through_kills(context, page, w["api"])
    except Exception:
        _shot(page, "failure")
        raise
    finally:
        context.close()
    assert not errors, errors
    assert not external, external
    # the re-sent actions got the stored results (same cases), not new ones
    first = answers["sync"]["results"]
    again = answers["sync_again"]["results"]
    assert [(r["client_id"], r["case_id"]) for r in again] == [
        (r["client_id"], r["case_id"]) for r in first
    ]
    # the fixes the dead server had stored came back as duplicates, not as new rows
    batch = answers["fixes"]
    assert batch["stored"] + batch["duplicates"] == recorded and not batch["aside"], batch
    assert batch["stored"] >= WALK
    assert answers["fixes_again"]["stored"] == 0, answers["fixes_again"]
    assert answers["fixes_again"]["duplicates"] == recorded
    _check_database(w, results=first)


def _sign_in(page, w: dict, *, queue: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Sign in (online) and choose a PIN; the app caches its data and its shell."""
    page.goto(f"{w['api'].base}/field/")
    page.fill("input[name=username]", "grid_worker")
    page.fill("input[name=password]", DEMO_PASSWORD)
    _shot(page, "signin")
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#pin-form", timeout=60_000)  # password hashing on a busy machine
    page.fill("input[name=pin]", PIN)
    page.fill("input[name=pin_again]", PIN)
    page.click("#pin-form button[type=submit]")
    page.wait_for_selector("#view-map[data-drawn]")
    page.wait_for_function("() => document.querySelectorAll('#main-map path').length > 0")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=30_000)
    page.wait_for_selector("#outbox-status >> text=数据更新于")  # the data is cached
    if queue:
        page.click("#tab-tasks")
        page.wait_for_selector(f"[data-case-no='{w['case_no']}']")
        _shot(page, "queue_online")


def _reopen_offline(context, page) -> None:  # type: ignore[no-untyped-def]
    """The network goes off; the app opens again from the cache and unlocks with the PIN."""
    context.set_offline(True)
    page.reload()
    page.wait_for_selector("#unlock-form")
    page.fill("input[name=pin]", "0000")
    page.click("#unlock-form button[type=submit]")
    page.wait_for_selector("#unlock-form >> text=PIN 错误")
    page.fill("input[name=pin]", PIN)
    page.click("#unlock-form button[type=submit]")
    page.wait_for_selector("#view-map[data-drawn]")
    page.wait_for_function("() => document.querySelectorAll('#main-map path').length > 0")
    page.wait_for_selector("#net >> text=离线")
    _shot(page, "map_offline")


def _offline_work(context, page, w: dict, here: dict) -> int:  # type: ignore[no-untyped-def]
    """3 reports with photos, 1 fixed on the spot, 1 verified on site, a walk of 30 fixes;
    returns how many fixes the app recorded."""
    for n in (1, 2, 3):
        _report(page, n, w["marker"])
    _report(page, 4, w["marker"], fix=True)
    page.click("#tab-tasks")
    card = page.locator(f"[data-case-no='{w['case_no']}']")
    card.locator("[data-action=verify]").click()
    _photo(page, "#form-verify fieldset.photos", (90, 90, 200))
    page.wait_for_selector("#form-verify .where.ok")
    _shot(page, "verify_form")
    page.click("#form-verify button[type=submit]")
    page.wait_for_function("() => document.body.dataset.pending === '5'")
    fixes_before = int(page.get_attribute("body", "data-fixes") or 0)
    for i in range(1, WALK + 1):  # north through the grid at a brisk walk
        context.set_geolocation({**here, "latitude": w["lat"] + i * STEP_DEG})
        page.wait_for_function(f"() => document.body.dataset.fixes === '{fixes_before + i}'")
        page.wait_for_timeout(700)
    recorded = int(page.get_attribute("body", "data-fixes") or 0)
    assert recorded >= WALK
    page.click("#tab-outbox")
    page.wait_for_selector("#outbox-list")
    _shot(page, "outbox_offline")
    return recorded


def _sync_through_kills(context, page, api: Api) -> dict:  # type: ignore[no-untyped-def]
    """Online again. The first sync and the first batch of fixes each reach the server, which
    applies them and is killed (SIGKILL) before the phone hears the answer; the server is
    started again and the phone sends again. Returns the answers the phone never got."""
    lost: dict = {}

    def kill_after_applying(name: str):  # type: ignore[no-untyped-def]
        def handle(route):  # type: ignore[no-untyped-def]
            if name in lost:  # the re-send after the restart: keep its answer too
                answer = route.fetch()
                lost.setdefault(f"{name}_again", answer.json() if answer.ok else {})
                route.fulfill(response=answer)
                return
            answer = route.fetch()  # the server applies the whole request …
            lost[name] = answer.json() if answer.status == 200 else {"status": answer.status}
            api.kill()  # … and dies before the phone hears of it
            route.abort("connectionreset")

        return handle

    context.route("**/field/api/sync", kill_after_applying("sync"))
    context.route("**/field/api/fixes", kill_after_applying("fixes"))
    context.set_offline(False)
    for name, still_waiting in (("sync", "pending"), ("fixes", "fixes")):
        deadline = time.monotonic() + 60
        while name not in lost and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert name in lost, f"the app did not send its {name} when the network came back"
        assert int(page.get_attribute("body", f"data-{still_waiting}") or 0) > 0
        api.start()
        page.click("#sync-now")
    assert all(r["ok"] for r in lost["sync"]["results"]), lost["sync"]
    page.wait_for_function("() => document.body.dataset.pending === '0'", timeout=60_000)
    page.wait_for_function("() => document.body.dataset.fixes === '0'", timeout=60_000)
    page.click("#tab-outbox")
    page.wait_for_selector("#outbox-list [data-state=done]")
    _shot(page, "outbox_synced")
    assert page.locator("#outbox-list [data-state=refused]").count() == 0
    assert page.locator("#outbox-list [data-state=done]").count() == 5
    return lost


def _check_database(w: dict, *, results: list[dict]) -> None:
    with w["engine"].connect() as conn:
        cases = conn.execute(
            sa.text("""
            SELECT id, source, status, description, jsonb_array_length(media) AS photos
            FROM cases WHERE description LIKE :m ORDER BY id"""),
            {"m": f"e2e % {w['marker']} %"},
        ).all()
        assert len(cases) == 4, cases  # 3 reports + 1 fixed on the spot, none twice
        assert {c.source for c in cases} == {"patrol"}
        assert sorted(c.status for c in cases) == ["closed", "reported", "reported", "reported"]
        assert all(c.photos >= 1 for c in cases)
        # the text was stored as text
        assert all("<b>不是HTML</b>" in c.description for c in cases)
        ids = [c.id for c in cases] + [w["case_id"]]
        events = conn.execute(
            sa.text("""
            SELECT case_id, action, role, actor, count(*) AS n FROM case_events
            WHERE case_id = ANY(:ids) AND role = 'grid_worker'
            GROUP BY 1, 2, 3, 4"""),
            {"ids": ids},
        ).all()
        assert all(e.n == 1 for e in events), events  # no step twice
        assert all(e.actor == "grid_worker" for e in events)
        by_case: dict[int, set[str]] = {}
        for e in events:
            by_case.setdefault(e.case_id, set()).add(e.action)
        assert set(by_case) == set(ids), by_case  # every item has its worker's history
        assert "verify" in by_case[w["case_id"]]
        points = conn.execute(
            sa.text("""
            SELECT count(*) AS n, count(DISTINCT at) AS d FROM patrol_points
            WHERE worker_id = :w AND at >= :t"""),
            {"w": w["worker_id"], "t": w["started"]},
        ).one()
        assert points.d == points.n  # no fix twice
        assert points.n >= WALK
    assert {r["case_id"] for r in results if r.get("case_id")} >= set(ids)


def test_a_token_revoked_while_offline_keeps_the_outbox(browser, field_world) -> None:  # type: ignore[no-untyped-def]
    """The device is revoked while the phone is offline: its report is kept, the app asks
    for a new sign-in, and the report is sent (once) after it."""
    from services.field import list_devices, revoke_device

    w = field_world
    here = {"latitude": w["lat"], "longitude": w["lon"], "accuracy": 8}
    context = browser.new_context(
        **DEVICES["Pixel 5"], geolocation=here, permissions=["geolocation"], locale="zh-CN"
    )
    page = context.new_page()
    marker = uuid.uuid4().hex[:8]
    try:
        _sign_in(page, w, queue=False)
        context.set_offline(True)
        _report(page, 1, marker)
        for device in list_devices(w["engine"], username="grid_worker"):
            revoke_device(w["engine"], device_id=device.device_id)
        context.set_offline(False)
        page.wait_for_selector("#signin-form >> text=注销", timeout=60_000)
        _shot(page, "revoked")
        _sign_in(page, w, queue=False)
        page.wait_for_function("() => document.body.dataset.pending === '0'", timeout=60_000)
    except Exception:
        _shot(page, "failure_revoked")
        raise
    finally:
        context.close()
    with w["engine"].connect() as conn:
        n = conn.execute(
            sa.text("SELECT count(*) FROM cases WHERE description LIKE :m"),
            {"m": f"e2e % {marker} %"},
        ).scalar_one()
    assert n == 1


AXE_RUN = """async () => {
  const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
  const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  const bad = r.violations
    .map(v => v.id + ' (' + v.impact + '): '
      + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
  return {bad, passes: r.passes.length};
}"""


def test_every_field_page_passes_axe(browser, field_world) -> None:  # type: ignore[no-untyped-def]  # noqa: PLR0915 (one walk through the screens)
    """axe-core (WCAG 2.0/2.1 A and AA, every impact) on each screen of the field app:
    sign-in, PIN, map, tasks, plan, report, fix on the spot, verify, outbox, unlock."""
    w = field_world
    here = {"latitude": w["lat"], "longitude": w["lon"], "accuracy": 8}
    with w["engine"].begin() as conn, in_scope(conn=conn, role="operator"):
        service = conn.execute(
            sa.text(
                "SELECT service_code FROM categories WHERE kind = 'event' AND level = 2 "
                "ORDER BY service_code LIMIT 1"
            )
        ).scalar_one()
        case_no = report_case(  # a case of its own to verify (the other test verifies its)
            conn=conn,
            report=validate_report(service_code=service, lon=w["lon"], lat=w["lat"]),
            actor="test",
            role="operator",
        )["case_no"]
    context = browser.new_context(
        **DEVICES["Pixel 5"], geolocation=here, permissions=["geolocation"], locale="zh-CN"
    )
    page = context.new_page()
    problems: dict[str, list[str]] = {}

    def check(name: str) -> None:
        page.add_script_tag(url=f"{w['api'].base}/vendor/axe-core/axe.min.js")
        found = page.evaluate(AXE_RUN)
        assert found["passes"] > 5, name  # axe ran and checked the page
        if found["bad"]:
            problems[name] = found["bad"]

    try:
        page.goto(f"{w['api'].base}/field/")
        page.wait_for_selector("input[name=username]")
        check("signin")
        page.fill("input[name=username]", "grid_worker")
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.click("#signin-form button[type=submit]")
        page.wait_for_selector("#pin-form", timeout=60_000)
        check("pin")
        page.fill("input[name=pin]", PIN)
        page.fill("input[name=pin_again]", PIN)
        page.click("#pin-form button[type=submit]")
        page.wait_for_selector("#view-map[data-drawn]")
        check("map")
        page.click("#tab-tasks")
        page.wait_for_selector(f"[data-case-no='{case_no}']")
        check("tasks")
        page.locator(f"[data-case-no='{case_no}'] [data-action=verify]").click()
        page.wait_for_selector("#form-verify")
        check("verify")
        page.click("#tab-plan")
        page.wait_for_timeout(300)
        check("plan")
        page.click("#tab-outbox")
        page.wait_for_selector("#outbox-sync")  # empty: no list, a note
        check("outbox")
        page.click("#tab-report")
        page.wait_for_selector("#report-form")
        check("report")
        page.click("#mode-fix")
        page.wait_for_selector("fieldset[data-picker=before]")
        check("fix_on_spot")
        page.reload()
        page.wait_for_selector("#unlock-form")
        check("unlock")
    except Exception:
        _shot(page, "axe_failure")
        raise
    finally:
        context.close()
    assert problems == {}, problems
