"""The text checks of an import read each distinct value once: the same answers as row by row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from layers.ingest.validation import Rejections, _as_text, _lookup, _text_lookup

TABLE = {"open": "dispatched", "closed": "closed", "1": "one", "1.5": "one and a half", "": "blank"}

COLUMNS = {
    "arrow strings": pd.Series(
        [" open", "closed ", None, "", "  ", "Open", "open"], dtype=pd.ArrowDtype(pa.string())
    ),
    "pandas strings": pd.Series(["open", None, " closed", "x", "open"], dtype="string"),
    "integers": pd.Series([1, 2, 1, 3]),
    "nullable integers": pd.Series([1, None, 1, 2], dtype="Int64"),
    "floats": pd.Series([1.5, np.nan, 1.0, 1.5]),
    "categories": pd.Series(["open", "closed", None, "open"], dtype="category"),
    "booleans": pd.Series([True, False, True]),
    # one key, three texts: an object column is read row by row
    "mixed objects": pd.Series([1, 1.0, True, "1", None, " open "], dtype=object),
}


@pytest.mark.parametrize("name", list(COLUMNS))
def test_a_column_is_looked_up_as_row_by_row(name):
    values = COLUMNS[name]
    for default in (None, "fallback"):
        fast = _text_lookup(values, TABLE, default)
        slow = _lookup(_as_text(values), TABLE, default)
        assert fast.tolist() == slow.tolist(), name
        assert fast.dtype == object and len(fast) == len(values)


def test_the_ok_mask_follows_every_rejection_and_cannot_be_changed_from_outside():
    rej = Rejections(5)
    ok = rej.ok
    ok[:] = False  # a caller's copy
    assert rej.ok.all()
    assert rej.reject(np.array([True, False, True, False, False]), "a", str).tolist() == [0, 2]
    assert rej.reject(np.array([True, True, False, False, False]), "b", str).tolist() == [1]
    assert rej.ok.tolist() == [False, False, False, True, True]
    assert rej.reason.tolist() == ["a", "b", "a", None, None]
    assert rej.counts() == {"a": 2, "b": 1}
