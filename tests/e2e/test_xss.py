"""Issue 13 finding 2 in a real browser: planted markup in a case number, a description
and a community name is shown as text — no script runs, no remote image is fetched."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa

from layers.media import store_photo
from layers.workflow.transitions import transition
from tests.e2e.conftest import ARTIFACTS, MEDIA, log_in, open_page, serve
from tests.e2e.test_district_map import _map_frame
from tests.e2e.test_login_and_actions import _png
from tests.workflow.factories import in_scope

EVIL = "xss.invalid"
# no spaces: the case-number search ignores them
CASE_NO = f'<img/src="http://{EVIL}/case.png"/onerror="alert(\'case\')">'
COMMUNITY = f"<img src=http://{EVIL}/community.png onerror=alert('community')>社区"
DESCRIPTION = (
    f"![photo](http://{EVIL}/description.png) [URGENT 紧急](http://{EVIL}/link) "
    f":red[URGENT] <img src=http://{EVIL}/raw.png onerror=alert('description')>"
)

HOVER_EVERY_FEATURE = """() => {
  const key = Object.keys(window).find(k => { try { return window[k] instanceof L.Map; }
                                              catch (e) { return false; } });
  const texts = [];
  window[key].eachLayer(l => {
    if (!l.feature) return;
    const at = l.getLatLng ? l.getLatLng() : l.getBounds().getCenter();
    l.fire('mouseover', {latlng: at}, true);   // what a hover does: the tooltip opens
    document.querySelectorAll('.leaflet-tooltip').forEach(t => texts.push(t.textContent));
    l.fire('mouseout', {latlng: at}, true);
  });
  return texts;
}"""


@pytest.fixture(scope="module")
def planted(small_district):  # type: ignore[no-untyped-def]
    """A district of its own with one open case and one community carrying payloads."""
    from tests.dashboard.scratch import new_case, scratch_district

    engine = scratch_district(small_district, "gridgov_test_xss")
    case_id, _ = new_case(engine, upto="reported")
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE cases SET case_no = :n, description = :d WHERE id = :i"),
            {"n": CASE_NO, "d": DESCRIPTION, "i": case_id},
        )
        conn.execute(
            sa.text("""UPDATE communities SET name_zh = :n, name_en = :n
                       WHERE id = (SELECT community_id FROM cases WHERE id = :i)"""),
            {"n": COMMUNITY, "i": case_id},
        )
        # a photo in its history: the case file must show it inline, not via /media/
        photo = store_photo(_png(), case_id=case_id, name="现场.png", root=MEDIA)
        with in_scope(conn=conn, role="operator"):
            transition(
                conn=conn,
                case_id=case_id,
                action="accept",
                actor="test",
                role="operator",
                expected_version=1,
                attachments=[photo],
            )
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def xss_dashboard(planted) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with serve(planted.url.render_as_string(hide_password=False), "streamlit-xss.log") as url:
        yield url


def _watch(page):  # type: ignore[no-untyped-def]
    dialogs: list[str] = []
    requests: list[str] = []

    def on_dialog(dialog):  # type: ignore[no-untyped-def]
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.context.on("request", lambda r: requests.append(r.url))
    return dialogs, requests


def test_map_tooltips_show_planted_markup_as_text(xss_dashboard, page):
    dialogs, requests = _watch(page)
    log_in(page, xss_dashboard, "operator")
    open_page(page, "指挥调度")
    frame = _map_frame(page)
    texts = frame.evaluate(HOVER_EVERY_FEATURE)
    page.wait_for_timeout(1500)  # an injected <img> would have fired onerror by now
    page.screenshot(path=str(ARTIFACTS / "xss_tooltips.png"), full_page=True)
    assert any(CASE_NO in t for t in texts), "the case's tooltip shows its number as text"
    assert any(COMMUNITY in t for t in texts), "the community's tooltip shows its name as text"
    assert frame.locator("img[src*='xss.invalid']").count() == 0
    assert dialogs == []
    assert [u for u in requests if EVIL in u] == []


def test_the_case_file_shows_the_description_as_plain_text(xss_dashboard, page):
    dialogs, requests = _watch(page)
    log_in(page, xss_dashboard, "operator")
    open_page(page, "指挥调度")
    search = page.get_by_label("按案件编号查找")
    search.fill(CASE_NO)
    search.press("Enter")
    page.get_by_text(DESCRIPTION).first.wait_for(timeout=30_000)
    page.get_by_text("可执行操作").wait_for()
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTIFACTS / "xss_case_file.png"), full_page=True)
    heading = page.locator("h3", has_text="xss").first.inner_text().replace("\u2060", "")
    assert CASE_NO in heading  # the number as typed, not an image
    assert page.locator(f"a[href*='{EVIL}']").count() == 0
    assert page.locator(f"img[src*='{EVIL}']").count() == 0
    assert page.locator("[data-testid='stMarkdownContainer'] span[style*='red']").count() == 0
    # the history's photo is inline in this session: no URL anyone else could fetch
    image = page.locator('[data-testid="stImage"] img').first
    image.wait_for(timeout=30_000)
    assert image.get_attribute("src").startswith("data:image/png;base64,")
    assert [u for u in requests if urlparse(u).path.startswith("/media/")] == []
    captions = page.locator("[data-testid='stCaptionContainer']").all_inner_texts()
    assert any(COMMUNITY in text.replace("\u2060", "") for text in captions)
    assert dialogs == []
    assert [u for u in requests if EVIL in u] == []
