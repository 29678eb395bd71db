"""The lifecycle of a case: statuses, actions, roles and the legal transitions.

The database holds the authoritative table (``case_transitions``, seeded by
migration 0002) and enforces it in ``case_transition()``; this module mirrors
it for Python callers — menus, the CLI, the model-based test's oracle — and a
test checks that both agree.

Open311 status (open/closed) is *not* mapped here: it is the ``open311``
column of ``case_statuses``, the one place the mapping lives.
"""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = (
    "reported",
    "accepted",
    "rejected",
    "registered",
    "dispatched",
    "in_handling",
    "suspended",
    "handled",
    "checked",
    "closed",
    "rated",
    "archived",
)
OPEN_STATUSES = frozenset(STATUSES) - {"rejected", "closed", "rated", "archived"}

ROLES = (
    "operator",
    "dispatcher",
    "shift_leader",
    "handler",
    "grid_worker",
    "supervisor",
    "leader",
    "api_client",
    "resident",
    "system",
)
MACHINE_ROLES = frozenset({"api_client", "resident", "system"})
"""Roles no person logs in with: API clients (and residents through them), the system."""
LOGIN_ROLES = tuple(r for r in ROLES if r not in MACHINE_ROLES)
"""Roles a person logs in to the dashboard with (API clients use keys)."""
AREA_SCOPED_ROLES = frozenset({"grid_worker", "supervisor"})
PERSONAL_DATA_ROLES = frozenset({"operator", "shift_leader"})
"""Roles that see and export reporters' names and phones (and only when they ask)."""
PG_ROLE = {r: f"gridgov_{r}" for r in ROLES} | {"resident": "gridgov_api_client"}
"""The PostgreSQL NOLOGIN group role behind each GridGov role."""

REQUESTS = ("extension", "return", "suspension")
REPORTERS = "operator grid_worker resident system api_client shift_leader"


@dataclass(frozen=True)
class Transition:
    """One legal step: ``action`` by ``role`` takes a case from ``from_status`` to ``to_status``."""

    from_status: str | None
    action: str
    to_status: str
    role: str
    needs_reason: bool = False
    needs_attachment: bool = False
    requires_request: str | None = None
    sets_request: str | None = None
    guard: str | None = None


def _t(frm: str | None, action: str, to: str, roles: str, **kw: object) -> list[Transition]:
    return [Transition(frm, action, to, role, **kw) for role in roles.split()]  # type: ignore[arg-type]


TRANSITIONS: tuple[Transition, ...] = tuple(
    [
        *_t(
            None,
            "report",
            "reported",
            REPORTERS,
        ),
        *_t("reported", "accept", "accepted", "operator shift_leader"),
        *_t("reported", "reject", "rejected", "operator shift_leader", needs_reason=True),
        *_t("reported", "merge", "rejected", "operator shift_leader", needs_reason=True),
        *_t("accepted", "register", "registered", "operator shift_leader"),
        *_t("accepted", "reject", "rejected", "operator shift_leader", needs_reason=True),
        *_t("accepted", "merge", "rejected", "operator shift_leader", needs_reason=True),
        *_t("accepted", "close", "closed", "operator shift_leader", guard="logged_only"),
        *_t("registered", "dispatch", "dispatched", "dispatcher shift_leader leader"),
        *_t("dispatched", "start", "in_handling", "handler"),
        *_t(
            "dispatched",
            "request_return",
            "dispatched",
            "handler",
            needs_reason=True,
            sets_request="return",
        ),
        *_t(
            "in_handling",
            "request_return",
            "in_handling",
            "handler",
            needs_reason=True,
            sets_request="return",
        ),
        *_t(
            "in_handling",
            "request_extension",
            "in_handling",
            "handler",
            needs_reason=True,
            sets_request="extension",
        ),
        *_t(
            "in_handling",
            "request_suspension",
            "in_handling",
            "handler",
            needs_reason=True,
            sets_request="suspension",
        ),
        *_t(
            "dispatched",
            "return",
            "registered",
            "dispatcher shift_leader",
            requires_request="return",
        ),
        *_t(
            "in_handling",
            "return",
            "registered",
            "dispatcher shift_leader",
            requires_request="return",
        ),
        *_t(
            "in_handling",
            "extend",
            "in_handling",
            "shift_leader",
            needs_reason=True,
            requires_request="extension",
        ),
        *_t("in_handling", "suspend", "suspended", "shift_leader", requires_request="suspension"),
        *_t(
            "dispatched",
            "deny",
            "dispatched",
            "dispatcher shift_leader",
            needs_reason=True,
            requires_request="any",
        ),
        *_t(
            "in_handling",
            "deny",
            "in_handling",
            "dispatcher shift_leader",
            needs_reason=True,
            requires_request="any",
        ),
        *_t("suspended", "resume", "in_handling", "shift_leader dispatcher"),
        *_t(
            "in_handling", "handle", "handled", "handler", needs_reason=True, needs_attachment=True
        ),
        # the field app (migration 0070): verify a report on site (status unchanged), and
        # 即知即改 — close a case the worker has just found on patrol, with a photo
        *_t(
            "reported",
            "verify",
            "reported",
            "grid_worker",
            needs_reason=True,
            needs_attachment=True,
        ),
        *_t(
            "reported",
            "close",
            "closed",
            "grid_worker",
            needs_reason=True,
            needs_attachment=True,
            guard="own_patrol_report",
        ),
        *_t("handled", "check", "checked", "grid_worker"),
        *_t("handled", "rework", "in_handling", "grid_worker", needs_reason=True),
        *_t("checked", "close", "closed", "operator shift_leader"),
        *_t("closed", "rate", "rated", "resident"),  # not the office that closed it (0080)
        *_t("closed", "archive", "archived", "system operator"),
        *_t("rated", "archive", "archived", "system operator"),
        *_t("closed", "reopen", "dispatched", "operator shift_leader", needs_reason=True),
        *_t("rated", "reopen", "dispatched", "operator shift_leader", needs_reason=True),
        # a resident's "not fixed" reopens for rework (0080)
        *_t("closed", "reopen", "dispatched", "resident", needs_reason=True),
        *_t("rated", "reopen", "dispatched", "resident", needs_reason=True),
        # supervision (督办, migration 0095): to the shift leader, the status stays
        *_t("dispatched", "escalate", "dispatched", "operator", needs_reason=True),
        *_t("in_handling", "escalate", "in_handling", "operator", needs_reason=True),
    ]
)
ACTIONS = tuple(dict.fromkeys(t.action for t in TRANSITIONS))


def find_transition(from_status: str | None, action: str, role: str) -> Transition | None:
    """The transition ``action`` by ``role`` from ``from_status``, or None if illegal."""
    for t in TRANSITIONS:
        if t.from_status == from_status and t.action == action and t.role == role:
            return t
    return None


def allowed_actions(status: str, role: str) -> list[str]:
    """Actions ``role`` may take on a case that is ``status`` (ignoring pending requests)."""
    return sorted({t.action for t in TRANSITIONS if t.from_status == status and t.role == role})


def available_transitions(status: str, role: str, pending: str | None) -> list[Transition]:
    """The transitions ``role`` may take now on a case that is ``status`` with ``pending``.

    Like :func:`allowed_actions`, but with the pending-request rules the database
    applies: an approval needs its request pending (``deny`` any request), a new
    request needs none pending. New reports (``report``) come in elsewhere. One
    transition per action, in the lifecycle's order.
    """
    out: dict[str, Transition] = {}
    for t in TRANSITIONS:
        if t.from_status != status or t.role != role or t.action in out or t.action == "report":
            continue
        if t.requires_request and (
            pending is None or (t.requires_request != "any" and pending != t.requires_request)
        ):
            continue
        if t.sets_request and pending is not None:
            continue
        out[t.action] = t
    return list(out.values())


def may_take(action: str, status: str, role: str) -> bool:
    """True when ``role`` may take ``action`` on a case that is ``status``."""
    return find_transition(status, action, role) is not None


def roles_for(status: str, action: str) -> list[str]:
    """Roles that may take ``action`` from ``status``."""
    return sorted({t.role for t in TRANSITIONS if t.from_status == status and t.action == action})
