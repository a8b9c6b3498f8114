"""The leakage checks on generated tables, and the clean stage that acts on them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from autotab.config import CleanConfig, DataConfig
from autotab.data import leakage
from autotab.data.splits import split_rows
from autotab.errors import EXIT_USER_ERROR
from tests.conftest import REPO
from tests.test_clean_stage import run_ingest_and_clean, workspace  # noqa: F401  (a fixture)


def subjects_table(n_subjects: int = 150, visits: int = 4, seed: int = 0) -> pd.DataFrame:
    """Patients tested several times: each subject's outcome is mostly their own, the measurements
    carry a weak signal; the subject id decides the result on a split that mixes visits."""
    rng = np.random.default_rng(seed)
    subject = np.repeat(np.arange(n_subjects), visits)
    disposition = np.repeat(rng.normal(size=n_subjects), visits)
    x = rng.normal(size=subject.size)
    outcome = disposition + 0.3 * x + 0.3 * rng.normal(size=subject.size) > 0
    return pd.DataFrame({
        "subject_id": [f"S{s:04d}" for s in subject], "x": x, "z": rng.normal(size=subject.size),
        "y": np.where(outcome, "sick", "well"),
    })  # fmt: skip


CLEAN = CleanConfig(**yaml.safe_load((REPO / "conf/clean/default.yaml").read_text()))


def run_checks(frame: pd.DataFrame, *, drop=(), group=None, task="binary", seed=0) -> dict:
    """The checks as add-data and the clean stage make them, on this table."""
    data = DataConfig(
        name="t", path="t.csv", target="y", task=task, drop=list(drop), group=group, test_size=0.2, seed=seed
    )
    return leakage.check_table(frame, data=data, clean=CLEAN, n_folds=5)


def test_a_repeated_subject_id_that_drives_the_target_is_reported_with_the_group_suggestion():
    report = run_checks(subjects_table(), drop=["subject_id"])
    finding = report["predictive_id_columns"]["subject_id"]
    assert finding["score"] > 0.8 and 3 < finding["rows_per_value"] <= 4  # of the training rows
    assert finding["same_target_share"] > finding["same_target_by_chance"] + 0.2
    assert finding["suggestion"].startswith("data.group: subject_id")
    assert any(text.startswith("subject_id: data.group: subject_id") for text in report["suggestions"])
    assert report["shortcut_columns"] == {}


def test_with_the_subject_as_the_group_the_id_no_longer_predicts_across_folds():
    report = run_checks(subjects_table(), drop=["subject_id"], group="subject_id")
    assert report["predictive_id_columns"] == {} and report["suggestions"] == []


def test_an_id_handed_out_in_the_targets_order_is_a_leak_though_it_never_repeats():
    rng = np.random.default_rng(1)
    y = np.sort(rng.choice(["no", "yes"], 400))  # the rows numbered after sorting by outcome
    frame = pd.DataFrame({"order_id": np.arange(400) * 7 + 1000, "x": rng.normal(size=400), "y": y})
    report = run_checks(frame.sample(frac=1, random_state=0), drop=["order_id"])
    finding = report["predictive_id_columns"]["order_id"]
    assert finding["score"] > 0.95 and finding["suggestion"].startswith("a leak")


def test_a_noisy_copy_of_the_target_is_a_shortcut_and_ordinary_columns_are_not():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(list("abcd"), 500)})
    frame["y"] = np.where(frame["x"] + rng.normal(size=500) > 0, "yes", "no")
    frame["refund_amount"] = np.where(frame["y"] == "yes", 100.0, 0.0) + rng.normal(scale=5, size=500)
    report = run_checks(frame)
    assert list(report["shortcut_columns"]) == ["refund_amount"]
    assert report["best_single_column"] == "refund_amount" and 0.6 < run_checks(frame.drop(columns="refund_amount"))[
        "best_single_column_score"] < 0.9  # fmt: skip


def test_a_weak_column_of_a_table_with_every_row_three_times_is_no_shortcut():
    # Kept duplicates (clean.drop_duplicates: false): scored with its copies in the other folds, the
    # weak column's every value would come with its label, and read as a copy of the target.
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(size=300).round(3)})
    frame["y"] = np.where(frame["x"] + rng.normal(size=300) > 0, "yes", "no")
    once = run_checks(frame)
    thrice = run_checks(pd.concat([frame] * 3, ignore_index=True).sample(frac=1, random_state=0))
    assert thrice["shortcut_columns"] == {} and thrice["best_single_column"] == "x"
    assert 0.6 < once["best_single_column_score"] < 0.9 and 0.6 < thrice["best_single_column_score"] < 0.9
    assert thrice["training_rows_repeated_across_folds"] > 300  # the repeats are still counted


def test_a_regression_target_copied_into_a_column_is_a_shortcut_by_r2():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=600)})
    frame["y"] = 3 * frame["x"] + rng.normal(size=600)
    frame["y_in_cents"] = frame["y"] * 100 + rng.normal(size=600)
    report = run_checks(frame, task="regression")
    assert report["metric"] == "r2" and list(report["shortcut_columns"]) == ["y_in_cents"]


def test_rows_repeated_across_the_split_and_the_folds_are_counted():
    rng = np.random.default_rng(4)
    base = pd.DataFrame({"x": rng.permutation(1000)[:300].astype(float), "c": rng.choice(list("ab"), 300)})
    base["y"] = rng.choice(["no", "yes"], 300)
    # 100 records entered twice (same values, same target) under new record ids
    repeated = pd.concat([base, base.iloc[:100]], ignore_index=True)
    repeated.insert(0, "record_id", [f"R{i:05d}" for i in range(len(repeated))])  # dropped as id-like
    train, test = split_rows(repeated, "y", "binary", 0.2, 0)

    def repeating(columns: list[str]) -> int:  # holdout rows whose values occur in training
        seen = set(train[columns].itertuples(index=False))
        return sum(row in seen for row in test[columns].itertuples(index=False))

    report = run_checks(repeated)
    assert report["holdout_rows_repeated_in_training"] == repeating(["x", "c"]) > 5
    assert report["holdout_rows_repeated_in_training_with_target"] == repeating(["x", "c", "y"]) > 5
    assert report["training_rows_repeated_across_folds"] > 50
    assert any("data.group" in text for text in report["suggestions"])  # many repeats, no group
    assert run_checks(base)["holdout_rows_repeated_in_training"] == 0


def test_the_clean_stage_stops_on_a_shortcut_unless_allowed_and_writes_the_report(workspace, capsys):  # noqa: F811
    rng = np.random.default_rng(5)
    y = rng.choice(["no", "yes"], 200)
    leaky = pd.DataFrame({"x": rng.normal(size=200), "status_code": np.where(y == "yes", 7, 3), "y": y})
    workspace(leaky.to_csv(index=False))
    code, err = run_ingest_and_clean(capsys)
    assert code == EXIT_USER_ERROR and "status_code (roc_auc 1.0000)" in err and "clean.allow_leaks" in err
    assert not Path("data/clean/train.parquet").exists() and not Path("reports/leakage.json").exists()
    workspace(leaky.to_csv(index=False), clean={"allow_leaks": True})
    assert run_ingest_and_clean(capsys)[0] == 0
    assert json.loads(Path("reports/leakage.json").read_text())["shortcut_columns"] == {"status_code": 1.0}
    workspace(leaky.to_csv(index=False), drop=["status_code"], clean={"allow_leaks": False})
    assert run_ingest_and_clean(capsys)[0] == 0  # dropped on purpose: no longer a feature


def test_the_fast_roc_auc_is_scikit_learns_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(6)
    for _ in range(20):
        positive = rng.random(200) < rng.uniform(0.05, 0.95)
        score = rng.integers(0, rng.integers(2, 50), 200).astype(float)  # many ties
        weights = positive.astype(float), (~positive).astype(float)  # rows of weight one
        assert leakage._auc(score, *weights) == pytest.approx(roc_auc_score(positive, score), abs=1e-12)


def test_a_random_split_of_dated_rows_is_reported_as_mixing_past_and_future():
    rng = np.random.default_rng(7)
    days = np.sort(rng.integers(0, 1000, 300))
    frame = pd.DataFrame({"visit_date": (np.datetime64("2020-01-01") + days).astype(str), "x": rng.normal(size=300)})
    frame["y"] = rng.choice(["no", "yes"], 300)
    mixed = run_checks(frame)["random_split_mixes_time"]["visit_date"]
    assert mixed["holdout_rows"] == 60 and mixed["holdout_rows_older_than_newest_training_row"] > 50
    assert "random_split_mixes_time" in run_checks(frame.drop(columns="visit_date")) and not run_checks(
        frame.drop(columns="visit_date"))["random_split_mixes_time"]  # fmt: skip


def test_class_codes_split_into_the_same_folds_as_the_labels_train_uses():
    from autotab.data.splits import fold_of_each_row, make_folds

    rng = np.random.default_rng(8)
    labels = pd.Series(rng.choice(["zebra", "ant", "moth"], 300, p=[0.5, 0.3, 0.2]))
    codes = pd.Series(pd.factorize(labels, sort=True)[0])
    groups = pd.Series(rng.integers(0, 60, 300))
    for grouped in (False, True):
        folds = make_folds("multiclass", 5, 3, grouped=grouped)
        given = groups if grouped else None
        np.testing.assert_array_equal(fold_of_each_row(folds, labels, given), fold_of_each_row(folds, codes, given))


def test_the_checks_before_the_first_run_drop_the_rare_classes_the_run_will_drop():
    frame = subjects_table().drop(columns="subject_id")
    frame.loc[:3, "y"] = "rare"  # four rows of a third class: the run drops them, and its task is binary
    report = run_checks(frame, task="auto")
    assert report["classes_dropped"] == {"rare": 4} and report["metric"] == "roc_auc"
