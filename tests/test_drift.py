"""Drift of new data from the training data: the reference profile the contract keeps, and the
comparison `autotab drift` writes (the command itself runs in test_end_to_end)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autotab.data.contract import DataContract, build_contract
from autotab.data.profile import MAX_LEVELS, OTHER, bin_codes, column_profile, psi, reference_shares, shares_of
from autotab.estimators.table_cleaner import TableCleaner
from autotab.reporting import drift

TARGET = {"target": "y", "task": "binary", "task_reason": "two classes", "classes": ["no", "yes"],
          "positive_label": "yes"}  # fmt: skip


def table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "age": rng.normal(50, 10, rows).round(1), "dose": rng.exponential(2.0, rows).round(3),
        "ward": rng.choice(["north", "south", "east"], rows, p=[0.5, 0.3, 0.2]),
    })  # fmt: skip
    frame.loc[rng.random(rows) < 0.05, "dose"] = np.nan
    return frame


@pytest.fixture(scope="module")
def trained() -> tuple[TableCleaner, DataContract, pd.DataFrame]:
    training = table(2000, seed=0)
    cleaner = TableCleaner().fit(training)
    return cleaner, build_contract(cleaner, cleaner.transform(training), TARGET, "f"), training


def compared(trained, frame: pd.DataFrame) -> dict:
    cleaner, contract, _ = trained
    return drift.compare(cleaner.transform(frame), contract, psi_alert=0.2, sources=cleaner.sources())


def test_the_psi_is_zero_for_the_same_shares_and_grows_with_the_shift():
    shares = np.array([0.25, 0.25, 0.5])
    assert psi(shares, shares) == 0
    assert psi(shares, np.array([0.5, 0.25, 0.25])) == pytest.approx(2 * 0.25 * np.log(2))
    assert psi(shares, np.array([0.0, 0.5, 0.5])) > 1  # a bin emptied: large, and finite


def test_the_profile_keeps_deciles_levels_and_missing_shares():
    numbers = column_profile(pd.Series(np.r_[np.arange(1000.0), [np.nan] * 10]))
    assert numbers.rows == 1010 and numbers.missing == pytest.approx(10 / 1010, abs=1e-6)
    assert len(numbers.edges) == 9 and numbers.shares == pytest.approx((0.1,) * 10, abs=0.002)
    few = column_profile(pd.Series([1.0, 1, 1, 1, 2, 2, 3]))  # repeated values: fewer bins, none empty
    assert few.edges == (1.0, 2.0) and few.shares == pytest.approx((4 / 7, 2 / 7, 1 / 7), abs=1e-6)
    levels = column_profile(pd.Series([f"l{i:03d}" for i in range(MAX_LEVELS + 10)] + ["l000"] * 5))
    assert len(levels.levels) == MAX_LEVELS + 1 and levels.levels[OTHER] == pytest.approx(10 / 65, abs=1e-6)
    assert next(iter(levels.levels)) == "l000"  # the most frequent first


def test_a_resample_of_the_training_rows_has_not_drifted(trained):
    _, _, training = trained
    report = compared(trained, training.sample(frac=1, replace=True, random_state=1))
    assert report["drifted"] == [] and report["reference_rows"] == 2000
    assert all(result["psi"] < 0.05 and result["p_value"] > 0.01 for result in report["columns"].values())


def test_a_shifted_copy_is_flagged_column_by_column(trained):
    shifted = table(1000, seed=2)
    shifted["age"] += 15  # older patients
    shifted.loc[:399, "ward"] = "west"  # a ward never seen in training
    shifted.loc[500:, "dose"] = np.nan  # half the doses missing
    report = compared(trained, shifted)
    assert set(report["drifted"]) == {"age", "ward", "dose"}
    age, ward, dose = (report["columns"][name] for name in ("age", "ward", "dose"))
    assert age["psi"] > 1 and age["p_value"] < 1e-6 and 0.05 < age["out_of_range_share"] < 0.5
    assert ward["unseen_share"] == pytest.approx(0.4) and ward["source"] == "ward"
    assert dose["missing_share_change"] > 0.4 and dose["out_of_range_share"] == 0
    psis = [result["psi"] for result in report["columns"].values()]
    assert psis == sorted(psis, reverse=True)  # the largest shift first
    page = drift.page(report, "new.csv")
    assert "3 of 3 columns drifted" in page and "<script" not in page and "http" not in page


def test_the_services_window_gives_the_psi_of_its_last_records_and_stays_bounded(trained):
    from autotab.serving.drift_window import DriftWindow

    cleaner, contract, _ = trained
    window = DriftWindow(contract.cleaned, size=300)
    stream = cleaner.transform(pd.concat([table(500, seed=3), table(500, seed=4).assign(age=lambda f: f.age + 15)]))
    assert window.add(stream.iloc[:299]) is None  # not full yet: nothing to export
    for start in range(299, len(stream), 37):  # requests of 37 records, the oldest dropping out
        psi_now = window.add(stream.iloc[start : start + 37])
    last = stream.iloc[-300:]
    for column in contract.cleaned:
        reference = reference_shares(column.profile)
        expected = psi(reference, shares_of(bin_codes(last[column.name], column.profile), len(reference)))
        assert psi_now[column.name] == pytest.approx(expected, abs=1e-9), column.name
    assert psi_now["age"] > 1 and window.ring.shape == (300, 3) and window.counts.sum() == 300 * 3
