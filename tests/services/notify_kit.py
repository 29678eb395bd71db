"""Real local far ends for the alert tests: an SMTP server, an HTTP receiver, a case walk.

- :func:`smtp_server`: aiosmtpd on a free loopback port, collecting every message;
- :class:`HttpReceiver`: a threading HTTP server on a chosen port that records each POST
  (headers and raw body) and answers a settable status; it can start late (a receiver
  that is "down" is simply a port nobody listens on yet);
- :func:`walk_case`: the command centre's steps through ``services.case_commands``
  (the calls the dashboard makes), each committed on its own.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine

from services.case_commands import ActionRequest, take_action
from services.uow import Scope
from tests.api.server import free_port
from tests.workflow.factories import PHOTO, WEST, make_case

__all__ = ["HttpReceiver", "free_port", "make_link", "report", "smtp_server", "walk_case"]


class _Collect:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(mail)  # type: ignore[arg-type]
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, list[EmailMessage]]]:
    """A real SMTP server on 127.0.0.1; yields its port and the list it fills."""
    handler = _Collect()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler.messages
    finally:
        controller.stop()


@dataclass
class HttpReceiver:
    """Records every POST; answers ``status`` (and ``body``)."""

    port: int
    status: int = 200
    body: bytes = b'{"ok": true}'
    requests: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start listening (a receiver that was down comes up)."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": raw}
                )
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


def report(engine: Engine, **kw: Any) -> dict[str, Any]:
    """Report one case (committed) in the west community of the test area."""
    with engine.begin() as conn:
        return dict(make_case(conn, **kw))


def make_link(engine: Engine, case_id: int) -> str:
    """The case's private link as the residents' app makes it (a row in
    ``resident_links``); returns the secret token."""
    token = secrets.token_urlsafe(24)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO resident_links (case_id, token_hash, client_id, relation, kind) "
                "VALUES (:c, :h, :cid, 'report', 'streetlight')"
            ),
            {
                "c": case_id,
                "h": hashlib.sha256(token.encode()).digest(),
                "cid": secrets.token_hex(8),
            },
        )
    return token


STEPS = [
    ("accept", "operator", {}),
    ("register", "operator", {}),
    ("dispatch", "dispatcher", {}),
    ("start", "handler", {}),
    ("handle", "handler", {"reason": "已修复 fixed", "attachments": PHOTO}),
    ("check", "grid_worker", {}),
    ("close", "operator", {}),
]


def walk_case(engine: Engine, case_id: int, *, until: str | None = None) -> Iterator[str]:
    """Take the case along the loop, one committed step at a time; yields each action
    after it is committed (``until``: stop after that action)."""
    version = 1
    for action, role, extra in STEPS:
        scope = Scope(role)
        if role == "grid_worker":
            scope = Scope(role, WEST)
        if role == "handler":
            with engine.connect() as conn:
                dept = conn.execute(
                    sa.text(
                        "SELECT d.code FROM cases c JOIN departments d ON d.id = c.department_id "
                        "WHERE c.id = :i"
                    ),
                    {"i": case_id},
                ).scalar_one()
            scope = Scope(role, department_code=dept)
        result = take_action(
            engine,
            scope=scope,
            actor=f"test-{role}",
            request=ActionRequest(
                case_id=case_id, action=action, expected_version=version, **extra
            ),
        )
        version = result.version
        yield action
        if action == until:
            return
