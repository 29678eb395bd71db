"""Case photos: checked by content, stored once, read back only by their recorded path."""

import pytest

from layers.media import MAX_PHOTO_BYTES, PhotoError, read_photo, store_photo

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(200)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(50)


@pytest.mark.parametrize(
    ("data", "mime", "suffix"),
    [(JPEG, "image/jpeg", "jpg"), (PNG, "image/png", "png"), (WEBP, "image/webp", "webp")],
)
def test_a_photo_is_stored_once_and_read_back(tmp_path, data, mime, suffix):
    first = store_photo(data, case_id=42, name="C:\\phone\\IMG_0001.jpg", root=tmp_path)
    again = store_photo(data, case_id=42, name="again.jpg", root=tmp_path)
    assert first["path"] == again["path"] == f"42/{first['sha256']}.{suffix}"
    assert (first["mime"], first["bytes"], first["type"]) == (mime, len(data), "photo")
    assert read_photo(first["path"], root=tmp_path) == data
    assert [p.name for p in (tmp_path / "42").iterdir()] == [f"{first['sha256']}.{suffix}"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"%PDF-1.7 not a photo", "not a JPEG, PNG or WebP"),
        (b"<svg onload=alert(1)>", "not a JPEG, PNG or WebP"),
        (JPEG + bytes(MAX_PHOTO_BYTES), "more than the 10 MB"),
    ],
)
def test_what_is_not_a_photo_is_refused_and_nothing_is_written(tmp_path, data, message):
    with pytest.raises(PhotoError, match=message) as refused:
        store_photo(data, case_id=7, name="evidence.jpg", root=tmp_path)
    assert "evidence.jpg" in str(refused.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "path", ["../../etc/passwd", "/etc/passwd", "42/../../x.jpg", "42/abc.jpg", "42\\x.jpg"]
)
def test_only_recorded_photo_paths_are_read(tmp_path, path):
    with pytest.raises(PhotoError, match="not the path of a stored photo"):
        read_photo(path, root=tmp_path)


def test_a_missing_photo_says_so(tmp_path):
    record = store_photo(PNG, case_id=1, name="a.png", root=tmp_path)
    (tmp_path / record["path"]).unlink()
    with pytest.raises(PhotoError, match="missing"):
        read_photo(record["path"], root=tmp_path)
