"""Signed webhooks: HMAC-SHA256 over ``<timestamp>.<body>``, the timestamp in a header.

Headers of every POST (``Content-Type: application/json``):

- ``X-GridGov-Delivery`` — the delivery key, the same on every retry of one event to one
  receiver: a receiver keeps the first and acknowledges the rest;
- ``X-GridGov-Timestamp`` — Unix seconds when this attempt was signed;
- ``X-GridGov-Signature`` — ``sha256=<hex of HMAC-SHA256(secret, timestamp + "." + body)>``.

A receiver recomputes the signature over the raw body (:func:`verify`) and refuses
timestamps older than a few minutes (a replayed request). Any 2xx answer counts as
delivered; anything else, or no answer within the timeout, is retried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from city.errors import GridGovError
from layers.notify import Claimed

__all__ = ["SendFailed", "WebhookSender", "sign", "verify"]


class SendFailed(GridGovError):
    """One attempt did not get through (the message says what the far end did)."""

    code = "send_failed"
    kind = "unavailable"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-GridGov-Signature`` value for ``body`` signed at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    tolerance_s: int = 300,
    now: float | None = None,
) -> bool:
    """True when ``signature`` signs ``body`` at ``timestamp`` and the timestamp is fresh."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    # compared as bytes: compare_digest refuses non-ASCII text with a TypeError
    return hmac.compare_digest(
        sign(secret, body, ts).encode(), signature.encode("utf-8", "replace")
    )


class WebhookSender:
    """POSTs the notification's payload as JSON to its receiver's URL, signed."""

    def __init__(self, *, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s

    def send(self, notification: Claimed) -> str:
        """Deliver once; raise :class:`SendFailed` unless the receiver answers 2xx."""
        if not notification.url or not notification.secret:
            raise SendFailed("receiver has no URL or secret")
        body = json.dumps(notification.payload, ensure_ascii=False, sort_keys=True).encode()
        ts = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GridGov-Webhook/1",
            "X-GridGov-Delivery": notification.delivery_key,
            "X-GridGov-Timestamp": str(ts),
            "X-GridGov-Signature": sign(notification.secret, body, ts),
        }
        try:
            response = httpx.post(
                notification.url, content=body, headers=headers, timeout=self.timeout_s
            )
        except httpx.HTTPError as exc:
            raise SendFailed(f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise SendFailed(f"HTTP {response.status_code}")
        return f"HTTP {response.status_code}"
