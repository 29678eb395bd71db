"""Open311 ``POST requests`` under sustained load on loopback.

Starts the API with uvicorn on 127.0.0.1 (a separate process, ``--workers``
processes) against its own database ``gridgov_bench_open311`` (recreated each
run: migrated, catalogue and a one-street test area loaded), then several
client processes post a bounded number of reports with httpx (keep-alive), at
random points inside the street, with a valid API key. Printed: throughput,
latency p50/p95/p99/max, status counts, and the database check — every 201
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


def _client(args: tuple[str, str, str, int, int, str]) -> tuple[list[float], dict[int, int], float]:
    import httpx

    cpu0 = time.process_time()
    base, key, code, n, seed, mode = args
    rng = random.Random(seed)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(n):
            t = time.perf_counter()
            if mode == "post":
                r = client.post(
                    "/open311/v2/requests.json",
                    data={
                        "api_key": key,
                        "service_code": code,
                        "lat": rng.uniform(Y0 + 1e-4, Y1 - 1e-4),
                        "long": rng.uniform(X0 + 1e-4, X1 - 1e-4),
                        "description": "benchmark report",
                        "phone": "13800000000",
                    },
                )
            else:
                r = client.get("/open311/v2/services.json")
            latencies.append(time.perf_counter() - t)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
    return latencies, statuses, time.process_time() - cpu0


def run_load(base: str, key: str, code: str, total: int, clients: int, mode: str) -> dict:
    per = total // clients
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(clients) as pool:
        results = pool.map(_client, [(base, key, code, per, i, mode) for i in range(clients)])
    wall = time.perf_counter() - start
    lat = np.array([x for r in results for x in r[0]]) * 1000
    statuses: dict[int, int] = {}
    for _, s, _ in results:
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
        post = run_load(base, key, code, args.requests, args.clients, "post")
        get = run_load(base, key, code, args.requests // 2, args.clients, "get")
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
            f"  client CPU {r['client_cpu_ms']:.2f} ms/req"
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
