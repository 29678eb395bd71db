"""A handler's feedback with a photo and an operator's merge of a duplicate, through the
commands the operator page calls."""

import pytest
import sqlalchemy as sa

from layers.auth import DEMO_PASSWORD, authenticate
from layers.media import read_photo
from services.case_commands import ActionRequest, store_photo, take_action
from services.errors import WorkflowError
from services.operator import case_file
from tests.dashboard.scratch import new_case
from tests.layers.test_media import JPEG


def test_a_handler_sends_feedback_with_a_photo(scratch_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDGOV_MEDIA_DIR", str(tmp_path))
    case_id, _ = new_case(scratch_engine, upto="in_handling")
    with scratch_engine.connect() as conn:
        handler = authenticate(conn=conn, username="handler", password=DEMO_PASSWORD)
    assert handler is not None
    file = case_file(scratch_engine, scope=handler.scope, case_id=case_id)
    assert file is not None and "handle" in file.actions and file.photo_actions == ["handle"]
    version = file.case.version
    # the database refuses feedback without a photo, and writes nothing
    with pytest.raises(WorkflowError):
        take_action(
            scratch_engine,
            scope=handler.scope,
            actor="handler",
            request=ActionRequest(
                case_id=case_id,
                action="handle",
                expected_version=version,
                reason="cleared",
            ),
        )
    photo = store_photo(JPEG, case_id=case_id, name="site.jpg")
    done = take_action(
        scratch_engine,
        scope=handler.scope,
        actor="handler",
        request=ActionRequest(
            case_id=case_id,
            action="handle",
            expected_version=version,
            reason="cleared / 已清理",
            attachments=[photo],
        ),
    )
    assert done.status == "handled"
    with scratch_engine.connect() as conn:
        row = conn.execute(
            sa.text("""SELECT actor, role, to_status, attachments FROM case_events
                       WHERE case_id = :c ORDER BY id DESC LIMIT 1"""),
            {"c": case_id},
        ).one()
    assert row[:3] == ("handler", "handler", "handled")
    assert row.attachments == [photo]
    assert read_photo(row.attachments[0]["path"]) == JPEG
    # the operator sees the photo in the case file's history
    operator_file = case_file(
        scratch_engine, scope=authenticate_scope(scratch_engine, "operator"), case_id=case_id
    )
    assert photo in [a for row in operator_file.history.attachments for a in row]


def authenticate_scope(engine, username):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return authenticate(conn=conn, username=username, password=DEMO_PASSWORD).scope


def test_an_operator_merges_a_duplicate_report_and_keeps_its_reporter(scratch_engine):
    first, _ = new_case(scratch_engine, upto="reported")
    second, _ = new_case(scratch_engine, upto="reported")  # same place, kind and time
    operator = authenticate_scope(scratch_engine, "operator")
    file = case_file(scratch_engine, scope=operator, case_id=second)
    assert "merge" in file.actions
    assert first in [d.id for d in file.duplicates]
    assert all(d.distance_m <= 50 for d in file.duplicates)
    # a grid worker may not merge: neither the action nor the candidates are offered
    worker = authenticate_scope(scratch_engine, "grid_worker")
    assert case_file(scratch_engine, scope=worker, case_id=second).duplicates == []

    def reporters(case_id: int) -> int:
        with scratch_engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT count(*) FROM reporters WHERE case_id = :c"), {"c": case_id}
            ).scalar_one()

    before = reporters(first)
    done = take_action(
        scratch_engine,
        scope=operator,
        actor="operator",
        request=ActionRequest(
            case_id=second,
            action="merge",
            expected_version=file.case.version,
            reason="same overflowing bin",
            merge_into=first,
        ),
    )
    assert done.status == "rejected"
    with scratch_engine.connect() as conn:
        merged_into = conn.execute(
            sa.text("SELECT merged_into FROM cases WHERE id = :c"), {"c": second}
        ).scalar_one()
    assert merged_into == first
    assert reporters(first) == before + 1
    with pytest.raises(ValueError, match="merge_into"):
        take_action(
            scratch_engine,
            scope=operator,
            actor="operator",
            request=ActionRequest(
                case_id=first,
                action="merge",
                expected_version=1,
            ),
        )
