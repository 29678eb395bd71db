"""Rate limits of the API: per client address (every request) and per API key (reports).

Built on the maintained ``limits`` package (moving windows). The default storage,
``memory://``, counts in this process only: with several API processes behind a
balancer each counts on its own — point ``GRIDGOV_API_RATE_STORAGE`` at a shared
store (``redis://host:6379``, ``memcached://…``; the ``limits`` package's storage URIs)
to count once for all.

Settings (``limits`` notation, several separated by ``;``; ``off`` disables):

- ``GRIDGOV_API_RATE_ADDRESS`` — every request from one client address
  (default ``300/minute``);
- ``GRIDGOV_API_RATE_KEY`` — reports (``POST requests``) per API key
  (default ``30/minute;1000/day``: a misbehaving app cannot bury the operator's queue).

The client address is the TCP peer; behind a reverse proxy run uvicorn with
``--proxy-headers --forwarded-allow-ips=<the proxy>`` so that it is the caller's.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class RateLimited(Exception):
    """Too many requests from one address or key; retry after ``retry_after_s`` seconds."""

    def __init__(self, what: str, limit: RateLimitItem, retry_after_s: int) -> None:
        super().__init__(f"rate limit of {limit} per {what} reached; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class RateLimits:
    """The limits as configured (``None``: no limit of that kind)."""

    per_address: str | None = "300/minute"
    per_key: str | None = "30/minute;1000/day"
    storage: str = "memory://"

    @classmethod
    def from_env(cls) -> RateLimits:
        """From ``GRIDGOV_API_RATE_ADDRESS``, ``GRIDGOV_API_RATE_KEY`` and
        ``GRIDGOV_API_RATE_STORAGE`` (defaults above; ``off`` turns one off)."""
        default = cls()

        def read(env: str, fallback: str | None) -> str | None:
            raw = os.environ.get(env)
            if raw is None:
                return fallback
            return None if raw.strip().lower() in ("off", "none", "") else raw.strip()

        return cls(
            per_address=read("GRIDGOV_API_RATE_ADDRESS", default.per_address),
            per_key=read("GRIDGOV_API_RATE_KEY", default.per_key),
            storage=os.environ.get("GRIDGOV_API_RATE_STORAGE", default.storage),
        )


class Limiter:
    """Counts requests per address and reports per key; raises :class:`RateLimited`."""

    def __init__(self, limits: RateLimits) -> None:
        try:
            self._address = parse_many(limits.per_address) if limits.per_address else []
            self._key = parse_many(limits.per_key) if limits.per_key else []
        except ValueError as exc:
            raise ValueError(f"API rate limit: {exc} (e.g. '30/minute;1000/day')") from exc
        self._window = MovingWindowRateLimiter(storage_from_string(limits.storage))

    def address(self, address: str | None) -> None:
        """Count one request from ``address`` (None: unknown, not counted)."""
        if address:
            self._hit(self._address, "address", "address", address)

    def key(self, key: str | None) -> None:
        """Count one report with API key ``key`` (only its hash is kept)."""
        if key:
            self._hit(self._key, "API key", "key", hashlib.sha256(key.encode()).hexdigest()[:32])

    def _hit(self, items: list[RateLimitItem], what: str, kind: str, identity: str) -> None:
        for item in items:
            if not self._window.hit(item, kind, identity):
                reset = self._window.get_window_stats(item, kind, identity).reset_time
                raise RateLimited(what, item, max(1, math.ceil(reset - time.time())))
