"""Field app first load on Chromium's slow-3G throttling, and the app's own size.

Measures, in headless Chromium (Debian's /usr/bin/chromium) with the network throttled
through the DevTools protocol to Chromium's "Slow 3G" preset (2,000 ms latency, 400 kbit/s
down and up — DevTools' ``500 * 1000 / 8 * 0.8`` bytes/s):

- the field app's first load: a cold browser context (no cache, no service worker) from
  navigation to the sign-in form ready to type in (``body[data-ready]``: the scripts of the
  first screen ran and it is drawn), and to the ``load`` event. Ready is counted on the
  browser's own clock from the start of the navigation (Navigation Timing, as Lighthouse
  and WebPageTest count); the harness's wall clock, which adds Playwright's commands to
  the browser (0.4–0.5 s on the shared 2 cores), is printed beside it;
- baseline, in the same run and the same throttling: the command centre's (Streamlit)
  login page, from navigation until its user-name field is on screen;
- a repeat visit with the network switched off (the service worker's cache);
- the app's own JavaScript and CSS (``webapps/field/**`` and ``webapps/common/**``),
  gzipped (level 9) file by file: the bar is ≤ 300 KB. The pinned libraries it loads from
  ``/vendor/`` (Leaflet, idb, browser-image-compression) are reported apart.

Both servers run on free loopback ports (the API: ``uvicorn api.app:create_app``; the
dashboard: ``streamlit run dashboard_server.py``). Neither page needs the database before
sign-in; ``DATABASE_URL`` is passed through when set.

Run: ``uv run python benchmarks/bench_field_load.py [--runs 3]``. Report the figures with
``uptime``'s load average (printed at the end).
"""

from __future__ import annotations

import argparse
import gzip
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("GRIDGOV_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SLOW_3G = {
    "offline": False,
    "latency": 2000,
    "downloadThroughput": 500 * 1000 / 8 * 0.8,
    "uploadThroughput": 500 * 1000 / 8 * 0.8,
}
"""Chromium DevTools' "Slow 3G" preset (SDK NetworkManager: latency 400 * 5 ms)."""
OWN = [ROOT / "webapps" / "field", ROOT / "webapps" / "common"]
VENDOR = ["leaflet/leaflet.js", "leaflet/leaflet.css", "idb/idb.umd.js"]
VENDOR += ["image-compression/browser-image-compression.js"]
BAR_KB = 300
BAR_S = 5.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in time")


def _start_api() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = {**os.environ, "GRIDGOV_API_RATE_ADDRESS": "off"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    _wait(f"{base}/field/", proc)
    return proc, base


def _start_dashboard() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard_server.py")]
    cmd += ["--server.port", str(port), "--server.address", "127.0.0.1"]
    cmd += ["--server.headless", "true", "--browser.gatherUsageStats", "false"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    _wait(f"{base}/_stcore/health", proc)
    return proc, base


def own_sizes() -> tuple[dict[str, int], dict[str, int]]:
    """(raw bytes, gzipped bytes) of each of the app's own JS and CSS files."""
    raw: dict[str, int] = {}
    packed: dict[str, int] = {}
    for top in OWN:
        for path in sorted(top.rglob("*")):
            if path.suffix in {".js", ".css"}:
                data = path.read_bytes()
                name = str(path.relative_to(ROOT))
                raw[name] = len(data)
                packed[name] = len(gzip.compress(data, 9))
    return raw, packed


def _load(browser, url: str, ready: str, *, throttle: bool = True) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """One cold load of ``url`` in a new context: seconds to ``ready`` and to ``load``."""
    context = browser.new_context(viewport={"width": 393, "height": 851}, locale="zh-CN")
    page = context.new_page()
    bytes_in = [0]
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.on(
        "Network.loadingFinished",
        lambda e: bytes_in.__setitem__(0, bytes_in[0] + e["encodedDataLength"]),
    )
    if throttle:
        cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    start = time.perf_counter()
    page.goto(url, wait_until="commit", timeout=120_000)
    page.wait_for_selector(ready, state="visible", timeout=120_000)
    t_ready = time.perf_counter() - start
    # the browser's own clock: milliseconds since the navigation started (Navigation Timing's
    # time origin, what Lighthouse and WebPageTest count from) when the form was seen ready
    t_page = page.evaluate("performance.now()") / 1000
    page.wait_for_load_state("load", timeout=120_000)
    t_load = time.perf_counter() - start
    context.close()
    return {"ready_s": t_ready, "page_s": t_page, "load_s": t_load, "kb": bytes_in[0] / 1024}


def _offline_repeat(browser, base: str) -> float:  # type: ignore[no-untyped-def]
    """Seconds to the sign-in form on a second visit with the network off."""
    context = browser.new_context(viewport={"width": 393, "height": 851}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/field/")
    page.wait_for_selector("body[data-ready]")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=30_000)
    context.set_offline(True)
    start = time.perf_counter()
    page.reload()
    page.wait_for_selector("#signin-form", state="visible")
    took = time.perf_counter() - start
    context.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="cold loads of each page")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    raw, packed = own_sizes()
    api, base = _start_api()
    dash, dash_base = _start_dashboard()
    field: list[dict[str, float]] = []
    board: list[dict[str, float]] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            _load(browser, f"{base}/field/", "#signin-form", throttle=False)  # warm the server
            for _ in range(args.runs):
                field.append(_load(browser, f"{base}/field/", "#signin-form"))
                board.append(_load(browser, dash_base, 'input[aria-label="用户名"]'))
            offline_s = _offline_repeat(browser, base)
            browser.close()
    finally:
        for proc in (api, dash):
            proc.terminate()
            proc.wait(20)
    vendor = {}
    for name in VENDOR:
        data = (ROOT / "static" / "vendor" / name).read_bytes()
        vendor[name] = len(gzip.compress(data, 9))

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    print("first load on Slow 3G (2,000 ms latency, 400 kbit/s), cold, median of", args.runs)
    print("  ready: since the navigation started (the browser's clock) / wall clock of the harness")
    print(
        f"  field app  /field/   sign-in ready {med(field, 'page_s'):6.2f} s / "
        f"{med(field, 'ready_s'):5.2f} s   load {med(field, 'load_s'):6.2f} s   "
        f"{med(field, 'kb'):7.1f} KB on the wire"
    )
    print(
        f"  baseline   dashboard login form    {med(board, 'page_s'):6.2f} s / "
        f"{med(board, 'ready_s'):5.2f} s   load {med(board, 'load_s'):6.2f} s   "
        f"{med(board, 'kb'):7.1f} KB on the wire"
    )
    ratio = med(board, "page_s") / med(field, "page_s")
    print(f"  ratio (dashboard / field app): {ratio:.1f}x faster")
    ok = "meets" if med(field, "page_s") < BAR_S else "MISSES"
    wall = "meets" if med(field, "ready_s") < BAR_S else "misses"
    print(f"  bar: field app ready < {BAR_S:.0f} s since navigation — {ok} (wall clock: {wall})")
    print(f"  every run (field ready s): {[round(r['page_s'], 2) for r in field]}")
    print(f"  every run (dashboard s):   {[round(r['page_s'], 2) for r in board]}")
    print(f"repeat visit with the network off (service worker): {offline_s:.2f} s")
    total = sum(packed.values())
    print(
        f"own JS+CSS: {len(packed)} files, {sum(raw.values()) / 1024:.1f} KB raw, "
        f"{total / 1024:.1f} KB gzipped (bar ≤ {BAR_KB} KB: "
        f"{'meets' if total <= BAR_KB * 1024 else 'MISSES'})"
    )
    print(f"pinned libraries it loads (gzipped, apart): {sum(vendor.values()) / 1024:.1f} KB")
    for name, size in vendor.items():
        print(f"  /vendor/{name}: {size / 1024:.1f} KB")
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
