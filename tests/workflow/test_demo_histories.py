"""The demo district's generated histories obey the transition rules."""

import sqlalchemy as sa


def test_demo_histories_are_legal(demo_engine):
    with demo_engine.connect() as conn:
        problems = conn.execute(sa.text("SELECT * FROM case_history_violations(20)")).all()
        assert problems == []
        unrequested = conn.execute(
            sa.text("""
            SELECT count(*) FROM case_events e WHERE e.action = 'extend' AND NOT EXISTS (
                SELECT 1 FROM case_events r WHERE r.case_id = e.case_id
                AND r.action = 'request_extension' AND r.at <= e.at)
        """)
        ).scalar()
        assert unrequested == 0
