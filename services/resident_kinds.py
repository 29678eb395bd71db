"""The resident-facing kinds (``data/resident_kinds.toml``): plain words, icons, catalogue codes."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from layers.workflow.errors import BadValue

KINDS_FILE = Path(__file__).resolve().parent.parent / "data" / "resident_kinds.toml"


@dataclass(frozen=True)
class Kind:
    """One kind a resident picks: what it is called, its icon, the catalogue class it becomes."""

    code: str
    icon: str
    name_zh: str
    name_en: str
    service_code: str
    sensitive: bool = False
    """Disputes, safety: never on a public map or a public "nearby" list."""

    def public(self) -> dict[str, Any]:
        """The kind as the app shows it."""
        return asdict(self)


@functools.cache
def kinds(path: Path = KINDS_FILE) -> tuple[Kind, ...]:
    """Every kind, in the file's order.

    Raises
    ------
    BadValue
        A kind without a code, name, icon or service code, or a code used twice.
    """
    with path.open("rb") as f:
        raw = tomllib.load(f).get("kind", [])
    out: list[Kind] = []
    for i, item in enumerate(raw, 1):
        missing = [
            k for k in ("code", "icon", "name_zh", "name_en", "service_code") if not item.get(k)
        ]
        if missing:
            raise BadValue(f"{path.name}: kind {i} has no {', '.join(missing)}")
        out.append(Kind(**{k: item[k] for k in Kind.__dataclass_fields__ if k in item}))
    codes = [k.code for k in out]
    if len(set(codes)) != len(codes):
        raise BadValue(f"{path.name}: a kind code is used twice")
    return tuple(out)


def kind(code: str) -> Kind:
    """The kind ``code``.

    Raises
    ------
    BadValue
        No such kind (the message names the field and the known codes).
    """
    for k in kinds():
        if k.code == code:
            return k
    raise BadValue(f"kind: {code!r} is not one of {', '.join(k.code for k in kinds())}")


def kind_for_service(service_code: str) -> Kind | None:
    """The kind a catalogue class is shown as (None: not a resident-facing class)."""
    return next((k for k in kinds() if k.service_code == service_code), None)
