"""Workflow errors: one class per thing that can go wrong, each with a stable code.

The database raises its own SQLSTATEs (``GGnnn``, see migration 0002) and
:func:`from_db_error` turns them into these classes, so Python, the API and
the CLI report the same codes. Each class's ``kind`` decides the API's HTTP status and
the CLI's exit code, through the one table in :mod:`gis.errors`.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from gis.errors import GridGovError


class WorkflowError(GridGovError):
    """Base class: a request the workflow refuses; nothing was written."""

    code = "workflow_error"
    kind = "bad_input"


class UnknownRole(WorkflowError):
    """A role name that GridGov does not know."""

    code = "unknown_role"


class RoleNotHeld(WorkflowError):
    """The database user does not hold the PostgreSQL role of the claimed GridGov role."""

    code = "role_not_held"
    kind = "forbidden"


class OutsideYourArea(WorkflowError):
    """An area-scoped role acted on a case outside its street or community."""

    code = "outside_your_area"
    kind = "forbidden"


class RoleForbidden(WorkflowError):
    """The action exists from this state, but not for this role."""

    code = "role_forbidden"
    kind = "forbidden"


class WrongState(WorkflowError):
    """The action is not possible from the case's current status."""

    code = "wrong_state"
    kind = "conflict"


class UnknownAction(WorkflowError):
    """An action name the lifecycle does not have."""

    code = "unknown_action"


class StaleCase(WorkflowError):
    """Someone changed the case since it was read (optimistic lock)."""

    code = "stale_case"
    kind = "conflict"


class CaseNotFound(WorkflowError):
    """No case with this id (or none the caller may see)."""

    code = "case_not_found"
    kind = "not_found"


class MissingReason(WorkflowError):
    """The action needs a reason (a note)."""

    code = "missing_reason"


class MissingAttachment(WorkflowError):
    """The action needs an attachment (a photo)."""

    code = "missing_attachment"


class BadValue(WorkflowError, ValueError):
    """A value is missing or malformed (actor, department, satisfaction, …)."""

    code = "bad_value"


class RequestRequired(WorkflowError):
    """An approval without the pending request it approves."""

    code = "request_required"
    kind = "conflict"


class RequestPending(WorkflowError):
    """A second request while one is still waiting for approval."""

    code = "request_pending"
    kind = "conflict"


class StatusGuard(WorkflowError):
    """A status change that bypassed ``case_transition()``."""

    code = "status_guard"
    kind = "internal"


class UnknownCategory(WorkflowError):
    """A service_code that is not a minor class of the catalogue."""

    code = "unknown_category"


class OutsideServedArea(WorkflowError):
    """A location outside every street GridGov serves."""

    code = "outside_served_area"


class BadCoordinates(WorkflowError):
    """Coordinates that are missing, not numbers or out of range."""

    code = "bad_coordinates"


class UnknownDatum(WorkflowError):
    """A datum other than WGS 84, GCJ-02 or BD-09."""

    code = "unknown_datum"


class DescriptionTooLong(WorkflowError):
    """A description over the limit."""

    code = "description_too_long"


class MediaTooLarge(WorkflowError):
    """Too many media items, or a media reference that is too long or not a URL."""

    code = "media_too_large"


class BadApiKey(WorkflowError):
    """A missing, unknown or revoked API key."""

    code = "bad_api_key"
    kind = "unauthorised"


class NoRoute(WorkflowError):
    """No department could be found for a case (neither statutory nor territorial)."""

    code = "no_route"
    kind = "conflict"


SQLSTATE_ERRORS: dict[str, type[WorkflowError]] = {
    "GG001": UnknownRole,
    "GG002": RoleNotHeld,
    "GG003": OutsideYourArea,
    "GG004": RoleNotHeld,  # a second identity in one transaction (migration 0013)
    "GG010": BadValue,
    "GG011": UnknownAction,
    "GG012": MissingReason,
    "GG013": MissingAttachment,
    "GG014": BadValue,
    "GG015": BadValue,  # a change key the action does not take (migration 0014)
    "GG016": BadValue,  # an attachment that is not a stored photo of the case or a URL
    "GG020": StatusGuard,
    "GG030": UnknownCategory,
    "GG031": OutsideServedArea,
    "GG403": RoleForbidden,
    "GG404": CaseNotFound,
    "GG409": StaleCase,
    "GG422": WrongState,
    "GG428": RequestRequired,
    "GG429": RequestPending,
}
"""SQLSTATEs raised by the migration-0002 functions → exception classes."""


def from_db_error(exc: DBAPIError) -> WorkflowError | None:
    """The workflow error a database exception stands for, or None if it is something else."""
    orig = exc.orig
    state = getattr(orig, "sqlstate", None)
    cls = SQLSTATE_ERRORS.get(state or "")
    if cls is None:
        return None
    diag = getattr(orig, "diag", None)
    message = getattr(diag, "message_primary", None) or str(orig)
    return cls(message)
