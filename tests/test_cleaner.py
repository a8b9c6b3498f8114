import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from autotab.estimators.table_cleaner import TableCleaner, parse_numbers, safe_names

MARKERS = ("", "?", "NA", "null")


def fit(frame: pd.DataFrame, **params) -> TableCleaner:
    return TableCleaner(missing_markers=MARKERS, **params).fit(frame)


def test_safe_names_are_identifiers_and_unique():
    mapping = safe_names(["Body Mass (g)", "body_mass_g", "1st", "Delta 15 N (o/oo)"])
    assert mapping == {
        "Body Mass (g)": "body_mass_g",
        "body_mass_g": "body_mass_g_2",
        "1st": "c_1st",
        "Delta 15 N (o/oo)": "delta_15_n_o_oo",
    }


def test_numbers_from_text_with_spaces_and_thousands_separators():
    parsed = parse_numbers(pd.Series([" 1,234.5 ", "12", "-3", "1,5", "abc", None]))
    assert parsed.iloc[:3].tolist() == [1234.5, 12.0, -3.0]
    assert parsed.iloc[3:].isna().all()  # "1,5" is not a thousands-grouped number
    # Thousands grouped by spaces, as French exports write them (no-break and narrow no-break spaces).
    grouped = parse_numbers(pd.Series(["12 000", "12\u00a0000", "12\u202f000", "1\u2009234.5"]))
    assert grouped.tolist() == [12000.0, 12000.0, 12000.0, 1234.5]


def test_prices_and_rates_as_files_write_them_are_numbers():
    parsed = parse_numbers(pd.Series(["$1,234.50", "-€3.5", "£ 12", "12.5%", "¥7", "$", "$$", "5%off", "1%2"]))
    assert parsed.iloc[:5].tolist() == [1234.5, -3.5, 12.0, 12.5, 7.0]
    assert parsed.iloc[5:].isna().all()
    frame = pd.DataFrame({"price": ["$1,200", "$950", "$2,100.50"] * 10, "tier": ["$", "$$", "$$$"] * 10})
    assert fit(frame).kinds_ == {"price": "numeric", "tier": "categorical"}


def test_kinds_renames_and_markers(messy_frame):
    cleaner = fit(messy_frame.drop(columns=["outcome"]))
    assert cleaner.kinds_ == {
        "age": "numeric",
        "dose": "numeric",
        "smoker": "boolean",
        "colour": "categorical",
    }
    out = cleaner.transform(messy_frame)
    assert list(out.columns) == ["age", "dose", "smoker", "colour"]
    assert out["dose"].dtype == "float64" and out["dose"].isna().sum() == 2
    assert set(out["smoker"].unique()) == {0.0, 1.0}
    assert out["colour"].isna().sum() == 1


def test_drops_with_reasons(messy_frame):
    frame = messy_frame.assign(
        empty=np.nan,
        notes=[f"free text number {i} with many words" for i in range(len(messy_frame))],
        mostly_missing=[1.0] + [np.nan] * (len(messy_frame) - 1),
    )
    cleaner = fit(frame.drop(columns=["outcome"]), drop=("age",), max_missing_ratio=0.9)
    assert cleaner.dropped_["age"] == "listed in data.drop"
    assert cleaner.dropped_["site"] == "constant"
    assert cleaner.dropped_["patient_id"].startswith("id-like")
    assert cleaner.dropped_["empty"] == "all values missing"
    assert cleaner.dropped_["mostly_missing"].startswith("98% missing")
    assert cleaner.dropped_["notes"].startswith("id-like") or cleaner.dropped_["notes"].startswith("free")


def test_free_text_by_distinct_values_and_by_words():
    n = 100
    frame = pd.DataFrame(
        {
            "code": [f"c{i % 60}" for i in range(n)],
            "remark": ["the sample was too small to measure"] * 50 + ["no remark made here at all"] * 50,
            "x": np.arange(n) % 7,
        }
    )
    cleaner = fit(frame, free_text_unique_ratio=0.5, free_text_min_unique=20)
    assert cleaner.dropped_["code"].startswith("free text: 60 distinct")
    assert cleaner.dropped_["remark"].startswith("free text: 6.5 words")


def test_iso_dates_become_date_parts():
    frame = pd.DataFrame({"when": ["2007-11-11", "2008-01-02", "NA"], "x": [1.0, 2.0, 3.0]})
    cleaner = fit(frame, date_parts=("year", "month", "dayofweek"))
    out = cleaner.transform(frame)
    assert list(out.columns) == ["when_year", "when_month", "when_dayofweek", "x"]
    assert out.loc[0, "when_year"] == 2007 and out.loc[0, "when_dayofweek"] == 6  # a Sunday
    assert out.loc[2, ["when_year", "when_month"]].isna().all()
    assert list(cleaner.get_feature_names_out()) == list(out.columns)
    assert fit(frame, date_parts=()).dropped_["when"].startswith("a date column")


@pytest.mark.parametrize(
    "written,layout",
    [
        (["25/12/2020", "04/03/2021", "01/02/2021 13:45"], "dayfirst"),  # 25 can only be a day
        (["12/25/2020", "03/04/2021", "02/01/2021 13:45"], "monthfirst"),  # 25 can only be a day, second
        (["25.12.2020", "4.3.2021", "1.2.2021"], "dayfirst"),
        (["2020/12/25", "2021/04/03", "2021/02/01"], "iso"),
        (["12/25/20", "3/4/21", "2/1/21 13:45"], "monthfirst"),  # a spreadsheet's short year
    ],
)
def test_dates_written_with_slashes_or_dots_are_dates_read_as_the_column_writes_them(written, layout):
    frame = pd.DataFrame({"when": [*written, None] * 6})
    cleaner = fit(frame, date_parts=("year", "month", "day"))
    assert cleaner.kinds_ == {"when": "datetime"} and cleaner.date_layouts_ == {"when": layout}
    out = cleaner.transform(frame)
    assert out.iloc[0].tolist() == [2020.0, 12.0, 25.0] and out.loc[3].isna().all()
    # one record alone is ambiguous (02/01 or 01/02): it is read as the training rows were
    assert cleaner.transform(frame.iloc[[2]]).iloc[0].tolist() == [2021.0, 2.0, 1.0]
    assert cleaner.transform(frame.iloc[[1]]).iloc[0].tolist() == [
        2021.0,
        4.0 if layout == "iso" else 3.0,
        3.0 if layout == "iso" else 4.0,
    ]


def test_values_that_only_look_like_dates_stay_what_they_are():
    frame = pd.DataFrame({"code": ["13/13/2021", "01/02/2021"] * 10, "parts": ["1/2/3", "3/4/5"] * 10})
    assert fit(frame).kinds_ == {"code": "categorical", "parts": "categorical"}


def test_epoch_days_is_the_instant_itself_in_days_and_keeps_the_order_the_parts_lose():
    frame = pd.DataFrame({"when": ["1970-01-02", "2007-11-11T06:00", "1969-12-31", None, "2007-12-11"]})
    cleaner = fit(frame, date_parts=("day", "epoch_days"))
    out = cleaner.transform(frame)
    assert out["when_epoch_days"].tolist()[:3] == [1.0, 13828.25, -1.0] and np.isnan(out.loc[3, "when_epoch_days"])
    assert out.loc[1, "when_day"] == out.loc[4, "when_day"] == 11  # a month apart: the same day, not the same instant
    # a single record, cleaned value by value as the service does, gets the same numbers
    assert cleaner.transform(frame.iloc[[1]])["when_epoch_days"].item() == 13828.25


def test_categories_are_trimmed_and_case_folded():
    frame = pd.DataFrame({"c": ["Red", " red", "BLUE ", "blue"] * 5})
    cleaner = fit(frame)
    assert cleaner.transform(frame)["c"].unique().tolist() == ["red", "blue"]
    assert cleaner.input_schema()[0]["categories"] == ["blue", "red"]
    assert fit(frame, case_fold=False).transform(frame)["c"].nunique() == 4


def test_clipping_uses_training_quantiles_only():
    train = pd.DataFrame({"x": np.arange(101) * 0.5})
    cleaner = fit(train, clip_quantiles=(0.1, 0.9))
    assert cleaner.bounds_["x"] == (5.0, 45.0)
    assert cleaner.transform(pd.DataFrame({"x": [-1000.0, 20.0, 1e9]}))["x"].tolist() == [5, 20, 45]


def test_a_running_number_is_an_id_but_distinct_measurements_are_not():
    frame = pd.DataFrame({"row": np.arange(1, 51), "mass": np.arange(1, 51) * 37 + 3000})
    cleaner = fit(frame)
    assert cleaner.dropped_ == {"row": "id-like: a running number, one per row, over 50 rows"}


def test_the_index_pandas_writes_unnamed_is_an_id_on_the_training_rows_of_a_split():
    # `to_csv`'s default: the index as the first column, its header empty (read as "Unnamed: 0"). On
    # the training rows of a shuffled split it is no running number any more (gaps), yet an id still.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"Unnamed: 0": np.arange(200), "mass": rng.normal(size=200).round(3)})
    cleaner = fit(frame.sample(160, random_state=0))
    assert cleaner.dropped_ == {"Unnamed: 0": "id-like: unnamed (a written index), 160 distinct values in 160 rows"}


def test_replays_on_unseen_rows_and_values(messy_frame):
    X = messy_frame.drop(columns=["outcome"])
    cleaner = fit(X)
    new = pd.DataFrame(
        {
            "patient_id": ["Z"],
            "age": [30],
            "dose": ["not a number"],
            "smoker": ["YES"],
            "colour": ["Purple"],
            "site": ["south"],
        }
    )
    out = cleaner.transform(new)
    assert np.isnan(out.loc[0, "dose"]) and out.loc[0, "smoker"] == 1.0
    assert out.loc[0, "colour"] == "purple"
    with pytest.raises(ValueError, match="missing columns: dose"):
        cleaner.transform(new.drop(columns=["dose"]))


def test_input_schema_keeps_original_names_and_raw_types():
    frame = pd.DataFrame({"Body Mass (g)": [3750, 3800, None] * 10, "dose": ["1", "?", "2"] * 10, "id": range(30)})
    fields = {f["name"]: f for f in fit(frame, drop=("id",)).input_schema()}
    assert fields["Body Mass (g)"] == {
        "name": "Body Mass (g)",
        "types": ["number"],
        "nullable": True,
        "used": True,
        "kind": "numeric",
        "min": 3750.0,
        "max": 3800.0,
    }
    assert fields["dose"]["types"] == ["number", "string"] and fields["dose"]["nullable"]
    assert fields["id"]["used"] is False


def test_a_real_estimator(messy_frame):
    X = messy_frame.drop(columns=["outcome"])
    fitted = TableCleaner().fit(X)
    restored = pickle.loads(pickle.dumps(fitted))
    pd.testing.assert_frame_equal(restored.transform(X), fitted.transform(X))
    assert clone(fitted).get_params() == fitted.get_params()
    assert list(fitted.get_feature_names_out()) == list(fitted.transform(X).columns)


def test_an_unhashable_cell_in_a_small_request_is_cleaned_as_in_a_large_one():
    """A few rows of text go through a memo keyed by value; a list (from Parquet, say) cannot be a key."""
    X = pd.DataFrame({"colour": ["red", "blue", "red", "green"] * 10, "size": [1.5, 2.0, 3.5, 4.0] * 10})
    cleaner = TableCleaner().fit(X)
    request = pd.DataFrame({"colour": pd.Series([["red", "blue"], "red"], dtype=object), "size": [1.0, 2.0]})
    large = cleaner.transform(pd.concat([request] * 300, ignore_index=True)).head(2)
    pd.testing.assert_frame_equal(cleaner.transform(request), large)


def test_a_large_categorical_column_holds_one_string_per_distinct_value():
    """Past the memo's few rows a column is cleaned vectorised; its equal labels are one object each
    (a string per cell cost 570 MB on a million rows) and the values are `astype(object)`'s."""
    rng = np.random.default_rng(0)
    raw = pd.Series(rng.choice(np.array([" Red", "red ", "BLUE", "?", None], dtype=object), 2_000), dtype=object)
    cleaner = TableCleaner().fit(pd.DataFrame({"colour": raw, "n": np.arange(2_000.0) % 7}))
    cleaned = cleaner.transform(pd.DataFrame({"colour": raw, "n": np.arange(2_000.0) % 7}))["colour"]
    assert cleaned.dtype == object
    present = cleaned.dropna()
    assert sorted(set(present)) == ["blue", "red"] and cleaned.isna().sum() == raw.isin(["?", None]).sum()
    assert len({id(value) for value in present}) == 2
    assert all(isinstance(v, float) and np.isnan(v) for v in cleaned[cleaned.isna()])  # NaN, as before


def test_a_string_column_cleaned_by_distinct_values_is_the_column_cleaned_cell_by_cell():
    """Past the memo's rows a column of strings is cleaned once per distinct value and spread back by
    code: the same series, of every kind, with markers, stray spaces and missing cells."""
    rng = np.random.default_rng(1)
    pools = {
        "amount": [" 1,234", "56", "7.5 ", "n/a", None, "12 000", "x"],
        "flag": ["Yes", "no", " TRUE", "?", None],
        "when": ["2024-01-05", " 2023-12-31", "2024-02-29T10:00", "", None],
        "colour": [" Red", "red ", "BLUE", "Blue  sky", "-", None],
    }
    frame = pd.DataFrame({name: pd.Series(rng.choice(np.array(pool, dtype=object), 3_000), dtype="str")
                          for name, pool in pools.items()})  # fmt: skip
    cleaner = TableCleaner(numeric_min_share=0.7, clip_quantiles=(0.01, 0.99)).fit(frame)
    assert cleaner.kinds_ == {"amount": "numeric", "flag": "boolean", "when": "datetime", "colour": "categorical"}
    markers = frozenset(m.lower() for m in cleaner.missing_markers)
    for name, kind in cleaner.kinds_.items():
        by_cell = cleaner._clean_column(name, kind, frame[name], markers)
        by_value = cleaner._clean_distinct(name, kind, frame[name], markers)
        assert list(by_value) == list(by_cell)
        for output in by_cell:
            pd.testing.assert_series_equal(by_value[output], by_cell[output], check_exact=True, check_names=False)
    mostly_distinct = pd.Series([f"v{i}" for i in range(1_000)], dtype="str")  # not worth it: cell by cell
    assert cleaner._clean_distinct("colour", "categorical", mostly_distinct, markers)["colour"].iloc[999] == "v999"


def test_an_infinity_is_missing_in_a_number_column_read_as_floats_or_as_text():
    # No imputer fills an infinity and every model refuses one: a single `inf` in a column (a
    # spreadsheet's division by zero) failed every candidate of the leaderboard.
    X = pd.DataFrame({"text": ["1", "2", "inf", "-Infinity"] * 10, "floats": [1.0, np.inf, 2.0, -np.inf] * 10})
    cleaner = TableCleaner().fit(X)
    assert cleaner.kinds_ == {"text": "numeric", "floats": "numeric"}
    expected = pd.DataFrame({"text": [1.0, 2.0, np.nan, np.nan] * 10, "floats": [1.0, np.nan, 2.0, np.nan] * 10})
    pd.testing.assert_frame_equal(cleaner.transform(X), expected)
    for row in range(4):  # a single record, as the service cleans one
        pd.testing.assert_frame_equal(cleaner.transform(X.iloc[[row]]), expected.iloc[[row]])
    assert [(f["min"], f["max"]) for f in cleaner.input_schema()] == [(1.0, 2.0), (1.0, 2.0)]


def test_a_clock_is_a_number_of_hours_whether_a_time_of_day_or_a_duration():
    # A time of day as a file writes it, and a duration as pandas writes one (a Parquet duration
    # column's text): numbers a tree can split, instead of a category per minute.
    parsed = parse_numbers(
        pd.Series(["10:30", "7:05:30", "36:15", "0 days 01:30:00", "1 day 00:30:00", "3:2", "10:30 pm"])
    )
    assert parsed.iloc[:5].round(4).tolist() == [10.5, 7.0917, 36.25, 1.5, 24.5]
    assert parsed.iloc[5:].isna().all()
    X = pd.DataFrame(
        {"at": [f"{h:02d}:15" for h in range(24)] * 2, "wait": pd.to_timedelta(range(0, 336, 7), unit="min")}
    )
    cleaner = TableCleaner().fit(X)
    assert cleaner.kinds_ == {"at": "numeric", "wait": "numeric"}
    assert cleaner.transform(X.iloc[[1]]).round(4).to_dict("records") == [{"at": 1.25, "wait": 0.1167}]
