"""Every page draws its map offline in a real browser, with a legend, and says what it shows."""

import time

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.e2e.conftest import ARTIFACTS, log_in, open_page
from tests.e2e.test_district_map import COUNT_FEATURES, _map_frame


@pytest.mark.parametrize(
    "path, title, min_features",
    [
        ("operator", "指挥调度", 1),  # open cases
        ("supervisor", "网格员巡查覆盖", 10),  # grids coloured by coverage
        ("leader", "热点与趋势", 3),  # H3 cells of the heat map
    ],
)
def test_page_map_draws_offline(dashboard, page, path, title, min_features):
    log_in(page, dashboard, "leader")
    open_page(page, title)
    frame = _map_frame(page)
    deadline = 30_000
    drawn = frame.evaluate(COUNT_FEATURES)
    while drawn < min_features and deadline > 0:
        page.wait_for_timeout(300)
        deadline -= 300
        drawn = frame.evaluate(COUNT_FEATURES)
    assert drawn >= min_features
    assert frame.locator(".gridgov-legend").count() >= 1
    page.screenshot(path=str(ARTIFACTS / f"{path}.png"), full_page=True)
    assert page.external_requests == []


def test_operator_opens_a_case_file_from_the_queue(dashboard, page):
    log_in(page, dashboard, "operator")
    open_page(page, "指挥调度")
    _map_frame(page)
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 20, box["y"] + 55)  # the first row's selection box
    page.locator("h3", has_text="案件编号").first.wait_for(timeout=30_000)
    # the file shows the handling unit (routing) and the history table beneath it
    page.locator('[data-testid="stDataFrame"]').nth(1).wait_for(timeout=30_000)
    assert page.get_by_text("处置部门", exact=True).count() >= 1
    page.screenshot(path=str(ARTIFACTS / "operator_case_file.png"), full_page=True)
    assert page.external_requests == []


@pytest.mark.parametrize("view, label", [("density", "核密度"), ("heat_grid", "网格热力")])
def test_leader_density_and_grid_heat_draw(dashboard, page, view, label):
    log_in(page, dashboard, "leader")
    open_page(page, "热点与趋势")
    page.locator('[data-testid="stSidebar"] label', has_text=label).first.click()
    legend = "案件/平方公里" if view == "density" else "每千户案件"
    frame = _frame_with_legend(page, legend)
    assert frame.evaluate(COUNT_FEATURES) >= 3  # density bands / grids drawn
    page.screenshot(path=str(ARTIFACTS / f"leader-{view}.png"), full_page=True)
    assert page.external_requests == []


def _frame_with_legend(page, text: str, timeout_s: float = 60):  # type: ignore[no-untyped-def]
    """The map frame once it shows a legend with ``text`` (the map reloads on a change)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in [f for f in page.frames if "st_folium" in f.url]:
            try:
                if frame.locator(".gridgov-legend", has_text=text).count():
                    return frame
            except PlaywrightError:  # a frame detached while we looked
                continue
        page.wait_for_timeout(300)
    raise AssertionError(f"no map legend with {text!r}")
