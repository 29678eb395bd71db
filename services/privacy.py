"""What a public page may show of what residents typed and photographed.

- :func:`mask_text`: phone numbers (mainland mobiles, landlines with an area code,
  numbers of 7 digits or more however they are spaced) and ID numbers (18-digit
  resident ID, 15-digit old ID) in free text become ``138****5678`` /
  ``320***********123X`` — every public page shows text through it.
- :func:`strip_photo`: a photo is decoded and encoded again as a JPEG from its pixels
  only (Pillow), turned upright first: no EXIF (GPS, device, time), no XMP, no
  comments survive. A photo is never shown publicly as it was uploaded.
"""

from __future__ import annotations

import io
import re

from PIL import Image, ImageOps, UnidentifiedImageError

from layers.media import PhotoError

# 18-digit resident ID (last may be X) or 15-digit old ID, not inside a longer number
_ID = re.compile(
    r"(?<![0-9A-Za-z])([1-9][0-9]{5})((?:[0-9]{11}[0-9Xx])|(?:[0-9]{9}))(?![0-9A-Za-z])"
)
# a run of digits possibly broken by spaces, dashes, dots or brackets, optionally +86
_PHONE = re.compile(
    r"(?<![0-9])(?:\+?86[\s-]?)?(?:\(?0?[0-9]{2,4}\)?[\s.-]?)?[0-9][0-9\s.-]{5,14}[0-9](?![0-9])"
)
MIN_DIGITS = 7
"""A run of this many digits or more is taken for a phone number."""
MAX_SIDE = 1600
"""A public photo's longest side in pixels."""


def mask_text(text: str | None) -> str | None:
    """``text`` with phone and ID numbers masked (None stays None)."""
    if text is None:
        return None
    out = _ID.sub(lambda m: m.group(1)[:3] + "*" * (len(m.group(0)) - 7) + m.group(0)[-4:], text)
    return _PHONE.sub(_mask_phone, out)


def _mask_phone(match: re.Match[str]) -> str:
    raw = match.group(0)
    digits = [c for c in raw if c.isdigit()]
    if len(digits) < MIN_DIGITS:
        return raw
    keep_head, keep_tail = 3, 4
    out, seen = [], 0
    for c in raw:
        if c.isdigit():
            seen += 1
            out.append(c if seen <= keep_head or seen > len(digits) - keep_tail else "*")
        else:
            out.append(c)
    return "".join(out)


def strip_photo(data: bytes) -> bytes:
    """A JPEG of the photo's pixels only: no metadata, upright, at most :data:`MAX_SIDE`.

    Raises
    ------
    PhotoError
        The bytes are not an image Pillow can read.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            upright = ImageOps.exif_transpose(img) or img
            rgb = upright.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PhotoError("the photo cannot be read as an image") from exc
    rgb.thumbnail((MAX_SIDE, MAX_SIDE))
    clean = Image.new("RGB", rgb.size)
    clean.paste(rgb)
    buffer = io.BytesIO()
    clean.save(buffer, format="JPEG", quality=85, optimize=True)
    return buffer.getvalue()
