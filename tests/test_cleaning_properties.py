"""Property-based tests: messy generated tables keep the cleaning invariants."""

from __future__ import annotations

import io
import pickle
from unittest.mock import patch

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from autotab.data.contract import build_contract, check_cleaned
from autotab.data.row_cleaning import clean_rows
from autotab.estimators import table_cleaner
from autotab.estimators.table_cleaner import MEMO_MAX_ROWS, TableCleaner

MARKERS = ["", "?", "NA", "null", "-"]
CELLS = {
    "int": st.integers(-1000, 1000),
    "float": st.floats(-1e6, 1e6) | st.just(float("nan")),
    "numeric_text": st.one_of(
        st.integers(0, 99999).map(lambda n: f" {n:,} "),
        st.floats(-100, 100).map("{:.2f}".format),
        st.sampled_from(MARKERS),
    ),
    "category": st.sampled_from(["Red", "red ", "BLUE", "green", "NA", "?", " Green"]),
    "boolean": st.sampled_from(["yes", "No", "TRUE", "false", "y", "n", ""]),
    "date": st.dates().map(lambda d: d.isoformat()) | st.just("NA"),
    "text": st.text(min_size=0, max_size=12),
}


@st.composite
def messy_tables(draw) -> pd.DataFrame:
    n_rows = draw(st.integers(1, 40))
    kinds = draw(st.lists(st.sampled_from(sorted(CELLS)), min_size=1, max_size=5))
    columns = {}
    for index, kind in enumerate(kinds):
        columns[f"col {index} ({kind})"] = draw(st.lists(CELLS[kind], min_size=n_rows, max_size=n_rows))
    columns["target"] = draw(st.lists(st.sampled_from(["a", "b", " A", "?", None]), min_size=n_rows, max_size=n_rows))
    frame = pd.DataFrame(columns)
    if draw(st.booleans()):  # duplicate some rows
        frame = pd.concat([frame, frame.head(draw(st.integers(0, n_rows)))], ignore_index=True)
    return frame


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_tables())
def test_cleaning_invariants(frame):
    original = frame.copy()
    try:
        rows, dropped = clean_rows(frame, "target", "auto", MARKERS, drop_duplicates=True)
    except Exception as error:  # only the documented refusal: nothing left to learn from
        assert "no rows left" in str(error)
        return
    pd.testing.assert_frame_equal(frame, original)  # the input is never modified
    assert len(frame) == len(rows) + sum(dropped.values())
    assert rows["target"].notna().all() and not rows.duplicated().any()

    X = rows.drop(columns=["target"])
    cleaner = TableCleaner(missing_markers=tuple(MARKERS), numeric_min_share=0.95).fit(X)
    assert set(cleaner.kinds_) | set(cleaner.dropped_) == set(X.columns)
    assert not set(cleaner.kinds_) & set(cleaner.dropped_)
    cleaned = cleaner.transform(X)
    assert list(cleaned.columns) == list(cleaner.get_feature_names_out())
    assert len(cleaned) == len(X)

    target = {"target": "target", "task": "binary", "task_reason": "test"}
    contract = build_contract(cleaner, cleaned, target, "f")
    check_cleaned(cleaned, contract, "the generated table")
    again = TableCleaner(missing_markers=tuple(MARKERS), numeric_min_share=0.95).fit(X).transform(X)
    assert parquet_bytes(again) == parquet_bytes(cleaned)


# What a request may carry: the training cells, and values training never saw, of other types too.
REQUEST_CELLS = st.one_of(
    *CELLS.values(),
    st.none(),
    st.just(float("nan")),
    st.booleans(),
    st.sampled_from(["İstanbul", "STRASSE", "straße", " Yes\u00a0", "1e3", "\t-\t", "2021-02-30", "0"]),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_tables(), st.data())
def test_a_few_rows_are_cleaned_exactly_as_a_large_table_is(frame, data):
    """Up to MEMO_MAX_ROWS rows, text goes through the memo of distinct values; above, vectorised."""
    X = frame.drop(columns=["target"])
    cleaner = TableCleaner(missing_markers=tuple(MARKERS), numeric_min_share=0.95).fit(X)
    n_rows = data.draw(st.integers(1, 5))
    request = pd.DataFrame(
        {column: data.draw(st.lists(REQUEST_CELLS, min_size=n_rows, max_size=n_rows)) for column in X.columns},
        dtype=object,
    )
    for rows in (request, X.head(n_rows)):
        small = cleaner.transform(rows)
        again = cleaner.transform(rows)  # now from the memo alone
        copies = 1 + MEMO_MAX_ROWS // len(rows)
        large = cleaner.transform(pd.concat([rows] * copies, ignore_index=True)).head(len(rows))
        pd.testing.assert_frame_equal(small.reset_index(drop=True), large)
        pd.testing.assert_frame_equal(again, small)
    assert "_memo" not in pickle.loads(pickle.dumps(cleaner)).__dict__


NUMBERS = st.one_of(
    st.integers(-3, 3).map(float),  # repeats and whole numbers: constants, ids, running numbers
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, float("nan"), float("inf"), -float("inf"), 2.0**53, 1e300]),
)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 30).flatmap(
        lambda rows: st.lists(st.lists(NUMBERS, min_size=rows, max_size=rows), min_size=1, max_size=6)
    ),
    st.integers(1, 40),
)
@example([[0.0, -0.0]], 1)  # found by a run: the span's zero took its sign from the order of the reduction
def test_numeric_columns_facts_by_numpy_blocks_are_those_of_pandas(columns, block_cells):
    """The cleaner reads its numeric columns' facts (counts, distinct values, whole numbers, range)
    from NumPy blocks of columns: exactly what pandas finds column by column, block size aside."""
    frame = pd.DataFrame({f"c{i}": pd.Series(values, dtype="float64") for i, values in enumerate(columns)})
    frame["n"] = np.arange(len(frame), dtype=np.int64)  # a running number
    with patch.object(table_cleaner, "FACTS_BLOCK_CELLS", block_cells):
        fast = table_cleaner.numeric_facts(frame)
    assert list(fast) == list(frame.columns)
    for column in frame.columns:  # repr: the contract records the sign of a zero (0.0 == -0.0)
        assert repr(fast[column]) == repr(table_cleaner.facts_of(frame[column], "numeric")), column


def test_a_column_labelled_true_or_false_is_a_column():
    frame = pd.DataFrame({True: [1.0, 2.0], False: [3.0, np.nan], "b": ["x", "y"]})
    facts = table_cleaner.numeric_facts(frame)
    assert list(facts) == [True, False] and facts[True].finite_range == (1.0, 2.0)
    assert facts[False].n_present == 1


def test_integers_beyond_what_float64_holds_exactly_are_summarised_by_pandas():
    frame = pd.DataFrame({"big": np.array([2**62, 2**62 + 1], dtype=np.int64), "small": [1, 2]})
    assert list(table_cleaner.numeric_facts(frame)) == ["small"]
