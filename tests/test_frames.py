"""column_values reads what `frame[column]` holds, for every kind of column a raw or cleaned table has."""

import numpy as np
import pandas as pd
import pytest

from autotab.estimators.frames import BLOCK_ROWS, column_index, column_values, frame_of_columns

COLUMNS = {
    "float": pd.array([1.5, np.nan, 3.0], dtype="float64"),
    "int": pd.array([1, 2, 3], dtype="int64"),
    "nullable int": pd.array([1, None, 3], dtype="Int64"),
    "bool": pd.array([True, False, True], dtype="bool"),
    "nullable bool": pd.array([True, None, False], dtype="boolean"),
    "str": pd.array(["a", None, "c"], dtype="str"),
    "arrow str": pd.array(["a", None, "c"], dtype=pd.StringDtype("pyarrow")),
    "object": np.array(["a", np.nan, 1], dtype=object),
    "category": pd.Categorical(["x", "y", None]),
    "datetime": pd.to_datetime(["2024-01-01", None, "2024-03-01"], utc=True),
}


@pytest.mark.parametrize("name", COLUMNS)
def test_values_are_those_the_column_holds(name: str) -> None:
    frame = pd.DataFrame(COLUMNS)
    values = column_values(frame, name)
    pd.testing.assert_series_equal(pd.Series(values, index=frame.index, name=name), frame[name])


def test_a_column_of_a_sliced_frame() -> None:
    frame = pd.DataFrame(COLUMNS).iloc[[2, 0]]
    np.testing.assert_array_equal(column_values(frame, "float"), [3.0, 1.5])


def test_a_repeated_column_name_is_named() -> None:
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(ValueError, match="'a' appears more than once"):
        column_values(frame, "a")


def test_an_absent_column_raises_key_error() -> None:
    with pytest.raises(KeyError):
        column_values(pd.DataFrame(COLUMNS), "absent")


def test_frame_of_columns_is_the_frame_pandas_builds() -> None:
    index = pd.Index([7, 3, 5])
    columns = {
        "number": np.array([1.0, np.nan, 3.0]),
        "text": pd.Series(["a", np.nan, "c"], index=index, dtype=object),
        "shuffled": pd.Series([30.0, 50.0, 70.0], index=[3, 5, 7]),  # aligned on the index, as pandas does
    }
    pd.testing.assert_frame_equal(frame_of_columns(columns, index), pd.DataFrame(columns, index=index))


def test_a_long_frame_gathers_its_floats_one_by_one_into_the_frame_pandas_builds() -> None:
    rows = BLOCK_ROWS + 3
    rng = np.random.default_rng(0)
    index = pd.RangeIndex(rows)
    columns = {
        "number": rng.normal(size=rows),
        "text": np.array(rng.choice(["a", "b", None], rows), dtype=object),
        "count": np.arange(rows),  # not float64: pandas' own block
        "labels": pd.Series(rng.choice(["p", "q"], rows), index=index[::-1]),  # aligned on the index
        "missing": np.where(rng.random(rows) < 0.5, np.nan, 1.0),
        "single": np.ones(rows, dtype=np.float32),
    }
    expected = pd.DataFrame(columns, index=index)
    got = frame_of_columns(columns, index)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got.to_parquet() == expected.to_parquet()
    assert columns == {}  # each column let go as it was copied
    no_floats = {"text": np.array(["a"] * rows, dtype=object)}
    pd.testing.assert_frame_equal(frame_of_columns(dict(no_floats), index), pd.DataFrame(no_floats, index=index))


def test_frames_share_one_index_per_names() -> None:
    first = frame_of_columns({"a": np.array([1.0])}, pd.RangeIndex(1))
    second = frame_of_columns({"a": np.array([2.0])}, pd.RangeIndex(1))
    assert first.columns is second.columns is column_index(("a",))
    assert frame_of_columns({}, pd.RangeIndex(2)).shape == (2, 0)
