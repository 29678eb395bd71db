"""Photos attached to cases (a handler's feedback): checked on entry, kept on disk.

A photo is stored once under the media directory as ``<case id>/<sha256>.<ext>``
(content-addressed: uploading the same photo twice keeps one file) and the
case history records ``{"type": "photo", "path", "sha256", "bytes", "mime",
"name"}`` in the event's ``attachments``. Photos are read back by the dashboard
for a logged-in user who may see the case — they are never served as public
static files, since they can show residents and their homes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from city import profile
from gis.errors import GridGovError

MAX_PHOTO_BYTES = profile().media.max_photo_bytes
"""The largest photo accepted (the city profile's ``media.max_photo_mb``; 10 MB by default)."""

_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
)
_STORED = re.compile(r"^[0-9]{1,19}/[0-9a-f]{64}\.(jpg|png|webp)$")


class PhotoError(GridGovError, ValueError):
    """A photo that cannot be accepted (empty, too big, not an image, unknown path)."""

    code = "bad_photo"
    kind = "bad_input"


def media_dir() -> Path:
    """Where photos are kept: ``GRIDGOV_MEDIA_DIR``, else ``media/`` in GridGov's home."""
    if env := os.environ.get("GRIDGOV_MEDIA_DIR"):
        return Path(env).resolve()
    from layers.cluster import default_home

    return default_home() / "media"


def photo_kind(data: bytes) -> tuple[str, str]:
    """(MIME type, file suffix) of a JPEG, PNG or WebP photo, from its first bytes."""
    for signature, mime, suffix in _SIGNATURES:
        if data.startswith(signature):
            return mime, suffix
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    raise PhotoError("the file is not a JPEG, PNG or WebP photo")


def store_photo(data: bytes, *, case_id: int, name: str, root: Path | None = None) -> dict:
    """Check and keep a photo of case ``case_id``; return its attachment record.

    Raises
    ------
    PhotoError
        Empty, larger than :data:`MAX_PHOTO_BYTES`, or not a JPEG/PNG/WebP image
        (judged by its content, not its name). Nothing is written then.
    """
    if not data:
        raise PhotoError(f"{name}: the file is empty")
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoError(
            f"{name}: {len(data) / 1e6:.1f} MB is more than the "
            f"{MAX_PHOTO_BYTES / 1e6:.0f} MB a photo may have"
        )
    try:
        mime, suffix = photo_kind(data)
    except PhotoError as exc:
        raise PhotoError(f"{name}: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    relative = f"{int(case_id)}/{digest}.{suffix}"
    target = (root or media_dir()) / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(data)
        partial.replace(target)  # atomic: a reader never sees half a photo
    return {
        "type": "photo",
        "path": relative,
        "sha256": digest,
        "bytes": len(data),
        "mime": mime,
        "name": Path(name).name[:200],
    }


@contextmanager
def photo_kept_if_accepted(
    data: bytes, *, case_id: int, name: str, root: Path | None = None
) -> Iterator[dict]:
    """Store a photo for an action that the database may still refuse.

    Yields the attachment record (the file is on disk, so that an accepted action
    never points at a missing photo); when the block raises — the action was
    refused — a file this call wrote is removed again (one already there before,
    the same photo of an earlier action, is kept).

    Raises
    ------
    PhotoError
        As :func:`store_photo`.
    """
    digest_path = (root or media_dir()) / f"{int(case_id)}/{hashlib.sha256(data).hexdigest()}"
    existed = any(digest_path.with_suffix(f".{s}").exists() for s in ("jpg", "png", "webp"))
    record = store_photo(data, case_id=case_id, name=name, root=root)
    try:
        yield record
    except BaseException:
        if not existed:
            ((root or media_dir()) / record["path"]).unlink(missing_ok=True)
        raise


def photo_data_url(data: bytes) -> str:
    """A ``data:`` URL of a stored photo, for the page to show inline.

    The dashboard shows photos this way rather than through Streamlit's ``/media/…``
    URLs, which anyone holding the link can fetch without a session and which are
    served without ``nosniff``: the bytes travel in the logged-in user's own
    WebSocket session only. The MIME type comes from the checked content.
    """
    mime, _ = photo_kind(data)
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def read_photo(path: str, *, root: Path | None = None) -> bytes:
    """The bytes of a stored photo (``path`` as recorded in the attachment).

    Raises
    ------
    PhotoError
        ``path`` is not a stored photo's path (e.g. ``../``), or the file is gone.
    """
    if not _STORED.match(path):
        raise PhotoError(f"{path!r} is not the path of a stored photo")
    file = (root or media_dir()) / path
    if not file.is_file():
        raise PhotoError(f"photo {path} is missing from {file.parent.parent}")
    return file.read_bytes()
