"""The lifecycle in one place: what a case file offers comes from ``layers.workflow.states``,
and the vocabularies elsewhere are derived from it, not restated."""

import pytest

from layers.auth import LOGIN_ROLES as AUTH_LOGIN_ROLES
from layers.ingest import export, mapping
from layers.workflow import states
from layers.workflow.states import TRANSITIONS, available_transitions


def _actions(status, role, pending=None):  # type: ignore[no-untyped-def]
    return [t.action for t in available_transitions(status, role, pending)]


def test_pending_requests_decide_what_is_offered():
    # nothing pending: the handler may ask; nobody may approve or deny
    assert _actions("in_handling", "handler") == [
        "request_return",
        "request_extension",
        "request_suspension",
        "handle",
    ]
    assert _actions("in_handling", "shift_leader") == []
    # an extension pending: the shift leader may extend or deny, not suspend or return
    assert _actions("in_handling", "shift_leader", "extension") == ["extend", "deny"]
    assert _actions("in_handling", "dispatcher", "extension") == ["deny"]
    # while one request waits, the handler may not ask again (but may still finish)
    assert _actions("in_handling", "handler", "extension") == ["handle"]
    assert _actions("dispatched", "dispatcher", "return") == ["return", "deny"]


def test_new_reports_are_never_offered_on_a_case():
    assert all(
        "report" not in _actions(t.from_status, t.role, None) for t in TRANSITIONS if t.from_status
    )


@pytest.mark.parametrize("t", [t for t in TRANSITIONS if t.from_status], ids=str)
def test_each_legal_step_is_offered_in_some_pending_state(t):
    pendings = [None, *states.REQUESTS]
    assert any(t.action in _actions(t.from_status, t.role, p) for p in pendings)


def test_vocabularies_are_derived_from_the_lifecycle():
    assert states.LOGIN_ROLES == (
        "operator",
        "dispatcher",
        "shift_leader",
        "handler",
        "grid_worker",
        "supervisor",
        "leader",
    )
    assert AUTH_LOGIN_ROLES is states.LOGIN_ROLES
    assert mapping.CASE_STATUSES is states.STATUSES
    assert export.PERSONAL_DATA_ROLES is states.PERSONAL_DATA_ROLES
    assert set(states.LOGIN_ROLES) | states.MACHINE_ROLES == set(states.ROLES)
