"""Model-based test: random roles take random actions; the database accepts exactly the legal ones.

A Hypothesis state machine keeps its own model of every case (status, version,
pending request, number of history rows) with :mod:`layers.workflow.states`
as the oracle, and checks after every step that the database agrees: no
illegal transition accepted, no legal one refused, the history always ends at
the current status. At least 10,000 operations run, in one rolled-back
transaction
that leaves the committed test area as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from layers.workflow import errors
from layers.workflow.states import ACTIONS, REPORTERS, ROLES, TRANSITIONS, find_transition
from layers.workflow.transitions import transition
from tests.workflow.factories import PHOTO, STREET, T0, WEST, make_case

OPERATIONS = {"n": 0}
MIN_OPERATIONS = 10_000


@dataclass
class ModelCase:
    status: str
    version: int
    pending: str | None
    events: int


def expected_outcome(
    case: ModelCase, action: str, role: str, *, stale: bool, reason: bool, photo: bool
) -> type[errors.WorkflowError] | None:
    """The refusal the database must give (checked in its order), or None for success."""
    if stale:
        return errors.StaleCase
    if action not in ACTIONS:
        return errors.UnknownAction
    if not any(find_transition(case.status, action, r) for r in ROLES):
        return errors.WrongState
    t = find_transition(case.status, action, role)
    if t is None:
        return errors.RoleForbidden
    if t.requires_request and (
        case.pending is None or (t.requires_request != "any" and case.pending != t.requires_request)
    ):
        return errors.RequestRequired
    if t.sets_request and case.pending:
        return errors.RequestPending
    if t.needs_reason and not reason:
        return errors.MissingReason
    if t.needs_attachment and not photo:
        return errors.MissingAttachment
    if t.guard == "logged_only":  # the test category is full-loop
        return errors.WrongState
    if t.guard == "own_patrol_report":  # the model's cases are not the actor's patrol finds
        return errors.WrongState
    return None


class Lifecycle(RuleBasedStateMachine):
    engine: sa.Engine
    opened: ClassVar[list[sa.Connection]] = []
    """Every connection a machine opened: Hypothesis does not tear down every machine it
    makes, and a connection left to the garbage collector warns in some later test."""

    def __init__(self) -> None:
        super().__init__()
        self.conn = self.engine.connect()
        Lifecycle.opened.append(self.conn)
        self.tx = self.conn.begin()
        self.cases: dict[int, ModelCase] = {}

    @initialize()
    def setup(self) -> None:
        self.department = self.conn.execute(
            sa.text("SELECT id FROM departments WHERE code = :c"), {"c": WEST}
        ).scalar_one()
        self.conn.execute(sa.text(f"SELECT set_config('gridgov.area', '{STREET}', true)"))

    def teardown(self) -> None:
        try:
            problems = self.conn.execute(
                sa.text("SELECT count(*) FROM case_history_violations()")
            ).scalar()
            assert problems == 0
        finally:
            self.tx.rollback()
            self.conn.close()

    @rule(role=st.sampled_from(ROLES))
    def report(self, role: str) -> None:
        OPERATIONS["n"] += 1
        if role in REPORTERS.split():
            case = make_case(self.conn, role=role)
            self.cases[case["case_id"]] = ModelCase("reported", 1, None, 1)
        else:
            try:
                make_case(self.conn, role=role)
            except errors.RoleForbidden:
                return
            raise AssertionError(f"{role} reported a case")

    @rule(
        data=st.data(),
        action=st.sampled_from([*ACTIONS, "teleport"]),
        role=st.sampled_from(ROLES),
        stale=st.integers(0, 9).map(lambda i: i == 0),
        reason=st.integers(0, 4).map(lambda i: i > 0),
        photo=st.integers(0, 4).map(lambda i: i > 0),
        legal=st.integers(0, 4).map(lambda i: i > 1),
    )
    def act(
        self, data, action: str, role: str, stale: bool, reason: bool, photo: bool, legal: bool
    ) -> None:
        if not self.cases:
            return
        OPERATIONS["n"] += 1
        case_id = data.draw(st.sampled_from(sorted(self.cases)))
        case = self.cases[case_id]
        options = [t for t in TRANSITIONS if t.from_status == case.status]
        if legal and options:  # mostly follow the loop, so that deep states are reached
            t = data.draw(st.sampled_from(options))
            action, role = t.action, t.role
        expected = expected_outcome(case, action, role, stale=stale, reason=reason, photo=photo)
        changes = {}
        if action == "dispatch":
            changes = {"department_id": self.department, "dispatch_rule": "statutory"}
        elif action == "rate":
            changes = {"satisfaction": 4}
        try:
            result = transition(
                conn=self.conn,
                case_id=case_id,
                action=action,
                actor="model",
                role=role,
                expected_version=case.version - 1 if stale else case.version,
                reason="because" if reason else None,
                attachments=PHOTO if photo else [],
                changes=changes,
                at=T0,
            )
        except errors.WorkflowError as exc:
            assert type(exc) is expected, f"{action} by {role} on {case}: {exc.code}"
            return
        assert expected is None, f"accepted {action} by {role} on {case}"
        t = find_transition(case.status, action, role)
        assert t is not None and result.status == t.to_status
        assert result.version == case.version + 1
        self.cases[case_id] = ModelCase(
            t.to_status, result.version, t.sets_request, case.events + 1
        )
        self._check(case_id)

    def _check(self, case_id: int) -> None:
        row = self.conn.execute(
            sa.text("""
            SELECT c.status, c.version, c.pending_request,
                   (SELECT count(*) FROM case_events e WHERE e.case_id = c.id) AS n,
                   (SELECT e.to_status FROM case_events e WHERE e.case_id = c.id
                    ORDER BY e.id DESC LIMIT 1) AS last
            FROM cases c WHERE c.id = :id
        """),
            {"id": case_id},
        ).one()
        m = self.cases[case_id]
        assert (row.status, row.version, row.pending_request, row.n, row.last) == (
            m.status,
            m.version,
            m.pending,
            m.events,
            m.status,
        )

    @invariant()
    def histories_add_up(self) -> None:
        if not self.cases:
            return
        n = self.conn.execute(
            sa.text("SELECT count(*) FROM case_events WHERE case_id = ANY(:ids)"),
            {"ids": list(self.cases)},
        ).scalar()
        assert n == sum(c.events for c in self.cases.values())


def test_random_operations_by_random_roles(served_engine):
    from hypothesis.stateful import run_state_machine_as_test

    Lifecycle.engine = served_engine  # its own database: no other session recreates it
    OPERATIONS["n"] = 0
    # each run is 100 examples of up to 100 steps; run until the bar is passed
    try:
        for _ in range(5):
            run_state_machine_as_test(
                Lifecycle,
                settings=settings(
                    max_examples=100,
                    stateful_step_count=100,
                    deadline=None,
                    database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                ),
            )
            if OPERATIONS["n"] >= MIN_OPERATIONS:
                break
    finally:
        for conn in Lifecycle.opened:
            conn.close()
        Lifecycle.opened.clear()
    assert OPERATIONS["n"] >= MIN_OPERATIONS
