"""Open311 responses as JSON or XML, and Open311-style error lists."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree as ET

from fastapi.responses import JSONResponse, Response

FORMATS = ("json", "xml")
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters XML 1.0 cannot hold at all (not even escaped): C0 controls, lone surrogates."""


def plain(value: Any) -> Any:
    """A value as JSON-friendly data (ISO 8601 times, floats for decimals)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def respond(
    rows: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    fmt: str,
    root: str,
    item: str,
    status_code: int = 200,
) -> Response:
    """``rows`` as a JSON array (or object) or as Open311 XML (``<root><item>…``)."""
    data = plain(rows)
    if fmt == "xml":
        return Response(_xml(data, root, item), status_code, media_type="text/xml")
    return JSONResponse(data, status_code)


def error(status_code: int, description: str, error_code: str, fmt: str = "json") -> Response:
    """An Open311 error list. ``error_code`` (stable, e.g. ``unknown_category``) is a GridGov
    addition to the spec's ``code``/``description`` pair."""
    return respond(
        [{"code": status_code, "description": description, "error_code": error_code}],
        fmt,
        "errors",
        "error",
        status_code,
    )


def _xml(data: Any, root: str, item: str) -> bytes:
    top = ET.Element(root)
    for entry in data if isinstance(data, list) else [data]:
        _fill(ET.SubElement(top, item), entry)
    return ET.tostring(top, encoding="utf-8", xml_declaration=True)


def _fill(node: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _fill(ET.SubElement(node, str(k)), v)
    elif isinstance(value, list):
        for v in value:
            _fill(ET.SubElement(node, node.tag.rstrip("s") or "item"), v)
    elif value is not None:
        text = str(value).lower() if isinstance(value, bool) else str(value)
        # one stored \x01 must not make the whole document invalid for every consumer
        node.text = _NOT_XML.sub("\ufffd", text)
