"""The one error root and its mapping, as the front doors see them.

Every GridGov error derives from :class:`GridGovError` (``gis.errors``): a stable
``code`` and a readable message. The CLI exits with :func:`exit_code`, the API
answers with :func:`http_status`, pages show :func:`describe`.
"""

from __future__ import annotations

from gis.errors import KINDS, GridGovError, exit_code, http_status
from layers.media import PhotoError
from layers.workflow.errors import WorkflowError

__all__ = [
    "KINDS",
    "GridGovError",
    "PhotoError",
    "WorkflowError",
    "describe",
    "exit_code",
    "http_status",
]


def describe(exc: GridGovError) -> str:
    """``code: message`` — how every front door prints an error for a person."""
    return f"{exc.code}: {exc.message or exc}"
