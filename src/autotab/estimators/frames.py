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


# Past this many rows, `frame_of_columns` gathers the float columns itself (see there).
BLOCK_ROWS = 65_536


def frame_of_columns(columns: dict[str, np.ndarray | pd.Series], index: pd.Index) -> pd.DataFrame:
    """`pd.DataFrame(columns, index=index)`, with the column Index from `column_index`; on more than
    BLOCK_ROWS rows, `columns` is emptied as the frame is made (`_frame_of_blocks`)."""
    if len(index) > BLOCK_ROWS:
        return _frame_of_blocks(columns, index)
    frame = pd.DataFrame(dict(enumerate(columns.values())), index=index)
    frame.columns = column_index(tuple(columns))
    return frame


def _frame_of_blocks(columns: dict[str, np.ndarray | pd.Series], index: pd.Index) -> pd.DataFrame:
    """The same frame, its float64 columns copied one by one into pandas' 2-D block, each let go once
    copied. pandas' constructor stacks them while every one is still held: twice the floats at once,
    320 MB more on 80,000 rows of 500 measurements. The other columns are as its constructor makes them."""
    from pandas.api.internals import create_dataframe_from_blocks

    names = tuple(columns)
    floats = [
        position
        for position, values in enumerate(columns.values())
        if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype == np.float64
    ]
    block = np.empty((len(floats), len(index)))
    for row, position in enumerate(floats):
        block[row] = columns.pop(names[position])
    others = [position for position in range(len(names)) if names[position] in columns]
    made = pd.DataFrame({j: columns.pop(names[position]) for j, position in enumerate(others)}, index=index)
    blocks = [(block, np.asarray(floats, dtype=np.intp))] if floats else []
    for j, position in enumerate(others):
        values = made._get_column_array(j)
        blocks.append((values.reshape(1, -1) if isinstance(values, np.ndarray) else values, np.asarray([position])))
    return create_dataframe_from_blocks(blocks, index=index, columns=column_index(names))
