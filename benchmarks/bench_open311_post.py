"""Open311 ``POST requests`` under sustained load on loopback.

Starts the API with uvicorn on 127.0.0.1 (a separate process, ``--workers``
processes) against its own database ``gridgov_bench_open311`` (recreated each
run: migrated, catalogue and a one-street test area loaded), then several
client processes post a bounded number of reports over keep-alive HTTP, at
random points inside the street, with a valid API key. Printed: throughput,
latency p50/p95/p99/max, status counts, CPU per request of the clients, the
API workers and the PostgreSQL backends, and the database check — every 201
answer must be a case in the database, and nothing else.

Two settings in the same run, against the same database: ``synchronous_commit
= off`` for the API's login (the old, non-durable default of the managed
cluster, which lost acknowledged reports on a crash) and ``on`` (durable: a
201 is on disk). Printed: the durable/non-durable throughput ratio (bar:
>= 0.9, p99 < 100 ms, every 201 in the database). Baseline too: ``GET
services.json`` (no writes: what the framework and the pool cost on their own).
The API logs in as a non-superuser member of ``gridgov_app``, as in production.

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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import Engine, make_url  # noqa: E402

from layers.workflow.access import create_api_key  # noqa: E402
from layers.workflow.cases_api import count_reported  # noqa: E402
from tests.api.server import CpuMeter, free_port, start_api_process, wait_for_api  # noqa: E402
from tests.conftest import app_login_engine  # noqa: E402
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


def run_load(
    base: str,
    key: str,
    code: str,
    total: int,
    clients: int,
    *,
    mode: str,
    meter: tuple[int, Engine] | None = None,
) -> dict:
    """``meter``: the API's pid and the admin engine, to count the API's and PostgreSQL's
    CPU seconds (NaN without)."""
    per = total // clients
    cpu = CpuMeter(*meter) if meter else None
    with mp.get_context("spawn").Pool(clients) as pool:
        # start and import every client process before the clock runs
        pool.map(_ready, range(clients * 4), chunksize=1)
        results = pool.map(
            _client, [(base, key, code, per, i, mode) for i in range(clients)], chunksize=1
        )
    # from the first request sent to the last answer read, over all clients
    wall = max(r[4] for r in results) - min(r[3] for r in results)
    used = cpu.used() if cpu else {"api": float("nan"), "postgres": float("nan")}
    cpu_api, cpu_pg = used["api"], used["postgres"]
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


def _serve(url: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    # the load comes from one key and one address: measure throughput, not the limits
    off = {"DATABASE_URL": url, "GRIDGOV_API_RATE_KEY": "off", "GRIDGOV_API_RATE_ADDRESS": "off"}
    server = start_api_process(port=port, env=off, workers=workers)
    base = f"http://127.0.0.1:{port}"
    wait_for_api(f"{base}/open311/v2/services.json", proc=server)
    return server, base


def _measure(admin, app_url: str, setting: str, args, *, key: str, code: str) -> dict:  # type: ignore[no-untyped-def]
    """POST load with the app login's ``synchronous_commit`` at ``setting`` (new sessions)."""
    login = make_url(app_url).username
    with admin.begin() as conn:
        conn.exec_driver_sql(f"ALTER ROLE {login} SET synchronous_commit = {setting}")
    server, base = _serve(app_url, args.workers)
    try:
        run_load(base, key, code, 200, args.clients, mode="post")  # warm-up (counted below too)
        meter = (server.pid, admin)
        post = run_load(base, key, code, args.requests, args.clients, mode="post", meter=meter)
        get = (
            run_load(base, key, code, args.requests // 2, args.clients, mode="get", meter=meter)
            if setting == "on"
            else None
        )
    finally:
        server.terminate()
        server.wait(20)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"ALTER ROLE {login} RESET synchronous_commit")
    post["warmup_accepted"] = 200 // args.clients * args.clients
    post["get"] = get
    return post


def _line(name: str, r: dict) -> str:
    return (
        f"  {name:34s} {r['requests']:6d} req in {r['seconds']:5.1f} s = {r['rps']:6.0f} req/s"
        f"   p50 {r['p50']:5.1f} ms  p95 {r['p95']:5.1f} ms  p99 {r['p99']:5.1f} ms"
        f"  max {r['max']:6.1f} ms  statuses {r['statuses']}"
        f"\n  {'':34s} CPU per request: clients {r['client_cpu_ms']:.2f} ms, API workers"
        f" {r['api_cpu_ms']:.2f} ms, PostgreSQL {r['pg_cpu_ms']:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    admin = served_database(DB)
    with admin.begin() as conn:
        key = create_api_key(conn=conn, client="bench")
        code = conn.exec_driver_sql(
            "SELECT service_code FROM categories WHERE level = 2 ORDER BY 1 LIMIT 1"
        ).scalar_one()
    # the API logs in as the app does (a non-superuser member of gridgov_app)
    app = app_login_engine(admin)
    app_url = app.url.render_as_string(hide_password=False)
    app.dispose()
    # same run, same database: the non-durable setting first, then the durable one
    fast = _measure(admin, app_url, "off", args, key=key, code=code)
    durable = _measure(admin, app_url, "on", args, key=key, code=code)
    with admin.connect() as conn:
        in_db = count_reported(conn=conn, source_system="open311")
    accepted = sum(r["statuses"].get(201, 0) + r["warmup_accepted"] for r in (fast, durable))
    admin.dispose()

    print(
        f"Open311 POST requests, {args.clients} client processes, {args.workers} uvicorn "
        f"workers, loopback, {os.cpu_count()} cores"
    )
    print(_line("POST, synchronous_commit = off", fast))
    print(_line("POST, synchronous_commit = on", durable))
    print(_line("GET services.json (baseline)", durable["get"]))
    ratio = durable["rps"] / fast["rps"]
    print(f"  durable/non-durable POST throughput ratio: {ratio:.2f}")
    print(f"  POST (durable)/GET throughput ratio: {durable['rps'] / durable['get']['rps']:.2f}")
    print(
        f"  accepted (201, incl. warm-ups): {accepted}; cases in the database: {in_db}"
        f" -> {'OK' if accepted == in_db else 'MISMATCH'}"
    )
    ok = ratio >= 0.9 and durable["p99"] < 100 and accepted == in_db
    print(
        "  bar (durable >= 0.9x non-durable, p99 < 100 ms, all accepted stored): "
        f"{'met' if ok else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
