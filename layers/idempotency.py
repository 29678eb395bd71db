"""Idempotency keys of API writes: the same key and body get the same answer, once.

A phone that loses the answer to ``POST requests`` retries; without a key that is a
second case. With an ``Idempotency-Key`` header the first answer is stored in
``api_idempotency`` (migration 0021) in the write's own transaction, so that either
both the case and the answer are committed or neither is; concurrent requests with one
key wait for each other (a transaction-level advisory lock).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.workflow.errors import BadValue, WorkflowError

MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(WorkflowError):
    """The key was used before for a request with another body."""

    code = "idempotency_key_reused"
    kind = "unprocessable"


def request_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 of the request's fields (order-independent; ``None`` fields left out)."""
    body = json.dumps(
        {k: v for k, v in fields.items() if v is not None}, sort_keys=True, default=str
    )
    return hashlib.sha256(body.encode()).hexdigest()


def check_key(key: str) -> str:
    """``key`` when it is 1-255 printable ASCII characters.

    Raises
    ------
    BadValue
        Empty, too long or with other characters.
    """
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all(33 <= ord(c) < 127 for c in key):
        raise BadValue(
            f"Idempotency-Key: 1-{MAX_KEY_LENGTH} printable ASCII characters without spaces"
        )
    return key


def claim(*, conn: Connection, client: str, key: str, fingerprint: str) -> tuple[int, Any] | None:
    """The stored answer (status, body) for ``key``, or None when it is new (then locked
    until the transaction ends: call :func:`remember` in it).

    Raises
    ------
    IdempotencyKeyReused
        ``key`` was used before with another body.
    """
    conn.execute(sa.text("SELECT set_config('gridgov.client', :c, true)"), {"c": client})
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtext('idem:' || :c || ':' || :k))"),
        {"c": client, "k": key},
    )
    row = conn.execute(
        sa.text(
            "SELECT request_hash, status_code, response FROM api_idempotency "
            "WHERE client = :c AND key = :k"
        ),
        {"c": client, "k": key},
    ).first()
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "Idempotency-Key was already used for a request with other fields; "
            "use a new key for a new report"
        )
    return int(row.status_code), row.response


def remember(
    *, conn: Connection, client: str, key: str, fingerprint: str, status_code: int, body: Any
) -> None:
    """Store the answer to the request claimed with ``key``."""
    conn.execute(
        sa.text("""
        INSERT INTO api_idempotency (client, key, request_hash, status_code, response)
        VALUES (:c, :k, :h, :s, CAST(:b AS jsonb))"""),
        {"c": client, "k": key, "h": fingerprint, "s": status_code, "b": json.dumps(body)},
    )
