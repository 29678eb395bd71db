"""In a real browser: the login, a community supervisor's narrowed map, an operator's
action written to PostGIS, a handler's feedback with a photo, and the base-map choice
shared by every page."""

import struct
import zlib

import sqlalchemy as sa

from layers.media import read_photo
from tests.e2e.conftest import ARTIFACTS, MEDIA, log_in, open_page
from tests.e2e.test_district_map import _features_when_settled, _map_frame


def test_a_community_supervisor_sees_only_its_community(dashboard, page, demo_engine):
    with demo_engine.connect() as conn:
        own = conn.execute(
            sa.text("SELECT area FROM app_users WHERE username = 'supervisor'")
        ).scalar_one()
        # its community, the community's grids and open cases: nothing of the others
        expected = conn.execute(
            sa.text("""
            SELECT 1 + (SELECT count(*) FROM grids_current g JOIN communities m
                        ON m.id = g.community_id WHERE m.code = :c)
                     + (SELECT count(*) FROM cases c JOIN case_statuses s ON s.code = c.status
                        JOIN communities m ON m.id = c.community_id
                        WHERE s.is_open AND m.code = :c)"""),
            {"c": own},
        ).scalar_one()
        everything = conn.execute(
            sa.text("""SELECT (SELECT count(*) FROM communities)
                            + (SELECT count(*) FROM grids_current)""")
        ).scalar_one()
    page.goto(dashboard)
    page.get_by_role("button", name="登录").wait_for(timeout=30_000)  # the form comes first
    assert not any("st_folium" in f.url for f in page.frames)
    log_in(page, dashboard, "supervisor")
    frame = _map_frame(page)
    assert expected < everything
    assert _features_when_settled(frame, expected) == expected
    assert frame.locator(".gridgov-legend").count() == 1
    # the menu offers no operator page to a supervisor
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "指挥调度" not in nav and "网格员巡查覆盖" in nav
    page.screenshot(path=str(ARTIFACTS / "supervisor_community_map.png"), full_page=True)
    assert page.external_requests == []


def test_an_operator_accepts_a_case_and_postgis_records_it(scratch_dashboard, page, scratch_engine):
    from tests.dashboard.scratch import new_case

    case_id, case_no = new_case(scratch_engine, upto="reported")
    log_in(page, scratch_dashboard, "operator")
    open_page(page, "指挥调度")
    _map_frame(page)
    grid = page.locator('[data-testid="stDataFrame"]').first
    # the queue is drawn (a canvas: its cells are hidden accessibility nodes); other tests
    # leave urgent new reports that lead it, so the case is opened by its number, as an
    # operator does for a caller asking after their case
    grid.locator("#glide-cell-1-0").wait_for(state="attached", timeout=30_000)
    find = page.get_by_label("按案件编号查找")
    find.fill(case_no)
    find.press("Enter")
    page.locator("h3", has_text=case_no).first.wait_for(timeout=30_000)
    page.get_by_text("可执行操作").wait_for()
    page.locator('[data-testid="stRadio"] label', has_text="受理").first.click()
    page.get_by_role("button", name="执行").click()
    page.get_by_text("已完成").wait_for(timeout=30_000)
    # the file still shows this case, now accepted (the queue reordered under it)
    assert page.locator("h3", has_text=case_no).count() == 1
    status = page.locator('[data-testid="stMetric"]', has_text="状态").first.inner_text()
    assert "已受理" in status
    page.screenshot(path=str(ARTIFACTS / "operator_accepted_case.png"), full_page=True)
    with scratch_engine.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM cases WHERE id = :i"), {"i": case_id}
        ).scalar_one()
        last = conn.execute(
            sa.text(
                "SELECT actor, role, from_status, to_status FROM case_events "
                "WHERE case_id = :i ORDER BY id DESC LIMIT 1"
            ),
            {"i": case_id},
        ).one()
    assert status == "accepted"
    assert tuple(last) == ("operator", "operator", "reported", "accepted")
    assert page.external_requests == []


def _png(width: int = 16, height: int = 12) -> bytes:
    """A small, valid, orange PNG (what a photo upload needs to be decodable)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xf0\x80\x20" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_a_handler_finds_a_case_and_sends_feedback_with_a_photo(
    scratch_dashboard, page, scratch_engine, tmp_path
):
    from tests.dashboard.scratch import new_case

    case_id, case_no = new_case(scratch_engine, upto="in_handling")
    photo = tmp_path / "现场.png"
    photo.write_bytes(_png())
    log_in(page, scratch_dashboard, "handler")
    open_page(page, "指挥调度")
    search = page.get_by_label("按案件编号查找")
    search.fill(case_no)
    search.press("Enter")
    page.locator("h3", has_text=case_no).first.wait_for(timeout=30_000)
    page.locator('[data-testid="stRadio"] label', has_text="处置完毕").first.click()
    page.get_by_label("原因").fill("已清理 / cleared")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(photo))
    page.get_by_text("现场.png").wait_for(timeout=30_000)
    page.get_by_role("button", name="执行").click()
    page.get_by_text("已完成").wait_for(timeout=30_000)
    status = page.locator('[data-testid="stMetric"]', has_text="状态").first.inner_text()
    assert "已处置" in status
    # the photo is shown in the case file, read by the server (not a public static file)
    page.locator('[data-testid="stImage"] img').first.wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "handler_feedback_photo.png"), full_page=True)
    with scratch_engine.connect() as conn:
        row = conn.execute(
            sa.text("""SELECT c.status, e.actor, e.role, e.reason, e.attachments
                       FROM cases c JOIN case_events e ON e.case_id = c.id
                       WHERE c.id = :i ORDER BY e.id DESC LIMIT 1"""),
            {"i": case_id},
        ).one()
    assert row[:4] == ("handled", "handler", "handler", "已清理 / cleared")
    (attachment,) = row.attachments
    assert attachment["name"] == "现场.png" and attachment["mime"] == "image/png"
    assert read_photo(attachment["path"], root=MEDIA) == photo.read_bytes()
    assert page.external_requests == []


def test_the_base_map_choice_is_shared_by_every_page(dashboard, page):
    log_in(page, dashboard, "leader")
    frame = _map_frame(page)
    assert frame.locator(".leaflet-tile").count() == 0  # default: none, fully offline
    page.locator('[data-testid="stSelectbox"]', has_text="底图").click()
    page.get_by_role("option", name="OpenStreetMap（需互联网）").click()
    for title in ("指挥调度", "网格员巡查覆盖", "热点与趋势"):
        open_page(page, title)
        deadline = 60
        frame = _map_frame(page)
        while frame.locator(".leaflet-tile").count() == 0 and deadline:
            page.wait_for_timeout(500)
            frame = _map_frame(page)
            deadline -= 1
        assert frame.locator(".leaflet-tile").count() > 0, title
    # the tiles were asked for (and refused by the test's network guard)
    assert any("tile.openstreetmap.org" in url for url in page.external_requests)
