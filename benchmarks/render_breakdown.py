"""Where a map page's first render goes: server time per tile, the browser's timeline.

Used by ``bench_operator_map.py``: :class:`TileServerClock` wraps the API's tile function
(every tile's server time, in the API process: the SQL and the unit of work), and
:func:`browser_timeline` reads, after the map is drawn, the page's own timeline
(Navigation and Resource Timing: HTML, scripts, each tile request) and Chromium's
main-thread totals (CDP ``Performance.getMetrics``: script, layout, style, task time).
:func:`script_profile` is a separate, profiled load (the profiler slows the page: its
figures are shares, not the first render): JavaScript self time per script.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DONE_MARK = "window.__gridgov_done = window.__gridgov_done || performance.now();"
"""Put in a wait condition's success path: the moment the map counted as drawn."""

TIMELINE = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  const tiles = res.filter(r => r.name.includes('/tiles/'));
  const other = res.filter(r => !r.name.includes('/tiles/'));
  const max = (a, f) => a.length ? Math.max(...a.map(f)) : 0;
  const min = (a, f) => a.length ? Math.min(...a.map(f)) : 0;
  return {
    html_end: nav.responseEnd, dom_ready: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
    assets: other.length, assets_end: max(other, r => r.responseEnd),
    tiles: tiles.length, tile_first_start: min(tiles, r => r.startTime),
    tile_last_end: max(tiles, r => r.responseEnd),
    tile_mean_ms: tiles.length ? tiles.reduce((s, r) => s + r.duration, 0) / tiles.length : 0,
    done: window.__gridgov_done || performance.now(),
  }; }"""


class TileServerClock:
    """Every tile's server time while installed on ``module.name`` (the API's tile function)."""

    def __init__(self, module: Any, name: str = "tile_bytes") -> None:
        self.module, self.name = module, name
        self.original: Callable[..., bytes] = getattr(module, name)
        self.spans: list[tuple[float, float]] = []
        self.lock = threading.Lock()

    def __enter__(self) -> TileServerClock:
        def timed(*args: Any, **kwargs: Any) -> bytes:
            started = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                with self.lock:
                    self.spans.append((started, time.perf_counter()))

        setattr(self.module, self.name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.module, self.name, self.original)

    def take(self) -> dict[str, float]:
        """The tiles served since the last call: count, sum, p50, max (ms) and wall span (s)."""
        with self.lock:
            spans, self.spans = self.spans, []
        return span_stats(spans)


class FileClock:
    """:class:`TileServerClock` of an API in another process: it appends each tile's
    ``start end`` (its own ``perf_counter``) as a line to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def take(self) -> dict[str, float]:
        """The tiles served since the last call (see :meth:`TileServerClock.take`)."""
        text = self.path.read_text() if self.path.exists() else ""
        self.path.write_text("")
        spans = [(float(a), float(b)) for a, b in (line.split() for line in text.splitlines())]
        return span_stats(spans)


def span_stats(spans: list[tuple[float, float]]) -> dict[str, float]:
    """Count, sum, p50, max (ms) and wall span (s) of (start, end) times in seconds."""
    if not spans:
        return {"n": 0, "sum_ms": 0.0, "p50_ms": 0.0, "max_ms": 0.0, "span_s": 0.0}
    ms = sorted((end - start) * 1000 for start, end in spans)
    return {
        "n": len(ms),
        "sum_ms": sum(ms),
        "p50_ms": statistics.median(ms),
        "max_ms": ms[-1],
        "span_s": max(e for _, e in spans) - min(s for s, _ in spans),
    }


def start_metrics(tab: Any) -> Any:
    """A CDP session on ``tab`` with Chromium's performance counters on."""
    cdp = tab.context.new_cdp_session(tab)
    cdp.send("Performance.enable")
    return cdp


def main_thread(cdp: Any) -> dict[str, float]:
    """Seconds the renderer's main thread spent: script, layout, style, all tasks."""
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {
        "script_s": metrics.get("ScriptDuration", 0.0),
        "layout_s": metrics.get("LayoutDuration", 0.0),
        "style_s": metrics.get("RecalcStyleDuration", 0.0),
        "task_s": metrics.get("TaskDuration", 0.0),
    }


def browser_timeline(tab: Any) -> dict[str, float]:
    """The page's timeline in ms from navigation start (see :data:`TIMELINE`)."""
    return dict(tab.evaluate(TIMELINE))


def script_profile(cdp: Any, run: Callable[[], None], top: int = 8) -> list[tuple[str, float]]:
    """JavaScript self time (ms) per script (file name, or the runtime's own buckets)
    while ``run()`` loads and draws the page; the ``top`` largest."""
    cdp.send("Profiler.enable")
    cdp.send("Profiler.setSamplingInterval", {"interval": 500})
    cdp.send("Profiler.start")
    run()
    profile = cdp.send("Profiler.stop")["profile"]
    where = {}
    for node in profile["nodes"]:
        frame = node["callFrame"]
        url = frame.get("url") or ""
        where[node["id"]] = url.rsplit("/", 1)[-1].split("?")[0] or frame["functionName"]
    self_ms: dict[str, float] = {}
    for node_id, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        self_ms[where[node_id]] = self_ms.get(where[node_id], 0.0) + delta / 1000
    self_ms.pop("(idle)", None)
    return sorted(self_ms.items(), key=lambda kv: -kv[1])[:top]


def describe(
    name: str, t: dict[str, float], server: dict[str, float], cpu: dict[str, float]
) -> str:
    """One page's breakdown as text lines."""
    return "\n".join(
        [
            f"  {name}: HTML at {t['html_end']:.0f} ms, scripts/styles ({t['assets']:.0f}) by "
            f"{t['assets_end']:.0f} ms, DOM ready {t['dom_ready']:.0f} ms, load {t['load']:.0f} ms",
            f"  {name}: {t['tiles']:.0f} tile requests from {t['tile_first_start']:.0f} to "
            f"{t['tile_last_end']:.0f} ms (mean {t['tile_mean_ms']:.0f} ms each in the browser); "
            f"drawn at {t['done']:.0f} ms (last answer → drawn "
            f"{max(0.0, t['done'] - t['tile_last_end']):.0f} ms)",
            f"  {name}: server {server['n']:.0f} tiles, sum {server['sum_ms']:.0f} ms, p50 "
            f"{server['p50_ms']:.1f} ms, max {server['max_ms']:.1f} ms, span "
            f"{server['span_s'] * 1000:.0f} ms",
            f"  {name}: main thread script {cpu['script_s'] * 1000:.0f} ms, layout "
            f"{cpu['layout_s'] * 1000:.0f} ms, style {cpu['style_s'] * 1000:.0f} ms, all tasks "
            f"{cpu['task_s'] * 1000:.0f} ms",
        ]
    )
