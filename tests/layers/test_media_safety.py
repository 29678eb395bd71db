"""Issue 13 (low): a photo is kept only when the action is accepted, and is shown
inline (a data: URL) rather than through a public /media/ link."""

import base64

import pytest

from layers.media import PhotoError, photo_data_url, photo_kept_if_accepted, store_photo

PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(200)


class Refused(Exception):
    pass


def test_a_refused_action_leaves_no_photo_behind(tmp_path):
    with (
        pytest.raises(Refused),
        photo_kept_if_accepted(PNG, case_id=7, name="a.png", root=tmp_path),
    ):
        assert any((tmp_path / "7").iterdir())  # on disk while the action runs
        raise Refused
    assert list((tmp_path / "7").iterdir()) == []


def test_an_accepted_action_keeps_its_photo(tmp_path):
    with photo_kept_if_accepted(JPEG, case_id=7, name="b.jpg", root=tmp_path) as record:
        pass
    assert (tmp_path / record["path"]).read_bytes() == JPEG


def test_a_photo_of_an_earlier_action_survives_a_refused_one(tmp_path):
    earlier = store_photo(PNG, case_id=7, name="a.png", root=tmp_path)
    with (
        pytest.raises(Refused),
        photo_kept_if_accepted(PNG, case_id=7, name="a.png", root=tmp_path),
    ):
        raise Refused
    assert (tmp_path / earlier["path"]).read_bytes() == PNG


def test_a_bad_photo_is_refused_before_anything_is_written(tmp_path):
    with (
        pytest.raises(PhotoError),
        photo_kept_if_accepted(b"<svg/>", case_id=7, name="x", root=tmp_path),
    ):
        pass
    assert not (tmp_path / "7").exists()


def test_photos_are_shown_as_data_urls_of_their_checked_type():
    url = photo_data_url(JPEG)
    assert url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == JPEG
    with pytest.raises(PhotoError):
        photo_data_url(b"<html><script>alert(1)</script>")
