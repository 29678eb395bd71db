"""The case file's record: typed, filled by one query, status names from ``case_statuses``."""

import sqlalchemy as sa

from layers import cases
from layers.cases import CaseRecord, Reporter
from services.operator import case_file
from services.uow import Scope, unit_of_work


def _any_case_with_reporters(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT min(case_id) FROM reporters WHERE name IS NOT NULL")
        ).scalar_one()


def test_one_query_fills_the_typed_record(demo_engine):
    case_id = _any_case_with_reporters(demo_engine)
    statements = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    with unit_of_work(demo_engine, Scope("operator")) as conn:
        sa.event.listen(conn, "before_cursor_execute", count)
        record = cases.case_record(conn=conn, case_id=case_id)
        sa.event.remove(conn, "before_cursor_execute", count)
        truth = conn.execute(
            sa.text("""SELECT c.case_no, c.status, c.version, s.name_zh, s.name_en
                       FROM cases c JOIN case_statuses s ON s.code = c.status
                       WHERE c.id = :i"""),
            {"i": case_id},
        ).one()
        masked = conn.execute(
            sa.text("SELECT name, phone, channel FROM reporters_masked WHERE case_id = :i"),
            {"i": case_id},
        ).all()
    assert len(statements) == 1
    assert isinstance(record, CaseRecord)
    assert (record.case_no, record.status, record.version) == tuple(truth[:3])
    assert (record.status_zh, record.status_en) == (truth.name_zh, truth.name_en)
    assert record.reporters == tuple(Reporter(*r) for r in masked)
    assert all("*" in (r.phone or "*") for r in record.reporters)  # masked, never raw


def test_the_case_file_names_statuses_as_case_statuses_does(demo_engine):
    case_id = _any_case_with_reporters(demo_engine)
    file = case_file(demo_engine, scope=Scope("operator"), case_id=case_id)
    assert file is not None
    with demo_engine.connect() as conn:
        names = dict(
            (r.code, (r.name_zh, r.name_en))
            for r in conn.execute(sa.text("SELECT code, name_zh, name_en FROM case_statuses"))
        )
    assert file.status_names == names


def test_a_hidden_case_has_no_file(demo_engine, small_district):
    with demo_engine.connect() as conn:
        other, case_id = conn.execute(
            sa.text("""SELECT m.code, c.id FROM cases c JOIN communities m
                       ON m.id = c.community_id ORDER BY m.code DESC LIMIT 1""")
        ).one()
    first = small_district.communities.code.min()
    assert other != first
    assert case_file(demo_engine, scope=Scope("supervisor", first), case_id=case_id) is None
    assert case_file(demo_engine, scope=Scope("supervisor", other), case_id=case_id) is not None
