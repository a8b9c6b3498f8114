import numpy as np
import pandas as pd
import pytest
import yaml

from autotab.config import CleanConfig, DataConfig
from autotab.data.row_cleaning import (
    check_target,
    clean_rows,
    column_report,
    drop_rare_classes,
    infer_task,
    min_class_rows,
    normalise_labels,
    outlier_rows,
    task_and_classes,
)
from autotab.data.splits import check_folds, split_rows
from autotab.errors import UserError
from autotab.estimators.table_cleaner import TableCleaner
from tests.conftest import REPO

MARKERS = ["", "?", "NA", "null"]


def test_clean_rows_drops_missing_and_invalid_targets_then_exact_duplicates():
    frame = pd.DataFrame({"x": [1, 1, 2, 3, 4, 5], "y": ["a", "a", "?", " b ", None, "b"]})
    rows, dropped = clean_rows(frame, "y", "auto", MARKERS, drop_duplicates=True)
    assert dropped == {"missing_target": 2, "invalid_target": 0, "duplicate": 1}
    assert rows["y"].tolist() == ["a", "b", "b"]
    assert len(frame) == 6 and frame.loc[3, "y"] == " b "  # the input is not modified
    numbers = pd.DataFrame({"x": [1, 2, 3], "y": ["1.5", "oops", "2"]})
    rows, dropped = clean_rows(numbers, "y", "regression", MARKERS, True)
    assert dropped["invalid_target"] == 1 and rows["y"].tolist() == [1.5, 2.0]
    # Repeated rows without a valid target count as invalid, not as duplicates.
    repeats = pd.DataFrame({"x": [1, 1, 2, 2, 3], "y": ["oops", "oops", "2", "2.0", "oops"]})
    rows, dropped = clean_rows(repeats, "y", "regression", MARKERS, True)
    assert dropped == {"missing_target": 0, "invalid_target": 3, "duplicate": 1}
    assert rows.to_dict("list") == {"x": [2], "y": [2]}


def test_duplicate_rows_are_kept_by_default_with_how_often_each_label_occurs():
    # One pattern 99 times negative and once positive: dropping the copies would leave one of each.
    frame = pd.DataFrame({"x": [0] * 100 + [1, 2], "y": ["no"] * 99 + ["yes", "yes", "no"]})
    configured = yaml.safe_load((REPO / "conf/clean/default.yaml").read_text())["drop_duplicates"]
    assert configured is False and CleanConfig.model_fields["drop_duplicates"].default is False
    rows, dropped = clean_rows(frame, "y", "auto", MARKERS, drop_duplicates=configured)
    assert dropped["duplicate"] == 0 and rows[rows["x"] == 0]["y"].value_counts().to_dict() == {"no": 99, "yes": 1}


@pytest.mark.parametrize(
    "target",
    [
        pd.Series([True, False, True, True]),  # a Parquet bool column
        pd.Series([True, False, True, True], dtype="boolean"),
        pd.Series([True, False, None, True, True], dtype=object),  # a CSV's TRUE / FALSE with a blank
    ],
)
def test_a_boolean_target_keeps_false_and_true_as_its_labels(target):
    rows, dropped = clean_rows(pd.DataFrame({"x": range(len(target)), "y": target}), "y", "auto", MARKERS, True)
    assert sorted(rows["y"].unique()) == ["False", "True"]
    assert dropped["missing_target"] == int(target.isna().sum())


def test_an_infinite_target_is_invalid():
    frame = pd.DataFrame({"x": [1, 2, 3, 4], "y": ["1.5", "inf", "2", "-inf"]})
    rows, dropped = clean_rows(frame, "y", "auto", MARKERS, True)
    assert rows["y"].tolist() == [1.5, 2.0] and dropped["invalid_target"] == 2


def test_numeric_class_labels_stay_integers():
    rows, _ = clean_rows(pd.DataFrame({"x": [1, 2, 3], "y": ["0", "1", "1"]}), "y", "auto", MARKERS, True)
    assert rows["y"].dtype == "int64"


def test_labels_differing_only_by_case_and_spaces_merge_into_the_commonest_spelling():
    labels = pd.Series(["Benign", "benign", "Benign ", "malignant", "Malignant  "])
    assert normalise_labels(labels).tolist() == ["Benign", "Benign", "Benign", "malignant", "malignant"]


def test_missing_target_column_suggests_the_nearest_name():
    frame = pd.DataFrame({"diagnosis": [1], "age": [2]})
    with pytest.raises(UserError, match=r"'diagnosys'.*diagnosis, age.*did you mean 'diagnosis'"):
        check_target(frame, "diagnosys")
    with pytest.raises(UserError, match="single column: is data.delimiter right"):
        check_target(pd.DataFrame({"a;b;c": [1]}), "b")


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


def test_single_class_mismatched_task_and_rare_classes_are_errors():
    with pytest.raises(UserError, match="single class"):
        infer_task(pd.Series(["a", "a"]), "auto", 50)
    with pytest.raises(UserError, match="binary but the target has 3 classes"):
        infer_task(pd.Series(["a", "b", "c"]), "binary", 50)
    with pytest.raises(UserError, match=r"min_class_count=10 rows: 'rare' \(2 rows\), 'one' \(1 row\); remove"):
        drop_rare_classes(pd.Series(["a"] * 20 + ["rare"] * 2 + ["one"]), min_count=10, policy="error")
    with pytest.raises(UserError, match=r"'rare' \(2 rows\); dropping them would leave 1 class"):
        drop_rare_classes(pd.Series(["a"] * 20 + ["rare"] * 2), min_count=10, policy="drop")


def test_a_configured_binary_task_is_checked_on_the_rows_kept():
    clean = CleanConfig(**yaml.safe_load((REPO / "conf/clean/default.yaml").read_text()))
    data = DataConfig(name="t", path="t.csv", target="y", task="binary", test_size=0.2, seed=0)
    rows = pd.DataFrame({"x": range(43), "y": ["a"] * 20 + ["b"] * 20 + ["rare"] * 3})
    kept, task, reason, dropped = task_and_classes(rows, data=data, clean=clean, n_folds=5)
    assert (len(kept), task, dropped) == (40, "binary", {"rare": 3}) and reason.endswith("after dropping 1 rare one")
    with pytest.raises(UserError, match=r"\(1 row\), .* and 35 more; dropping them would leave 0 classes"):
        task_and_classes(pd.DataFrame({"y": [f"v{i}" for i in range(45)]}), data=data, clean=clean, n_folds=5)


def test_a_long_tail_of_rare_labels_goes_before_the_classes_are_counted():
    clean = CleanConfig(**yaml.safe_load((REPO / "conf/clean/default.yaml").read_text()))
    data = DataConfig(name="t", path="t.csv", target="y", task="auto", test_size=0.2, seed=0)
    labels = [f"common{i}" for i in range(3) for _ in range(20)] + [f"rare{i}" for i in range(60)]
    kept, task, reason, dropped = task_and_classes(pd.DataFrame({"y": labels}), data=data, clean=clean, n_folds=5)
    assert (len(kept), task, len(dropped)) == (60, "multiclass", 60)  # 63 labels in the file, 3 classes
    assert reason == "the target has 3 classes, after dropping 60 rare ones"
    numbers = pd.DataFrame({"y": np.arange(200) % 60})  # a numeric target past max_classes stays a regression
    assert task_and_classes(numbers, data=data, clean=clean, n_folds=5)[1:] == (
        "regression",
        "numeric target with 60 distinct values",
        {},
    )


def test_rare_classes_are_dropped_by_default_and_named():
    y = pd.Series(["a"] * 20 + ["b"] * 10 + ["rare"] * 9 + ["one"])
    keep, dropped = drop_rare_classes(y, min_count=10, policy="drop")
    assert dropped == {"rare": 9, "one": 1}
    assert y[keep].tolist() == ["a"] * 20 + ["b"] * 10
    keep, dropped = drop_rare_classes(y, min_count=2, policy="drop")  # the floor: a class of one row
    assert dropped == {"one": 1} and keep.sum() == len(y) - 1
    keep, dropped = drop_rare_classes(y[:30], min_count=10, policy="error")  # none rare: nothing to say
    assert dropped == {} and keep.all()


@pytest.mark.parametrize(("n_folds", "test_size"), [(5, 0.2), (3, 0.2), (10, 0.2), (5, 0.3), (5, 0.1)])
def test_the_automatic_rare_class_bar_keeps_every_class_each_training_fold_can_hold(n_folds, test_size):
    clean = CleanConfig(**yaml.safe_load((REPO / "conf/clean/default.yaml").read_text()))
    assert clean.min_class_count == "auto"
    bar, setting = min_class_rows(clean, test_size=test_size, n_folds=n_folds)
    assert setting.startswith(f"{bar} rows (clean.min_class_count: auto, for train.folds={n_folds}")
    # A class of `bar` rows keeps `n_folds` training rows after any seeded stratified holdout; one
    # fewer may not, and is dropped as rare. 10 (AutoGluon's bar, this one's before) dropped classes
    # of 7 to 9 rows at 5 folds, whose records the model then never predicts.
    data = DataConfig(name="t", path="t.csv", target="y", task="auto", test_size=test_size, seed=0)
    rows = pd.DataFrame(
        {"x": range(80 + 2 * bar - 1), "y": ["a"] * 40 + ["b"] * 40 + ["kept"] * bar + ["rare"] * (bar - 1)}
    )
    kept, _, _, dropped = task_and_classes(rows, data=data, clean=clean, n_folds=n_folds)
    assert dropped == {"rare": bar - 1} and (kept["y"] == "kept").sum() == bar
    for seed in range(20):
        train, _ = split_rows(kept, "y", "multiclass", test_size, seed, None, None)
        check_folds(train["y"], "multiclass", n_folds)  # raises if a class misses a fold
    assert min_class_rows(clean.model_copy(update={"min_class_count": 10}), test_size=0.2, n_folds=5) == (
        10,
        "clean.min_class_count=10 rows",
    )


def test_split_is_seeded_and_stratified():
    frame = pd.DataFrame({"x": range(100), "y": ["a"] * 80 + ["b"] * 20})
    train, test = split_rows(frame, "y", "binary", 0.25, seed=3)
    again, _ = split_rows(frame, "y", "binary", 0.25, seed=3)
    pd.testing.assert_frame_equal(train, again)
    assert test["y"].value_counts().to_dict() == {"a": 20, "b": 5}


def test_isolation_forest_flags_the_planted_outlier():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "z": rng.normal(size=200)})
    frame.loc[17, ["x", "z"]] = [40.0, -40.0]
    flagged = outlier_rows(frame, contamination=0.01, seed=0)
    assert flagged[17] and flagged.sum() <= 3


def test_column_report_accounts_for_every_missing_cell(messy_frame):
    X = messy_frame.drop(columns=["outcome"])
    X.loc[0, "age"] = np.nan
    cleaner = TableCleaner(missing_markers=tuple(MARKERS)).fit(X)
    report = column_report(cleaner, X)
    assert report["dose"] == {
        "cleaned_name": "dose",
        "kind": "numeric",
        "missing_as_read": 0,
        "markers_to_missing": 2,
        "unreadable_to_missing": 0,
        "missing_after": 2,
    }
    assert report["age"]["missing_as_read"] == 1 and report["age"]["missing_after"] == 1
    assert set(report) == set(cleaner.kinds_)
