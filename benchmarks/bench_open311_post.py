"""Open311 ``POST requests`` under sustained load on loopback.

Starts the API with uvicorn on 127.0.0.1 (a separate process, ``--workers``
processes) against its own database ``gridgov_bench_open311`` (recreated each
run: migrated, catalogue and a one-street test area loaded), then several
client processes post a bounded number of reports over keep-alive HTTP, at
random points inside the street, with a valid API key. Printed: throughput,
latency p50/p95/p99/max, status counts, CPU per request of the clients, the
API workers and the PostgreSQL backends, and the database check — every 201
answer must be a case in the database, and nothing else.

Baseline in the same run: the same requests against ``GET services.json``
(no writes: what the framework and the connection pool cost on their own).

Run: ``uv run python benchmarks/bench_open311_post.py [--requests 6000] [--clients 6]
[--workers 2]``. Only loopback traffic.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from layers.workflow.access import create_api_key  # noqa: E402
from layers.workflow.cases_api import count_reported  # noqa: E402
from tests.api.server import free_port  # noqa: E402
from tests.workflow.factories import X0, X1, Y0, Y1, served_database  # noqa: E402

DB = "gridgov_bench_open311"


def _ready(_: int) -> int:
    return os.getpid()


def _client(
    args: tuple[str, str, str, int, int, str],
) -> tuple[list[float], dict[int, int], float, float, float]:
    """One client: keep-alive HTTP/1.1 with the standard library's http.client.

    The load generator shares the 2 cores with the server, so it is kept light
    (about a fifth of httpx's CPU per request); it still sends real form posts
    and reads every answer in full.
    """
    import http.client
    from urllib.parse import urlencode, urlsplit

    cpu0 = time.process_time()
    base, key, code, n, seed, mode = args
    host = urlsplit(base)
    rng = random.Random(seed)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    first = time.time()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for _ in range(n):
        t = time.perf_counter()
        if mode == "post":
            body = urlencode(
                {
                    "api_key": key,
                    "service_code": code,
                    "lat": rng.uniform(Y0 + 1e-4, Y1 - 1e-4),
                    "long": rng.uniform(X0 + 1e-4, X1 - 1e-4),
                    "description": "benchmark report",
                    "phone": "13800000000",
                }
            )
            conn.request("POST", "/open311/v2/requests.json", body=body, headers=form)
        else:
            conn.request("GET", "/open311/v2/services.json")
        r = conn.getresponse()
        r.read()
        latencies.append(time.perf_counter() - t)
        statuses[r.status] = statuses.get(r.status, 0) + 1
    conn.close()
    return latencies, statuses, time.process_time() - cpu0, first, time.time()


def _cpu_seconds(roots: list[int]) -> float:
    """User + system CPU of processes ``roots`` and their children (alive now)."""
    import psutil

    total = 0.0
    for pid in roots:
        try:
            root = psutil.Process(pid)
            for p in [root, *root.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def _postmaster(port: int) -> int | None:
    """PID of the PostgreSQL server listening on ``port`` (its backends are children)."""
    import psutil

    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if cmd and cmd[0].endswith("postgres") and f"port={port}" in " ".join(cmd):
            return p.pid
    return None


def run_load(
    base: str,
    key: str,
    code: str,
    total: int,
    clients: int,
    mode: str,
    watch: tuple[int, int | None] = (0, None),
) -> dict:
    per = total // clients
    server_pid, pg_pid = watch
    cpu_api = _cpu_seconds([server_pid]) if server_pid else 0.0
    cpu_pg = _cpu_seconds([pg_pid]) if pg_pid else 0.0
    with mp.get_context("spawn").Pool(clients) as pool:
        # start and import every client process before the clock runs
        pool.map(_ready, range(clients * 4), chunksize=1)
        results = pool.map(
            _client, [(base, key, code, per, i, mode) for i in range(clients)], chunksize=1
        )
    # from the first request sent to the last answer read, over all clients
    wall = max(r[4] for r in results) - min(r[3] for r in results)
    cpu_api = _cpu_seconds([server_pid]) - cpu_api if server_pid else float("nan")
    cpu_pg = _cpu_seconds([pg_pid]) - cpu_pg if pg_pid else float("nan")
    lat = np.array([x for r in results for x in r[0]]) * 1000
    statuses: dict[int, int] = {}
    for _, s, *_ in results:
        for k, v in s.items():
            statuses[k] = statuses.get(k, 0) + v
    return {
        "requests": len(lat),
        "seconds": wall,
        "rps": len(lat) / wall,
        "p50": float(np.percentile(lat, 50)),
        "p95": float(np.percentile(lat, 95)),
        "p99": float(np.percentile(lat, 99)),
        "max": float(lat.max()),
        "statuses": statuses,
        "client_cpu_ms": sum(r[2] for r in results) / len(lat) * 1000,
        "api_cpu_ms": cpu_api / len(lat) * 1000,
        "pg_cpu_ms": cpu_pg / len(lat) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    engine = served_database(DB)
    with engine.begin() as conn:
        key = create_api_key(conn=conn, client="bench")
        code = conn.exec_driver_sql(
            "SELECT service_code FROM categories WHERE level = 2 ORDER BY 1 LIMIT 1"
        ).scalar_one()
    url = engine.url.render_as_string(hide_password=False)
    port = free_port()
    env = os.environ | {"DATABASE_URL": url}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "api.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{base}/open311/v2/services.json", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        run_load(base, key, code, 200, args.clients, "post")  # warm-up (counted below too)
        watch = (server.pid, _postmaster(engine.url.port or 5432))
        post = run_load(base, key, code, args.requests, args.clients, "post", watch)
        get = run_load(base, key, code, args.requests // 2, args.clients, "get", watch)
    finally:
        server.terminate()
        server.wait(20)
    with engine.connect() as conn:
        in_db = count_reported(conn=conn, source_system="open311")
    accepted = post["statuses"].get(201, 0) + 200 // args.clients * args.clients
    engine.dispose()

    print(
        f"Open311 POST requests, {args.clients} client processes, {args.workers} uvicorn "
        f"workers, loopback, {os.cpu_count()} cores"
    )
    for name, r in [("POST requests.json", post), ("GET services.json (baseline)", get)]:
        print(
            f"  {name:30s} {r['requests']:6d} req in {r['seconds']:5.1f} s = {r['rps']:6.0f} req/s"
            f"   p50 {r['p50']:5.1f} ms  p95 {r['p95']:5.1f} ms  p99 {r['p99']:5.1f} ms"
            f"  max {r['max']:6.1f} ms  statuses {r['statuses']}"
            f"\n  {'':30s} CPU per request: clients {r['client_cpu_ms']:.2f} ms, API workers"
            f" {r['api_cpu_ms']:.2f} ms, PostgreSQL {r['pg_cpu_ms']:.2f} ms"
        )
    print(f"  POST/GET throughput ratio: {post['rps'] / get['rps']:.2f}")
    print(
        f"  accepted (201, incl. warm-up): {accepted}; cases in the database: {in_db}"
        f" -> {'OK' if accepted == in_db else 'MISMATCH'}"
    )
    ok = post["rps"] >= 300 and post["p99"] < 100 and accepted == in_db
    print(f"  bar (>= 300 req/s, p99 < 100 ms, all accepted stored): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
