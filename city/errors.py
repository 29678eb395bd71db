"""The one root of GridGov's errors, and the one mapping of its kinds to exit and HTTP codes.

Every error a person may see derives from :class:`GridGovError`: a stable ``code``
(``snake_case``, never translated) and a message that names the row or field and why.
It sits here, at the bottom of the import chain (re-exported as :mod:`gis.errors`),
because every package raises it — the city profile, ``gis`` (bad geometry input),
``layers`` (workflow, ingest, cluster, photos…) and the drawing kit — and it is pure
Python. The front doors (CLI, API, pages) map an error
to what they answer with through :func:`exit_code` and :func:`http_status` only.
"""

from __future__ import annotations

KINDS: dict[str, tuple[int, int]] = {
    "bad_input": (1, 400),
    "unauthorised": (1, 401),
    "forbidden": (1, 403),
    "not_found": (1, 404),
    "conflict": (1, 409),
    "unprocessable": (1, 422),
    "too_many": (1, 429),
    "unavailable": (1, 503),
    "internal": (1, 500),
}
"""Kind of error -> (CLI exit code, HTTP status): the one table every front door uses.

Every refusal exits the CLI with 1 (scripts tell refusals apart by the printed code);
the column is here so that a kind can get its own exit status in one place."""

_BY_HTTP = {status: kind for kind, (_, status) in KINDS.items()}


class GridGovError(Exception):
    """Base of every GridGov error: a stable ``code``, a ``kind`` and a readable message.

    Subclasses set ``code`` and ``kind`` (a key of :data:`KINDS`) as class attributes;
    an instance may override ``code`` with the ``code`` keyword.
    """

    code = "gridgov_error"
    kind = "bad_input"

    def __init__(self, message: object = "", *args: object, code: str | None = None) -> None:
        super().__init__(message, *args)
        self.message = str(message)
        if code is not None:
            self.code = code

    @property
    def http_status(self) -> int:
        """The HTTP status the API answers this error with (from :data:`KINDS`)."""
        return http_status(self)


def _kind(exc: BaseException) -> str:
    kind = getattr(exc, "kind", None)
    return kind if kind in KINDS else "internal"


def exit_code(exc: BaseException) -> int:
    """The CLI's exit code for ``exc`` (1 for anything that is not a GridGovError)."""
    return KINDS[_kind(exc)][0] if isinstance(exc, GridGovError) else 1


def http_status(exc: BaseException) -> int:
    """The HTTP status for ``exc`` (500 for anything that is not a GridGovError)."""
    return KINDS[_kind(exc)][1] if isinstance(exc, GridGovError) else 500


def kind_for_status(status: int) -> str:
    """The kind whose HTTP status is ``status`` (for classes that declare a status)."""
    return _BY_HTTP.get(status, "bad_input")
