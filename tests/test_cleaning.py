import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from autotab.cleaning import TableCleaner, check_target, clean_rows, infer_task, split_rows
from autotab.errors import UserError

MARKERS = ["", "?", "NA", "null"]


def test_clean_rows_drops_missing_targets_then_exact_duplicates():
    frame = pd.DataFrame({"x": [1, 1, 2, 3, 4], "y": ["a", "a", "?", " b ", None]})
    rows, dropped = clean_rows(frame, "y", MARKERS, drop_duplicates=True)
    assert dropped == {"missing_target": 2, "duplicate": 1}
    assert rows["y"].tolist() == ["a", "b"]
    assert len(frame) == 5  # the input is not modified


def test_missing_target_column_suggests_the_nearest_name():
    frame = pd.DataFrame({"diagnosis": [1], "age": [2]})
    with pytest.raises(UserError, match=r"'diagnosys'.*diagnosis, age.*did you mean 'diagnosis'"):
        check_target(frame, "diagnosys")


@pytest.mark.parametrize(
    "values,configured,task",
    [
        (["a", "b", "a"], "auto", "binary"),
        (["a", "b", "c"], "auto", "multiclass"),
        ([0.5, 1.2, 3.3], "auto", "regression"),
        (list(range(100)), "auto", "regression"),
        ([0, 1, 1, 0], "auto", "binary"),
        ([1, 2, 3], "regression", "regression"),
    ],
)
def test_infer_task(values, configured, task):
    assert infer_task(pd.Series(values), configured, max_classes=50)[0] == task


def test_single_class_and_mismatched_task_are_errors():
    with pytest.raises(UserError, match="single class"):
        infer_task(pd.Series(["a", "a"]), "auto", 50)
    with pytest.raises(UserError, match="binary but the target has 3 classes"):
        infer_task(pd.Series(["a", "b", "c"]), "binary", 50)


def test_split_is_seeded_and_stratified():
    frame = pd.DataFrame({"x": range(100), "y": ["a"] * 80 + ["b"] * 20})
    train, test = split_rows(frame, "y", "binary", 0.25, seed=3)
    again, _ = split_rows(frame, "y", "binary", 0.25, seed=3)
    pd.testing.assert_frame_equal(train, again)
    assert test["y"].value_counts().to_dict() == {"a": 20, "b": 5}


def test_split_names_classes_too_rare_to_split():
    frame = pd.DataFrame({"x": range(5), "y": ["a", "a", "a", "a", "rare"]})
    with pytest.raises(UserError, match="'rare'"):
        split_rows(frame, "y", "binary", 0.2, seed=0)


def test_cleaner_learns_kinds_and_drops_with_reasons(messy_frame):
    X = messy_frame.drop(columns=["outcome"])
    cleaner = TableCleaner(missing_markers=tuple(MARKERS)).fit(X)
    assert cleaner.kinds_ == {
        "age": "numeric",
        "dose": "numeric",
        "smoker": "boolean",
        "colour": "categorical",
    }
    assert cleaner.dropped_["site"] == "constant"
    assert cleaner.dropped_["patient_id"].startswith("id-like")
    out = cleaner.transform(X)
    assert list(out.columns) == ["age", "dose", "smoker", "colour"]
    assert out["dose"].dtype == "float64" and out["dose"].isna().sum() == 2
    assert set(out["smoker"].unique()) == {0.0, 1.0}
    assert out["colour"].isna().sum() == 1


def test_cleaner_replays_on_unseen_rows_and_values(messy_frame):
    X = messy_frame.drop(columns=["outcome"])
    cleaner = TableCleaner(missing_markers=tuple(MARKERS)).fit(X)
    new = pd.DataFrame(
        {
            "patient_id": ["Z"],
            "age": [30],
            "dose": ["not a number"],
            "smoker": ["YES"],
            "colour": ["purple"],
            "site": ["south"],
        }
    )
    out = cleaner.transform(new)
    assert np.isnan(out.loc[0, "dose"]) and out.loc[0, "smoker"] == 1.0
    assert out.loc[0, "colour"] == "purple"
    with pytest.raises(ValueError, match="missing columns: dose"):
        cleaner.transform(new.drop(columns=["dose"]))


def test_configured_drop_and_input_schema(messy_frame):
    X = messy_frame.drop(columns=["outcome"])
    cleaner = TableCleaner(drop=("age",), missing_markers=tuple(MARKERS)).fit(X)
    assert cleaner.dropped_["age"] == "listed in data.drop"
    fields = {f["name"]: f for f in cleaner.input_schema()}
    assert fields["age"]["used"] is False
    assert fields["dose"] == {"name": "dose", "types": ["number", "string"], "nullable": True, "used": True}
    assert fields["colour"]["categories"] == ["blue", "green", "red"]


def test_cleaner_is_a_real_estimator(messy_frame):
    X = messy_frame.drop(columns=["outcome"])
    fitted = TableCleaner().fit(X)
    restored = pickle.loads(pickle.dumps(fitted))
    pd.testing.assert_frame_equal(restored.transform(X), fitted.transform(X))
    assert clone(fitted).get_params() == fitted.get_params()
    assert list(fitted.get_feature_names_out()) == list(fitted.transform(X).columns)
