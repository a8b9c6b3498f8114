"""Reading a DataFrame's columns on the prediction path, where pandas' per-call cost dominates."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray


def column_values(frame: pd.DataFrame, column: str) -> np.ndarray | ExtensionArray:
    """A column's values, as `frame[column].array` holds them, without building a Series.

    `frame[column]` costs about 10 µs whatever the number of rows: pandas 3 looks the name up in an
    Arrow-backed index and wraps the values in a new Series. Cleaning and encoding one record read
    each column twice, which made this a fifth of a single-record prediction. `_get_column_array`
    is pandas' own accessor for the stored values (a view: read them, never write to them); pandas
    is pinned in requirements.lock, and tests compare the results with `frame[column]`'s.
    """
    position = frame.columns.get_loc(column)
    if not isinstance(position, int):
        raise ValueError(f"column {column!r} appears more than once; give each column a distinct name")
    return frame._get_column_array(position)


@functools.lru_cache(maxsize=64)
def column_index(names: tuple[str, ...]) -> pd.Index:
    """The Index of these column names, built once: pandas 3 infers an Arrow-backed string Index from
    a list of names on every DataFrame it builds (about 25 µs). An Index is immutable, so frames share it."""
    return pd.Index(names)


def frame_of_columns(columns: dict[str, np.ndarray | pd.Series], index: pd.Index) -> pd.DataFrame:
    """`pd.DataFrame(columns, index=index)`, with the column Index from `column_index`."""
    frame = pd.DataFrame(dict(enumerate(columns.values())), index=index)
    frame.columns = column_index(tuple(columns))
    return frame
