"""Typed helpers for object arrays that use ``None`` as the missing value.

numpy's stubs type the operands of ``np.equal`` and ``np.where`` as array-likes
and reject a bare ``None``, although numpy turns it into a 0-d object array. The
helpers pass that 0-d array explicitly, so the calls are the same at run time.
"""

from __future__ import annotations

import numpy as np

_NONE = np.array(None, dtype=object)


def is_none(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the elements that are ``None`` (elementwise ``== None``)."""
    return np.equal(values, _NONE)


def where_or_none(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` where ``mask`` holds, ``None`` elsewhere."""
    return np.where(mask, values, _NONE)
