"""Commands on cases: every write a front door makes to a case goes through here.

Each command opens one writing :func:`services.uow.unit_of_work` as the user's scope
and makes one workflow call; the database checks role, area, version and transition.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from layers import media
from layers.workflow import access, dispatch, duplicates, transitions
from layers.workflow.access import Scope
from layers.workflow.errors import BadValue
from layers.workflow.transitions import TransitionResult
from services.uow import unit_of_work

__all__ = [
    "ActionRequest",
    "TransitionResult",
    "photo",
    "photo_for_action",
    "reveal_contacts",
    "store_photo",
    "take_action",
]


@dataclass(frozen=True)
class ActionRequest:
    """One action on a case as a person asks for it.

    ``department_code`` (dispatch only) designates a department over the rules
    (``reason`` required); ``attachments`` (e.g. :func:`store_photo`'s record) go into
    the history row; ``merge_into`` (merge only) is the open case it duplicates.
    """

    case_id: int
    action: str
    expected_version: int
    reason: str | None = None
    department_code: str | None = None
    attachments: list[dict[str, Any]] | None = None
    merge_into: int | None = None


def take_action(
    engine: Engine,
    *,
    scope: Scope,
    actor: str,
    request: ActionRequest,
    now: datetime | None = None,
) -> TransitionResult:
    """Take ``request.action`` on a case as ``actor`` in ``scope`` and commit.

    ``dispatch`` routes by the rules or to the designated department; ``extend``
    approves a pending extension by the case's time limit again; ``merge`` rejects the
    case as a duplicate of ``merge_into``, whose reporters it joins.

    Raises
    ------
    layers.workflow.errors.WorkflowError
        Whatever the lifecycle refuses (stale version, wrong state, role, missing reason);
        nothing is written then.
    """
    at = now or datetime.now().astimezone()
    with unit_of_work(engine, scope, write=True) as conn:
        return _apply(conn, role=scope.role, actor=actor, r=request, at=at)


def _apply(
    conn: Connection, *, role: str, actor: str, r: ActionRequest, at: datetime
) -> TransitionResult:
    """The one workflow call that ``r.action`` is."""
    if r.action == "merge":
        if r.merge_into is None:
            raise BadValue("merge needs the case to merge into (merge_into)")
        return duplicates.merge_duplicate(
            conn=conn,
            duplicate_id=r.case_id,
            target_id=r.merge_into,
            actor=actor,
            role=role,
            expected_version=r.expected_version,
            reason=r.reason or "duplicate",
        )
    if r.action == "dispatch":
        return dispatch.dispatch_case(
            conn=conn,
            case_id=r.case_id,
            actor=actor,
            role=role,
            expected_version=r.expected_version,
            at=at,
            department_code=r.department_code,
            rule="designated" if r.department_code else None,
            reason=r.reason,
        )
    if r.action == "extend":
        return dispatch.approve_extension(
            conn=conn,
            case_id=r.case_id,
            actor=actor,
            role=role,
            expected_version=r.expected_version,
            reason=r.reason or "",
            at=at,
        )
    return transitions.transition(
        conn=conn,
        case_id=r.case_id,
        action=r.action,
        actor=actor,
        role=role,
        expected_version=r.expected_version,
        reason=r.reason or None,
        attachments=r.attachments,
        at=at,
    )


def reveal_contacts(
    engine: Engine, *, scope: Scope, actor: str, case_id: int
) -> list[dict[str, Any]]:
    """Unmasked reporters of a case for roles that need them; the view is recorded.

    Raises
    ------
    layers.workflow.errors.RoleForbidden
        The role sees reporters only masked.
    """
    with unit_of_work(engine, scope, write=True) as conn:
        return access.reporter_contacts(
            conn=conn, case_ids=[case_id], actor=actor, role=scope.role, purpose="view"
        )


def store_photo(data: bytes, *, case_id: int, name: str) -> dict[str, Any]:
    """Check and keep a photo for case ``case_id``; its attachment record for an action.

    Raises
    ------
    layers.media.PhotoError
        Empty, too big or not a JPEG, PNG or WebP image.
    """
    return media.store_photo(data, case_id=case_id, name=name)


def photo_for_action(
    data: bytes, *, case_id: int, name: str
) -> AbstractContextManager[dict[str, Any]]:
    """Keep a photo for an action the database may still refuse; its attachment record.

    Use as a context manager around :func:`take_action`: when the block raises (the
    action was refused) a file this call wrote is removed again.

    Raises
    ------
    layers.media.PhotoError
        Empty, too big or not a JPEG, PNG or WebP image.
    """
    return media.photo_kept_if_accepted(data, case_id=case_id, name=name)


def photo(path: str) -> str:
    """A stored photo (``path`` as recorded in its attachment) as a ``data:`` URL.

    Shown inline in the user's own session, never through a public ``/media/`` link.

    Raises
    ------
    layers.media.PhotoError
        A path outside the photo store, or a missing file.
    """
    return media.photo_data_url(media.read_photo(path))
