"""`gridgov notify …`: the alert worker, webhook receivers and dead letters (no SQL here)."""

from __future__ import annotations

import logging
import secrets
import signal
import threading

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.errors import reported_errors
from layers.db import get_engine
from layers.notify_subscriptions import NewReceiver
from services import notify
from services.senders import senders_from_env

console = Console()
notify_app = typer.Typer(
    help="Alerts: the notification worker, signed-webhook receivers, dead letters.",
    no_args_is_help=True,
)
receivers_app = typer.Typer(
    help="Departments' systems that receive new and changed cases as signed webhooks.",
    no_args_is_help=True,
)
notify_app.add_typer(receivers_app, name="receivers")


@notify_app.command("run")
def run(
    *,
    once: bool = typer.Option(
        False, "--once", help="One pass (capture, send what is due), then exit."
    ),
    interval: float = typer.Option(2.0, min=0.1, help="Seconds between passes."),
) -> None:
    """Capture case events and deliver alerts and webhooks, retrying with back-off."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    senders = senders_from_env()
    waiting = sorted({"email", "sms", "wechat"} - set(senders))
    if waiting:
        console.print(f"not configured (these wait in the outbox): {', '.join(waiting)}")
    engine = get_engine()
    with reported_errors():
        if once:
            result = notify.run_once(engine, senders=senders)
            console.print(
                f"captured {result.captured} events, queued {result.queued}, sent {result.sent}, "
                f"to retry {result.failed}, dead {result.dead}"
            )
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        console.print(f"notification worker: a pass every {interval:g} s (Ctrl-C stops)")
        try:
            notify.run(engine, interval_s=interval, stop=stop, senders=senders)
        except KeyboardInterrupt:
            stop.set()


@receivers_app.command("add")
def receivers_add(
    *,
    name: str = typer.Argument(..., help="A short name (letters, digits, '_', '.', '-')."),
    url: str = typer.Argument(..., help="Where to POST (http:// or https://)."),
    secret: str = typer.Option(
        None, help="HMAC key, ≥ 16 characters (default: a new one, printed once)."
    ),
    department: str = typer.Option(None, help="Only cases of this department (code); default all."),
    max_tries: int = typer.Option(12, min=1, max=100, help="Tries before a dead letter."),
    backoff: float = typer.Option(
        5.0, min=0.1, help="First retry after this many seconds (doubling)."
    ),
    backoff_cap: float = typer.Option(900.0, min=0.1, help="Longest wait between tries (s)."),
) -> None:
    """Add a receiver: it gets every new and changed case from now on, signed."""
    made_secret = secret is None
    key = secrets.token_urlsafe(32) if made_secret else secret
    receiver = NewReceiver(
        name=name,
        url=url,
        secret=key,
        department_code=department,
        max_tries=max_tries,
        backoff_base_s=backoff,
        backoff_cap_s=backoff_cap,
    )
    with reported_errors():
        rid = notify.add_receiver(get_engine(), receiver)
    console.print(f"receiver {escape(name)} (id {rid}) → {escape(url)}")
    if made_secret:
        console.print(f"secret (shown once; verify X-GridGov-Signature with it): {key}")


@receivers_app.command("list")
def receivers_list() -> None:
    """List receivers with their sent / waiting / dead counts (no secrets)."""
    with reported_errors():
        rows = notify.list_receivers(get_engine())
    table = Table("id", "name", "url", "department", "tries", "sent", "waiting", "dead", "disabled")
    for r in rows:
        table.add_row(
            str(r["id"]),
            escape(r["name"]),
            escape(r["url"]),
            r["department"] or "all",
            str(r["max_tries"]),
            str(r["sent"]),
            str(r["waiting"]),
            str(r["dead"]),
            str(r["disabled_at"] or ""),
        )
    console.print(table)


@notify_app.command("dead")
def dead(
    *,
    retry: bool = typer.Option(False, "--retry", help="Queue every dead letter again."),
    limit: int = typer.Option(100, min=1, help="Show at most this many."),
) -> None:
    """List notifications that ran out of tries (and, with --retry, send them again)."""
    engine = get_engine()
    with reported_errors():
        rows = notify.dead_letters(engine, limit=limit)
        table = Table("id", "channel", "receiver", "case", "event", "tries", "died", "last error")
        for r in rows:
            table.add_row(
                str(r["id"]),
                r["channel"],
                escape(r["receiver"] or ""),
                escape(r["case_no"] or ""),
                str(r["event_id"]),
                str(r["attempts"]),
                str(r["died_at"])[:19],
                escape((r["last_error"] or "")[:80]),
            )
        console.print(table)
        if retry:
            console.print(f"queued again: {notify.retry_dead(engine)}")
