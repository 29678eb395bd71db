"""The one root of GridGov's errors, as ``gis`` and everything above it imports it.

The root itself lives at the very bottom of the import chain, in :mod:`city.errors`,
so that the city profile's own errors (bad profile values, grid sizes, codes) share
it; this module re-exports it under the name every other package uses.
"""

from __future__ import annotations

from city.errors import KINDS, GridGovError, exit_code, http_status, kind_for_status

__all__ = ["KINDS", "GridGovError", "exit_code", "http_status", "kind_for_status"]
