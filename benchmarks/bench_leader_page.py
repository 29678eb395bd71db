"""The leader page with 1,000,000 cases: this branch's page against today's (main's) page,
in the same run, on the same database, in the real app driven by headless Chromium.

Measured for each page, logged in as the demo leader and reached from the sidebar menu:

- first render: from the menu click until the Leaflet map holds its features, cold
  (the first visit after the server started: nothing cached) and warm (later visits:
  Streamlit's cache holds the window's data);
- a filter change: the area picker narrowed to one community (a different one on each
  visit, so each is a first time), until the map has redrawn: first 0.5 s after the page
  was drawn (the new page: after its headline measures appeared, while its deferred run
  may still be drawing the rest), then again, to another community, once each page is at
  rest (Streamlit shows no running script for 1.5 s) — each page from the same state.

Baseline: today's page is main's tree (``git archive <ref>``, default ``main``) served by
a second Streamlit server on the same database, sharing this checkout's static assets.
Each page gets its own server; visits alternate between them. The database is
``gridgov_bench_leader`` on the configured server (loaded once with the demo street at
``--cases``; kept for re-runs). Run::

    uv run python benchmarks/bench_leader_page.py [--cases 1000000] [--visits 3] [--ref main]

Prints each figure, the ratio new / today's, and the load average (``uptime``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_dashboard as dash  # noqa: E402

DB = "gridgov_bench_leader"
TITLE = "热点与趋势"


def baseline_tree(ref: str, into: Path) -> Path:
    """Main's tree (``ref``) exported into ``into``, with this checkout's static assets."""
    archive = into / "tree.tar"
    subprocess.run(["git", "archive", "-o", str(archive), ref], cwd=ROOT, check=True)
    tree = into / "tree"
    tree.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    (tree / "static").symlink_to(ROOT / "static")
    return tree


def serve(tree: Path, url: str) -> tuple[subprocess.Popen, str]:
    """The dashboard of ``tree`` on a free loopback port (its own modules first)."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(tree / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=tree,
        env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(tree)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    import urllib.request

    for _ in range(400):
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1):
                return proc, base
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"the dashboard of {tree} did not start")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def visit(browser, base: str, community_index: int, *, measured: bool) -> dict:  # type: ignore[no-untyped-def]
    """Log in, open the leader page from the menu (timed), then narrow the area (timed)."""
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    page = context.new_page()
    page.goto(base)
    page.get_by_label("用户名").fill(dash.USER)
    page.get_by_label("密码").fill(dash.DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    first = dash._wait_for_map(page, timeout_s=600)
    page.wait_for_timeout(300)
    started = time.perf_counter()
    page.locator('[data-testid="stSidebarNav"] a', has_text=TITLE).click()
    page.get_by_role("heading", name=TITLE).first.wait_for(timeout=600_000)
    frame = dash._wait_for_map(page, timeout_s=600, not_frame=first)
    render = time.perf_counter() - started
    measures = None  # today's page keeps them behind a toggle
    headline = page.locator('[data-testid="stMetricLabel"]', has_text="按期结案率")
    if measured:
        headline.first.wait_for(timeout=600_000)
        measures = time.perf_counter() - started
    page.wait_for_timeout(500)
    change, frame = _area_change(page, frame, community_index)
    # the same step on a page at rest (every run over: the new page's deferred figures are
    # drawn), to another community: each page from the same state
    _wait_idle(page)
    idle, frame = _area_change(page, frame, community_index + 5)
    context.close()
    return {"render_s": render, "measures_s": measures, "change_s": change, "idle_s": idle}


def _area_change(page, frame, community_index: int):  # type: ignore[no-untyped-def]
    """Pick the ``community_index``-th area; seconds until the map holds other features."""
    before = frame.evaluate(dash.COUNT_FEATURES)
    started = time.perf_counter()
    page.locator('[data-testid="stSelectbox"]', has_text="区域").click()
    page.get_by_role("option").nth(community_index).click()
    deadline = time.perf_counter() + 600
    while time.perf_counter() < deadline:
        frame = next((f for f in page.frames if "st_folium" in f.url), frame)
        try:
            now = frame.evaluate(dash.COUNT_FEATURES)
        except Exception:  # the map is being replaced
            now = -1
        if now > 0 and now != before:
            return time.perf_counter() - started, frame
        page.wait_for_timeout(50)
    return None, frame


def _wait_idle(page, quiet_s: float = 1.5, timeout_s: float = 120) -> None:  # type: ignore[no-untyped-def]
    """Until Streamlit has shown no running script for ``quiet_s`` (its status widget)."""
    deadline = time.perf_counter() + timeout_s
    quiet_since = time.perf_counter()
    while time.perf_counter() < deadline:
        if page.locator('[data-testid="stStatusWidget"]').count():
            quiet_since = time.perf_counter()
        elif time.perf_counter() - quiet_since >= quiet_s:
            return
        page.wait_for_timeout(100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--visits", type=int, default=3)
    parser.add_argument("--ref", default="main", help="Today's page: a git ref (main).")
    args = parser.parse_args()
    dash.DB = DB
    url = dash.prepare(args.cases, reload=False)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="gridgov-bench-leader-") as tmp:
        trees = {"today": baseline_tree(args.ref, Path(tmp)), "new": ROOT}
        servers = {name: serve(tree, url) for name, tree in trees.items()}
        results: dict[str, list[dict]] = {name: [] for name in trees}
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path="/usr/bin/chromium", args=dash.CHROMIUM_ARGS
                )
                for i in range(args.visits):
                    for name in ("today", "new"):  # alternate: the same load for both
                        row = visit(browser, servers[name][1], 1 + i, measured=name == "new")
                        results[name].append(row)
                        print(f"{name:5} visit {i + 1}: first render {row['render_s']:.2f} s, "
                              f"area change {row['change_s'] and round(row['change_s'], 2)} s, "
                              f"at rest {row['idle_s'] and round(row['idle_s'], 2)} s",
                              flush=True)  # fmt: skip
                browser.close()
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(timeout=30)
    summary = {}
    for name, rows in results.items():
        warm = [r["render_s"] for r in rows[1:]] or [rows[0]["render_s"]]
        changes = [r["change_s"] for r in rows if r["change_s"] is not None]
        idle = [r["idle_s"] for r in rows if r["idle_s"] is not None]
        summary[name] = {
            "cold first render": rows[0]["render_s"],
            "warm first render (median)": statistics.median(warm),
            "area change (median)": statistics.median(changes) if changes else float("nan"),
            "area change at rest (median)": statistics.median(idle) if idle else float("nan"),
        }
    print(f"\n{args.cases:,} cases; {args.visits} visits per page")
    for figure in summary["new"]:
        old, new = summary["today"][figure], summary["new"][figure]
        print(
            f"{figure:30} today {old:7.2f} s   new {new:7.2f} s   ratio new/today {new / old:.2f}"
        )
    rows = results["new"]
    median = statistics.median([r["measures_s"] for r in rows])
    print(f"new page: headline measures shown {rows[0]['measures_s']:.2f} s after the click "
          f"(cold), {median:.2f} s (median)")  # fmt: skip
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
