"""Two people acting on one case at once: exactly one wins, the other is told it changed."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import sqlalchemy as sa

from layers.workflow import errors
from layers.workflow.dispatch import dispatch_case
from layers.workflow.transitions import history, transition
from tests.workflow.factories import T0, make_case, walk_to

N = 50


def test_fifty_concurrent_dispatches_one_winner(served_engine):
    with served_engine.begin() as conn:
        case = make_case(conn)
        version = walk_to(conn, case["case_id"], "registered")
    engine = sa.create_engine(served_engine.url, pool_size=N, max_overflow=0)
    barrier = Barrier(N)

    def attempt(i: int) -> str:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            conn.rollback()  # connected; start the race from a clean slate
            barrier.wait()
            try:
                with conn.begin():
                    dispatch_case(
                        conn=conn,
                        case_id=case["case_id"],
                        actor=f"dp-{i}",
                        role="dispatcher",
                        expected_version=version,
                        at=T0,
                    )
                return "won"
            except errors.StaleCase:
                return "stale"

    try:
        with ThreadPoolExecutor(N) as pool:
            outcomes = list(pool.map(attempt, range(N)))
    finally:
        engine.dispose()
    assert outcomes.count("won") == 1 and outcomes.count("stale") == N - 1
    with served_engine.connect() as conn:
        steps = history(conn=conn, case_id=case["case_id"])
        assert [s["action"] for s in steps].count("dispatch") == 1
        n_assignments = conn.execute(
            sa.text("SELECT count(*) FROM case_assignments WHERE case_id = :id"),
            {"id": case["case_id"]},
        ).scalar()
        assert n_assignments == 1


def test_a_crash_between_steps_leaves_no_case_without_history(served_engine):
    """Kill the transaction after the transition: both the status and its row vanish."""
    with served_engine.begin() as conn:
        case = make_case(conn)
    conn = served_engine.connect()
    try:
        conn.begin()
        transition(
            conn=conn,
            case_id=case["case_id"],
            action="accept",
            actor="op",
            role="operator",
            expected_version=1,
        )
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with served_engine.connect() as killer:
            killer.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        conn.execute(sa.text("SELECT 1"))  # the next step never arrives
    except sa.exc.DBAPIError:
        pass  # the backend is gone: the transaction died with it
    finally:
        conn.invalidate()
        conn.close()
    with served_engine.connect() as c:
        status = c.execute(
            sa.text("SELECT status FROM cases WHERE id = :id"), {"id": case["case_id"]}
        ).scalar()
        assert status == "reported"
        assert c.execute(sa.text("SELECT count(*) FROM case_history_violations()")).scalar() == 0
