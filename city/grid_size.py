"""How many households a grid should hold: the aim and the allowed range, checked once."""

from __future__ import annotations

from dataclasses import dataclass

from city.errors import GridGovError

SANE_TARGET = (50, 5000)
"""Range of the target households per grid that makes sense at all."""


class GridSizeError(GridGovError, ValueError):
    """A grid size whose numbers cannot work together; the message names them."""

    code = "bad_grid_size"


@dataclass(frozen=True)
class GridSize:
    """Households per grid: ``target`` to aim at, ``low``..``high`` allowed.

    A tower block with more than ``high`` households gets a grid of its own;
    that is the only way a grid may pass ``high``.

    Raises
    ------
    GridSizeError
        The target is outside :data:`SANE_TARGET`, or not ``0 < low ≤ target ≤ high``.

    Examples
    --------
    >>> GridSize(400, 300, 500).holds(450)
    True
    >>> GridSize(400, 300, 500).feasible(550)
    False
    """

    target: int
    low: int
    high: int

    def __post_init__(self) -> None:
        for name in ("target", "low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise GridSizeError(f"{name} must be a whole number of households, got {value!r}")
        lo_t, hi_t = SANE_TARGET
        if not lo_t <= self.target <= hi_t:
            raise GridSizeError(
                f"target {self.target} households per grid is outside the sane range {lo_t}–{hi_t}"
            )
        if not 0 < self.low <= self.target <= self.high:
            raise GridSizeError(
                "the allowed range must satisfy 0 < low ≤ target ≤ high, "
                f"got low={self.low}, target={self.target}, high={self.high}"
            )

    def holds(self, households: int) -> bool:
        """Is ``households`` inside the allowed range ``low..high``?"""
        return self.low <= households <= self.high

    def feasible(self, total: int) -> bool:
        """Can ``total`` households be split into whole grids of ``low..high`` each?"""
        return total > 0 and -(-total // self.high) <= total // self.low

    def with_(self, **values: int | None) -> GridSize:
        """This size with some numbers replaced (``None`` keeps the number)."""
        given = {k: v for k, v in values.items() if v is not None}
        return GridSize(**({"target": self.target, "low": self.low, "high": self.high} | given))
