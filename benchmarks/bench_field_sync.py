"""Field sync on loopback: one shift of GPS fixes, and 200 phones syncing at once.

Own database ``gridgov_bench_field`` (recreated: migrated, catalogue, the one-street
test area, ``--phones`` grid-worker logins each linked to a worker and holding a device).
The API runs as a separate uvicorn process (``--workers``) logged in as a
non-superuser member of ``gridgov_app`` (row-level security on, as in production).

1. **One 8-hour shift** (2,880 fixes, one every 10 s) sent in one ``POST
   /field/api/fixes``: the server time (request to answer on loopback) against the
   baseline — the same rows written one ``INSERT`` per fix in one transaction, as the
   same worker, in this process. Bar: < 2 s.
2. **``--phones`` phones syncing at once**: every phone uploads a photo, sends its
   outbox (one report) and a batch of ``--fixes`` fixes; all start within
   ``--window`` seconds (uniform arrivals; ``--window 0`` is one burst). Then every
   phone sends the same outbox again (a retry after a lost answer). Printed: latency
   p50/p95/p99/max per request, errors, and the database count — one case per phone,
   every fix once, nothing doubled. Bar: p99 < 500 ms, 0 lost.

The phones' client runs in this process, on the cores the server uses: its own CPU
seconds are printed beside the API's and PostgreSQL's (``--client aiohttp``, the
default, costs less of it than ``--client httpx``). Backend processes that ended
during the run are counted in the postmaster's children totals only once reaped.

Run: ``uv run python benchmarks/bench_field_sync.py [--phones 200] [--fixes 60]
[--window 10] [--workers 2] [--client aiohttp|httpx]``. Report the figures with
``uptime``'s load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from layers.auth import hash_password  # noqa: E402
from layers.workflow.access import Scope  # noqa: E402
from services.uow import unit_of_work  # noqa: E402
from tests.api.server import CpuMeter, free_port, start_api_process, wait_for_api  # noqa: E402
from tests.conftest import app_login_engine  # noqa: E402
from tests.workflow.factories import WEST, X0, XM, Y0, Y1, served_database  # noqa: E402

DB = "gridgov_bench_field"
SHIFT = 2_880
JSON = {"Content-Type": "application/json"}
MAX_ATTEMPTS = 10
"""A phone sends a request refused with 503/429 again after its Retry-After, up to this often."""


def _server_ms(header: str | None) -> tuple[float, float] | None:
    """(queue ms, work ms) from the API's ``Server-Timing: queue;dur=…, app;dur=…``."""
    if not header:
        return None
    parts = dict(
        (item.split(";dur=")[0].strip(), float(item.split(";dur=")[1]))
        for item in header.split(",")
        if ";dur=" in item
    )
    return parts.get("queue", 0.0), parts.get("app", 0.0)


def setup(phones: int) -> tuple[sa.Engine, list[dict]]:
    """The database with ``phones + 1`` linked grid workers and their device tokens."""
    admin = served_database(DB)
    digest = hash_password("bench-password")
    people = []
    with admin.begin() as conn:
        community = conn.execute(
            sa.text("SELECT id FROM communities WHERE code = :c"), {"c": WEST}
        ).scalar_one()
        code = conn.execute(
            sa.text("SELECT service_code FROM categories WHERE level = 2 ORDER BY 1 LIMIT 1")
        ).scalar_one()
        for i in range(phones + 1):
            name, token = f"bench{i:04d}", f"bench-token-{i}-{uuid.uuid4()}"
            wid = conn.execute(
                sa.text(
                    "INSERT INTO workers (code, name_zh, community_id) "
                    "VALUES (:c, '测', :m) RETURNING id"
                ),
                {"c": f"B{i:04d}", "m": community},
            ).scalar_one()
            conn.execute(
                sa.text(
                    "INSERT INTO app_users (username, display_name, password_hash, role, area) "
                    "VALUES (:u, :u, :h, 'grid_worker', :a)"
                ),
                {"u": name, "h": digest, "a": WEST},
            )
            conn.execute(
                sa.text("INSERT INTO field_workers (username, worker_id) VALUES (:u, :w)"),
                {"u": name, "w": wid},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO field_devices (id, username, label, token_hash) "
                    "VALUES (:i, :u, 'bench', :h)"
                ),
                {"i": uuid.uuid4(), "u": name, "h": hashlib.sha256(token.encode()).hexdigest()},
            )
            people.append({"username": name, "token": token, "worker_id": wid, "code": code})
    return admin, people


def serve(url: str, workers: int, media: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = start_api_process(
        port=port,
        env={
            "DATABASE_URL": url,
            "GRIDGOV_API_RATE_KEY": "off",
            "GRIDGOV_API_RATE_ADDRESS": "off",
            "GRIDGOV_MEDIA_DIR": str(media),
        },
        workers=workers,
    )
    base = f"http://127.0.0.1:{port}"
    wait_for_api(f"{base}/openapi.json", proc=server)
    return server, base


def shift_fixes(seed: int, n: int, t0: float) -> list[dict]:
    rng = np.random.default_rng(seed)
    lon = 120.605 + np.cumsum(rng.normal(0, 0.00004, n))
    lat = 31.305 + np.cumsum(rng.normal(0, 0.00003, n))
    lon, lat = np.clip(lon, X0 + 0.001, XM - 0.001), np.clip(lat, Y0 + 0.001, Y1 - 0.001)
    return [
        {
            "t": round((t0 + 10 * i) * 1000),
            "lon": float(lon[i]),
            "lat": float(lat[i]),
            "accuracy": float(rng.uniform(3, 20)),
            "speed": 1.1,
            "batt": 90 - i / 100,
        }
        for i in range(n)
    ]


def baseline_per_row(admin: sa.Engine, app: sa.Engine, person: dict, fixes: list[dict]) -> float:
    """The same fixes, one INSERT each, in one transaction as the same worker."""
    street = "320508901"
    start = time.perf_counter()
    with unit_of_work(app, Scope("grid_worker", username=person["username"]), write=True) as conn:
        for f in fixes:
            conn.execute(
                sa.text("""
                INSERT INTO patrol_points (worker_id, street_code, at, accuracy_m, speed_ms,
                                           batt, source, geom)
                VALUES (:w, :s, to_timestamp(:t), :a, :v, :b, 'field',
                        ST_SetSRID(ST_MakePoint(:x, :y), 4326))
            """),
                {
                    "w": person["worker_id"],
                    "s": street,
                    "t": f["t"] / 1000,
                    "a": f["accuracy"],
                    "v": f["speed"],
                    "b": f["batt"],
                    "x": f["lon"],
                    "y": f["lat"],
                },
            )
    return time.perf_counter() - start


async def phone(  # type: ignore[no-untyped-def]
    client,
    base: str,
    person: dict,
    *,
    delay: float,
    fixes: int,
    seed: int,
    out: list,
    done: list,
) -> dict:
    auth = {"Authorization": f"Bearer {person['token']}"}
    photo = str(uuid.uuid4())
    body = b"\xff\xd8\xff\xe0" + os.urandom(60_000)  # a 60 KB "JPEG" as a phone sends one
    action = {
        "client_id": str(uuid.uuid4()),
        "kind": "report",
        "at": datetime.now(UTC).isoformat(),
        "payload": {
            "service_code": person["code"],
            "lon": 120.61,
            "lat": 31.305,
            "accuracy_m": 8,
            "description": "bench",
            "photo_ids": [photo],
        },
    }
    # the phone's bodies are made before its turn (a phone has them in its outbox): the
    # client's own work stays out of the measured time on a machine of two cores
    outbox = json.dumps({"actions": [action]}).encode()
    track = json.dumps({"fixes": shift_fixes(seed, fixes, time.time() - 3600)}).encode()
    await asyncio.sleep(delay)
    answers = {}
    started = time.perf_counter()
    for name, method, path, kw in [
        (
            "photo",
            "PUT",
            f"/field/api/photos/{photo}",
            {"content": body, "headers": auth | {"Content-Type": "image/jpeg"}},
        ),
        ("sync", "POST", "/field/api/sync", {"content": outbox, "headers": auth | JSON}),
        ("fixes", "POST", "/field/api/fixes", {"content": track, "headers": auth | JSON}),
    ]:
        payload = None
        for _attempt in range(MAX_ATTEMPTS):
            t = time.perf_counter()
            retry_after = None
            server_ms = None
            try:
                r = await client.request(method, base + path, **kw)
                status, payload = r.status_code, (r.json() if r.status_code < 500 else None)
                server_ms = _server_ms(r.headers.get("server-timing"))
                if r.status_code in (429, 503):
                    retry_after = float(r.headers.get("retry-after", "2"))
            except Exception as exc:
                status, payload = type(exc).__name__, None
            out.append((name, time.perf_counter() - t, status, server_ms))
            if retry_after is None:
                break
            await asyncio.sleep(retry_after)  # as the phone's outbox does (Retry-After)
        answers[name] = payload
    done.append(time.perf_counter() - started)
    return {"action": action, "photo": photo, "body": body, "answers": answers, "auth": auth}


class _Answer:
    """An answer read whole: what :func:`phone` needs of it, the same for both clients."""

    def __init__(self, status_code: int, headers: Any, body: bytes) -> None:
        self.status_code, self.headers, self.body = status_code, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


class _Aiohttp:
    """aiohttp behind the few calls the phones make (``request``, ``get``, ``post``)."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        json: Any = None,
        headers: dict | None = None,
    ) -> _Answer:
        async with self.session.request(method, url, data=content, json=json, headers=headers) as r:
            return _Answer(r.status, r.headers, await r.read())

    async def get(self, url: str, **kw: Any) -> _Answer:
        return await self.request("GET", url, **kw)

    async def post(self, url: str, **kw: Any) -> _Answer:
        return await self.request("POST", url, **kw)


@contextlib.asynccontextmanager
async def load_client(kind: str, connections: int) -> AsyncIterator[Any]:
    """The phones' HTTP client: ``aiohttp`` (default; the lighter of the two on the CPU
    the server shares here) or ``httpx``."""
    if kind == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            yield client
        return
    import aiohttp

    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield _Aiohttp(session)


async def crowd(
    base: str, people: list[dict], *, fixes: int, window: float, client_kind: str = "aiohttp"
) -> tuple[list, list]:
    rng = random.Random(7)
    out: list = []
    done: list = []
    async with load_client(client_kind, len(people)) as client:
        # warm-up (not measured): every worker process opens its pool and loads its code
        await asyncio.gather(
            *[
                client.get(
                    base + "/field/api/me", headers={"Authorization": f"Bearer {p['token']}"}
                )
                for p in people[:40]
            ]
        )
        phones = await asyncio.gather(
            *[
                phone(
                    client,
                    base,
                    p,
                    delay=rng.uniform(0, window),
                    fixes=fixes,
                    seed=i,
                    out=out,
                    done=done,
                )
                for i, p in enumerate(people)
            ]
        )
        # every phone retries its outbox (as after a lost answer): same ids, same answers
        retried: list = []

        async def again(p: dict) -> None:
            for _attempt in range(MAX_ATTEMPTS):
                r = await client.post(
                    base + "/field/api/sync", json={"actions": [p["action"]]}, headers=p["auth"]
                )
                if r.status_code not in (429, 503):
                    break
                await asyncio.sleep(float(r.headers.get("retry-after", "2")))
            retried.append(
                r.json()["results"][0] == p["answers"]["sync"]["results"][0]
                if p["answers"]["sync"]
                else False
            )

        await asyncio.gather(*[again(p) for p in phones])
    return out, [phones, retried, done]


def main() -> None:  # noqa: PLR0915 (one report, printed in order)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--fixes", type=int, default=60, help="fixes per phone in part 2")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of arrivals")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--client",
        choices=["aiohttp", "httpx"],
        default="aiohttp",
        help="the phones' HTTP client (its own CPU is printed: it shares the server's cores)",
    )
    args = parser.parse_args()
    import tempfile

    import httpx

    print(f"load before: {os.getloadavg()}")
    admin, people = setup(args.phones + 1)  # + the shift's and the baseline's workers
    app = app_login_engine(admin)
    app_url = app.url.render_as_string(hide_password=False)
    media = Path(tempfile.mkdtemp(prefix="gridgov-bench-media-"))
    server, base = serve(app_url, args.workers, media)
    try:
        shift_person, baseline_person = people[0], people[1]
        fixes = shift_fixes(1, SHIFT, time.time() - 9 * 3600)
        with httpx.Client(timeout=120) as c:
            c.post(
                base + "/field/api/fixes",
                json={"fixes": fixes[:10]},
                headers={"Authorization": f"Bearer {baseline_person['token']}"},
            )  # warm-up
            t = time.perf_counter()
            r = c.post(
                base + "/field/api/fixes",
                json={"fixes": fixes},
                headers={"Authorization": f"Bearer {shift_person['token']}"},
            )
            shift_s = time.perf_counter() - t
        assert r.status_code == 200, r.text
        base_s = baseline_per_row(admin, app, baseline_person, fixes)
        print(
            f"1. one shift ({SHIFT} fixes) in one POST /field/api/fixes: {shift_s:.3f} s "
            f"server time on loopback, answer {r.json()}"
        )
        print(
            f"   baseline, one INSERT per fix in one transaction: {base_s:.3f} s; "
            f"ratio {base_s / shift_s:.1f}x; bar < 2 s: {'met' if shift_s < 2 else 'NOT met'}"
        )
        crowd_people = people[2:]
        cpu = CpuMeter(server.pid, admin)
        t = time.perf_counter()
        out, (phones, retried, done) = asyncio.run(
            crowd(base, crowd_people, fixes=args.fixes, window=args.window, client_kind=args.client)
        )
        wall = time.perf_counter() - t
        used = cpu.used()
        lat = np.array([o[1] for o in out]) * 1000
        busy = [o for o in out if o[2] in (429, 503)]
        bad = [o for o in out if o[2] not in (200, 201, 429, 503)]
        ok_lat = np.array([o[1] for o in out if o[2] in (200, 201)]) * 1000
        print(
            f"2. {len(crowd_people)} phones within {args.window:.0f} s "
            f"({len(out)} requests, {wall:.1f} s wall): p50 {np.percentile(lat, 50):.0f} ms, "
            f"p95 {np.percentile(lat, 95):.0f} ms, p99 {np.percentile(lat, 99):.0f} ms, "
            f"max {lat.max():.0f} ms (every answer, 503s included)"
        )
        print(
            f"   answered 2xx: p50 {np.percentile(ok_lat, 50):.0f} ms, "
            f"p99 {np.percentile(ok_lat, 99):.0f} ms; busy 503/429 (sent again after "
            f"Retry-After): {len(busy)}; other non-2xx {len(bad)} {bad[:3]}"
        )
        for name in ("photo", "sync", "fixes"):
            part = np.array([o[1] for o in out if o[0] == name and o[2] in (200, 201)]) * 1000
            work = np.array([o[3][1] for o in out if o[0] == name and o[3]])
            queue = np.array([o[3][0] for o in out if o[0] == name and o[3]])
            print(
                f"   {name:>5}: p50 {np.percentile(part, 50):.0f} ms, "
                f"p99 {np.percentile(part, 99):.0f} ms; server time (Server-Timing) "
                f"p50 {np.percentile(work, 50):.0f} ms, p99 {np.percentile(work, 99):.0f} ms, "
                f"queued p99 {np.percentile(queue, 99):.0f} ms"
            )
        print(
            f"   CPU seconds in part 2 ({wall:.1f} s wall, 2 cores = {2 * wall:.1f} CPU-s): "
            f"API {used['api']:.1f}, PostgreSQL {used['postgres']:.1f}, the phones' "
            f"client ({args.client}) {used['client']:.1f}; the machine's other load "
            f"{used['other']:.1f}"
        )
        whole = np.array(done)
        print(
            f"   a phone's whole sync (photo, outbox, fixes; Retry-After waits included): "
            f"p50 {np.percentile(whole, 50):.2f} s, p99 {np.percentile(whole, 99):.2f} s, "
            f"max {whole.max():.2f} s"
        )
        with admin.connect() as conn:
            ids = [p["action"]["client_id"] for p in phones]
            cases = conn.execute(
                sa.text(
                    "SELECT count(*), count(DISTINCT source_id) FROM cases "
                    "WHERE source_system = 'field' AND source_id = ANY(:i)"
                ),
                {"i": ids},
            ).one()
            points = conn.execute(
                sa.text("SELECT count(*) FROM patrol_points WHERE worker_id = ANY(:w)"),
                {"w": [p["worker_id"] for p in crowd_people]},
            ).scalar_one()
            aside = conn.execute(
                sa.text("SELECT count(*) FROM patrol_points_aside WHERE worker_id = ANY(:w)"),
                {"w": [p["worker_id"] for p in crowd_people]},
            ).scalar_one()
        answered = sum(
            1 for p in phones if p["answers"]["sync"] and p["answers"]["sync"]["results"][0]["ok"]
        )
        stored = sum(p["answers"]["fixes"]["stored"] for p in phones if p["answers"]["fixes"])
        print(
            f"   database: {cases[0]} cases ({cases[1]} distinct client ids) for "
            f"{len(phones)} phones, {answered} answered ok; {points} fixes stored "
            f"(answers said {stored}) + {aside} aside of {len(phones) * args.fixes} sent; "
            f"re-sent outboxes answered the same: {sum(retried)}/{len(retried)}"
        )
        lost = len(phones) - cases[0] + (len(phones) * args.fixes - points - aside)
        print(
            f"   lost: {lost}; doubled: {cases[0] - cases[1]}; bar p99 < 500 ms: "
            f"{'met' if np.percentile(lat, 99) < 500 else 'NOT met'}"
        )
    finally:
        server.terminate()
        server.wait(30)
        app.dispose()
        admin.dispose()
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
