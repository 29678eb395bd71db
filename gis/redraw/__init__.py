"""Redraw grids when housing changes, keeping as many grids (and their codes) as possible.

:func:`propose_redraw` takes the grids in force and new building/household data
and proposes a new delineation: a grid whose household count is still inside
the allowed range (and that still lies in its community and covers its
buildings) keeps its geometry and code. Connected clusters of grids that went
out of range are re-delineated together by :func:`gis.delineate.delineate`,
with the cluster's union standing in for the community; a neighbour joins the
cluster when its households cannot otherwise be split into grids in range.

:func:`plan_replacement` turns a fresh delineation of whole communities into
the same kind of proposal, so that a full redraw also keeps the codes of the
grids it happens to draw again.

In both, a new grid that covers most of an old grid (intersection over union
≥ ``SUCCESSOR_IOU``) continues that grid's code as a new version ("changed");
other new grids get fresh sequence numbers after the highest ever used in
their community (a retired code is never reused). Each change carries a typed
reason (:mod:`gis.redraw.reasons`); words for it are chosen at the edge.

All geometry must be in one projected CRS (metres).

Modules: :mod:`~gis.redraw.inputs` (what a redraw reads, checked),
:mod:`~gis.redraw.broken` (which grids break, clusters), :mod:`~gis.redraw.redelineate`
(redrawing a cluster), :mod:`~gis.redraw.assemble` (proposal and change list),
:mod:`~gis.redraw.propose` (the rounds), :mod:`~gis.redraw.replacement`
(fresh delineations, quality reports), :mod:`~gis.redraw.result`.
"""

from gis.redraw.assemble import CHANGE_COLUMNS, SAME_IOU, SUCCESSOR_IOU
from gis.redraw.broken import BORDER_M, COVER_TOLERANCE, _feasible
from gis.redraw.inputs import RedrawError, RedrawInputs
from gis.redraw.propose import Progress, propose_redraw
from gis.redraw.reasons import CHANGED, KEPT, NEW, RETIRED, Action, Reason
from gis.redraw.redelineate import MAX_JOIN
from gis.redraw.replacement import plan_replacement, report_current
from gis.redraw.result import Redraw

__all__ = [
    "BORDER_M",
    "CHANGED",
    "CHANGE_COLUMNS",
    "COVER_TOLERANCE",
    "KEPT",
    "MAX_JOIN",
    "NEW",
    "RETIRED",
    "SAME_IOU",
    "SUCCESSOR_IOU",
    "Action",
    "Progress",
    "Reason",
    "Redraw",
    "RedrawError",
    "RedrawInputs",
    "_feasible",
    "plan_replacement",
    "propose_redraw",
    "report_current",
]
