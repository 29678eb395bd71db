"""Why a redraw keeps, changes, retires or adds a grid: typed reasons with their numbers.

A reason is data (a frozen dataclass), compared and combined as data; the
words are chosen at the edge (``dashboard.redraw_text`` renders them in Chinese
and English). Reasons fall in three groups: why a grid must be redrawn
(:data:`BrokenReason`), why a grid stays as it is, and what became of a grid
that was redrawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    """What a redraw does with a grid (the values are those stored and compared)."""

    KEPT = "kept"
    CHANGED = "changed"
    RETIRED = "retired"
    NEW = "new"


KEPT, CHANGED, RETIRED, NEW = Action.KEPT, Action.CHANGED, Action.RETIRED, Action.NEW


@dataclass(frozen=True)
class Reason:
    """Base of every reason in a change list."""


# -- why a grid must be redrawn ----------------------------------------------------------------


@dataclass(frozen=True)
class CommunityGone(Reason):
    """The grid's community is no longer among the communities."""

    community: str


@dataclass(frozen=True)
class BoundaryChanged(Reason):
    """The community's outline moved: its grids no longer tile it."""

    community: str


@dataclass(frozen=True)
class NoGeometry(Reason):
    """The grid has no (or an empty) geometry."""


@dataclass(frozen=True)
class BuildingsOutside(Reason):
    """Buildings of the community lie outside every grid; this grid is the nearest."""

    buildings: int


@dataclass(frozen=True)
class TooMany(Reason):
    """More households than ``high`` (and more than one building)."""

    households: int
    high: int
    change: int
    """Households gained or lost since the stored count (0: unchanged or unknown)."""


@dataclass(frozen=True)
class TooFew(Reason):
    """Fewer households than ``low`` (and not the community's only grid)."""

    households: int
    low: int
    change: int


@dataclass(frozen=True)
class JoinedInfeasible(Reason):
    """Taken into a cluster whose households cannot be split into grids in range."""

    cluster: tuple[str, ...]
    households: int
    low: int
    high: int


@dataclass(frozen=True)
class JoinedToImprove(Reason):
    """Taken into a cluster that did not come into range when redrawn alone."""

    cluster: tuple[str, ...]


# -- why a grid stays --------------------------------------------------------------------------


@dataclass(frozen=True)
class Held(Reason):
    """The grid broke (``reason``) but no redraw with up to ``max_join`` neighbours did better."""

    reason: Reason
    max_join: int


@dataclass(frozen=True)
class OwnGrid(Reason):
    """One building above the range: a grid of its own."""

    households: int


@dataclass(frozen=True)
class OnlyGrid(Reason):
    """The community's only grid, below the range."""

    households: int
    low: int


@dataclass(frozen=True)
class InRange(Reason):
    """Households in range and unchanged."""


@dataclass(frozen=True)
class StillInRange(Reason):
    """Households changed but are still in range."""

    before: int
    after: int


# -- what became of a redrawn grid -------------------------------------------------------------


@dataclass(frozen=True)
class DrawnAgain(Reason):
    """Redrawn (``same``: drawn again the same) because of ``reason``."""

    reason: Reason | None
    same: bool


@dataclass(frozen=True)
class NoSuccessor(Reason):
    """Redrawn because of ``reason``; no new grid continues it."""

    reason: Reason | None


@dataclass(frozen=True)
class DelineatedAfresh(Reason):
    """The whole community was delineated afresh."""


@dataclass(frozen=True)
class DrawnInPlaceOf(Reason):
    """A new grid drawn where the grids ``cluster`` were."""

    cluster: tuple[str, ...]


@dataclass(frozen=True)
class NoGridsBefore(Reason):
    """A new grid of a community that had none."""


@dataclass(frozen=True)
class Retired(Reason):
    """Retired, with no more specific reason."""


@dataclass(frozen=True)
class Then(Reason):
    """Several rounds of redrawing: each round's reason, in order."""

    steps: tuple[Reason, ...]


BrokenReason = CommunityGone | BoundaryChanged | NoGeometry | BuildingsOutside | TooMany | TooFew
"""The reasons :func:`gis.redraw.broken.broken_reasons` gives."""


def in_turn(steps: list[Reason]) -> Reason:
    """One reason for several rounds: the step itself when there is one, else :class:`Then`."""
    return steps[0] if len(steps) == 1 else Then(tuple(steps))


def cluster_of(codes: object) -> tuple[str, ...]:
    """The codes of a cluster of grids, sorted (as they are shown)."""
    return tuple(sorted(str(c) for c in codes))  # type: ignore[attr-defined]
