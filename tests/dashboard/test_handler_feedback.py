"""A handler's feedback with a photo, through the calls the operator page makes."""

import pytest
import sqlalchemy as sa

from layers.auth import DEMO_PASSWORD, authenticate
from layers.media import read_photo, store_photo
from layers.views import case_action, case_file
from layers.workflow.errors import WorkflowError
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
    version = int(file.detail["version"])
    # the database refuses feedback without a photo, and writes nothing
    with pytest.raises(WorkflowError):
        case_action(
            scratch_engine,
            scope=handler.scope,
            actor="handler",
            case_id=case_id,
            action="handle",
            expected_version=version,
            reason="cleared",
        )
    photo = store_photo(JPEG, case_id=case_id, name="site.jpg")
    done = case_action(
        scratch_engine,
        scope=handler.scope,
        actor="handler",
        case_id=case_id,
        action="handle",
        expected_version=version,
        reason="cleared / 已清理",
        attachments=[photo],
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
