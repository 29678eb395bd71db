"""The server killed (SIGKILL) *inside* a sync's transaction: the next sync completes, once.

The API runs as a subprocess (uvicorn, the app's own login) with the crash hook
``GRIDGOV_TEST_PAUSE_IN=<sync|fixes>:<file>`` (services.field.pause_for_test): after the
first action of the outbox has been applied — its case, history row and stored result
written but not committed — or after a batch of fixes has been written, the server writes
the file and waits inside the open transaction; the test kills it with SIGKILL. Nothing
of the half-done request may be in the database; the server is started again (no hook),
the phone sends the same outbox and fixes, and every item is there exactly once.
The browser test (tests/e2e/test_field_app.py) kills after the apply, before the answer.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.api.field_fixtures import jpeg, sign_in
from tests.api.server import free_port, start_api_process, wait_for_api
from tests.workflow.factories import category_with_department

SPOT = (120.611, 31.306)


def _start(url: str, port: int, media: Path, pause: str | None) -> object:
    env = {
        "DATABASE_URL": url,
        "GRIDGOV_API_RATE_ADDRESS": "off",
        "GRIDGOV_API_RATE_KEY": "off",
        "GRIDGOV_MEDIA_DIR": str(media),
    }
    if pause:
        env["GRIDGOV_TEST_PAUSE_IN"] = pause
    proc = start_api_process(port=port, env=env)
    wait_for_api(f"http://127.0.0.1:{port}/openapi.json", proc=proc)
    return proc


def _send_and_kill(proc, flag: Path, send) -> BaseException | None:  # type: ignore[no-untyped-def]
    """Send in a thread; when the server says it paused mid-transaction, SIGKILL it."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            send()
        except httpx.HTTPError as exc:
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert time.monotonic() < deadline, "the server never reached the crash hook"
        assert proc.poll() is None, "the server died before the crash hook"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(20)
    thread.join(30)
    return failure[0] if failure else None


def test_killed_mid_apply_the_next_sync_completes_and_nothing_is_doubled(  # noqa: PLR0915 (one story)
    field_db, field_app_engine, tmp_path
):
    url = field_app_engine.url.render_as_string(hide_password=False)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    media = tmp_path / "media"
    with field_db.connect() as conn:
        code = category_with_department(conn)
        worker = conn.execute(sa.text("SELECT id FROM workers WHERE code = 'W-T2'")).scalar_one()
    proc = _start(url, port, media, None)
    try:
        token, _ = sign_in(base, "gw2")
        auth = {"Authorization": f"Bearer {token}"}
        photos = [str(uuid.uuid4()) for _ in range(3)]
        for i, pid in enumerate(photos):
            r = httpx.put(
                f"{base}/field/api/photos/{pid}",
                content=jpeg(500 + i),
                headers=auth | {"Content-Type": "image/jpeg"},
            )
            assert r.status_code == 201, r.text
    finally:
        proc.terminate()
        proc.wait(20)
    actions = [
        {
            "client_id": str(uuid.uuid4()),
            "kind": "report",
            "payload": {
                "service_code": code,
                "lon": SPOT[0] + i * 0.0002,
                "lat": SPOT[1],
                "accuracy_m": 6,
                "description": f"kill mid-apply {i}",
                "photo_ids": [pid],
            },
        }
        for i, pid in enumerate(photos)
    ]
    now = time.time()
    fixes = [
        {"t": now - 3000 + 10 * i, "lon": SPOT[0], "lat": SPOT[1] + i * 0.00005, "accuracy": 5}
        for i in range(20)
    ]
    ids = [a["client_id"] for a in actions]

    def in_db() -> tuple[int, int, int, int]:
        with field_db.connect() as conn:
            return tuple(
                conn.execute(
                    sa.text("""
                SELECT (SELECT count(*) FROM cases WHERE source_id = ANY(:i)),
                       (SELECT count(*) FROM field_actions
                        WHERE client_id = ANY(CAST(:i AS uuid[]))),
                       (SELECT count(*) FROM case_events e JOIN cases c ON c.id = e.case_id
                        WHERE c.source_id = ANY(:i)),
                       (SELECT count(*) FROM patrol_points WHERE worker_id = :w
                        AND at BETWEEN to_timestamp(:t0) AND to_timestamp(:t0 + 200))
            """),
                    {"i": ids, "w": worker, "t0": now - 3001},
                ).one()
            )

    assert in_db() == (0, 0, 0, 0)
    # 1. killed inside the sync's transaction, after its first action was applied
    flag = tmp_path / "paused-sync"
    proc = _start(url, port, media, f"sync:{flag}")
    lost = _send_and_kill(
        proc,
        flag,
        lambda: httpx.post(f"{base}/field/api/sync", json={"actions": actions}, headers=auth),
    )
    assert lost is not None  # the phone never got an answer
    assert in_db() == (0, 0, 0, 0)  # the half-applied outbox left nothing behind
    # 2. killed inside the fixes' transaction, after the batch was written
    flag = tmp_path / "paused-fixes"
    proc = _start(url, port, media, f"fixes:{flag}")
    lost = _send_and_kill(
        proc,
        flag,
        lambda: httpx.post(f"{base}/field/api/fixes", json={"fixes": fixes}, headers=auth),
    )
    assert lost is not None
    assert in_db() == (0, 0, 0, 0)
    # 3. started again: the phone sends the same outbox and fixes (twice: a lost answer)
    proc = _start(url, port, media, None)
    try:
        with httpx.Client(base_url=base, headers=auth, timeout=60) as c:
            first = c.post("/field/api/sync", json={"actions": actions})
            assert first.status_code == 200, first.text
            assert [r["ok"] for r in first.json()["results"]] == [True, True, True]
            again = c.post("/field/api/sync", json={"actions": actions})
            assert again.json() == first.json()
            stored = c.post("/field/api/fixes", json={"fixes": fixes}).json()
            assert stored == {"stored": 20, "duplicates": 0, "aside": {}}, stored
            resent = c.post("/field/api/fixes", json={"fixes": fixes}).json()
            assert resent == {"stored": 0, "duplicates": 20, "aside": {}}, resent
    finally:
        proc.terminate()
        proc.wait(20)
    assert in_db() == (3, 3, 3, 20)  # each case once with its one history row; each fix once
