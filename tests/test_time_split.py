"""`data.split: time`: the holdout is the latest rows, the folds chain forward, and everything that
reads out-of-fold predictions (leaderboard, search, ensemble, threshold, quality gate) uses the rows
those folds score."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from autotab.config import DataConfig, FeaturesConfig, TuneConfig, load_config
from autotab.data.splits import ForwardChaining, make_folds, scored_rows, split_rows, time_column_of, time_order
from autotab.errors import UserError
from autotab.estimators.table_cleaner import TableCleaner
from autotab.modeling import leaderboard
from autotab.modeling.features import build_preprocessor
from autotab.modeling.search import Problem, search
from autotab.modeling.training import baseline_oof, cross_validate_pipeline
from autotab.modeling.zoo import build_estimator
from tests.conftest import REPO

DATA = {"name": "t", "path": "t.csv", "target": "y", "test_size": 0.2, "seed": 0}


def dated_table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Rows in shuffled order, several per day, a few undated; the target follows x."""
    rng = np.random.default_rng(seed)
    days = rng.integers(0, n // 4, n)  # about four rows per day: ties at every cut
    frame = pd.DataFrame({
        "visit_date": (np.datetime64("2021-03-01") + days).astype(str),
        "x": rng.normal(size=n), "colour": rng.choice(["red", "blue"], n),
    })  # fmt: skip
    frame.loc[rng.choice(n, 5, replace=False), "visit_date"] = None
    frame["y"] = np.where(frame["x"] + rng.normal(scale=0.7, size=n) > 0, "yes", "no")
    return frame


def test_the_holdout_is_every_row_from_the_cut_time_on_and_undated_rows_train():
    frame = dated_table()
    train, test = split_rows(frame, "y", "binary", 0.2, 0, time_column="visit_date")
    assert len(train) + len(test) == len(frame) and abs(len(test) - 80) <= 8  # a day is never cut in two
    assert time_order(train["visit_date"]).max() < time_order(test["visit_date"]).min()
    assert train["visit_date"].isna().sum() == 5 and test["visit_date"].notna().all()
    again = split_rows(frame.sample(frac=1, random_state=3), "y", "binary", 0.2, 9, time_column="visit_date")[1]
    assert sorted(again["visit_date"]) == sorted(test["visit_date"])  # the rows' order and the seed do not matter


def test_forward_chaining_folds_score_each_block_with_a_model_of_its_past_only():
    frame = dated_table()
    folds = make_folds("binary", 4, 0, time_column="visit_date")
    splits = list(folds.split(frame))
    key = time_order(frame["visit_date"])
    assert len(splits) == folds.get_n_splits() == 4
    for fold, (train_rows, test_rows) in enumerate(splits):
        assert key[train_rows].max() < key[test_rows].min()  # no fold trains on its future, or on its own day
        assert set(train_rows) == set(np.flatnonzero(key < key[test_rows].min()))  # the whole past: expanding
        if fold:
            assert key[test_rows].min() > key[splits[fold - 1][1]].max()
    scored = scored_rows(splits, len(frame))
    assert 0.75 * len(frame) <= len(scored) <= 0.85 * len(frame)  # the oldest fifth is only ever trained on
    assert np.isinf(key[np.setdiff1d(np.arange(len(frame)), scored)]).sum() == 5  # with the undated rows
    sample = frame.sample(120, random_state=1)  # a screening sample gets folds of its own rows
    assert all(len(test) for _, test in folds.split(sample))
    assert np.array_equal(scored_rows([(np.array([0]), np.array([1, 2])), (np.array([1]), np.array([0]))], 3),
                          np.arange(3))  # fmt: skip


def test_too_few_distinct_times_for_the_folds_is_a_clear_error():
    frame = pd.DataFrame({"year": [2020] * 50 + [2021] * 50, "y": ["a", "b"] * 50})
    with pytest.raises(UserError, match="cannot chain 5 folds forward in time on 100 rows with 2 distinct times"):
        list(ForwardChaining(5, "year").split(frame))
    with pytest.raises(UserError, match="hold only the class 'b'"):
        split_rows(pd.DataFrame({"t": range(10), "y": ["a"] * 8 + ["b"] * 2}), "y", "binary", 0.2, 0, time_column="t")


def test_a_time_split_the_rows_cannot_score_is_one_clear_line():
    undated = pd.DataFrame({"t": [None] * 90 + list(range(10)), "y": ["a", "b"] * 50})
    train, test = split_rows(undated, "y", "binary", 0.2, 0, time_column="t")
    assert len(test) == 2 and train["t"].isna().sum() == 90  # a share of the dated rows, the undated train
    with pytest.raises(UserError, match="too few to hold out"):
        split_rows(undated, "y", "binary", 0.04, 0, time_column="t")  # 4% of 10 dated rows: none
    late = pd.DataFrame({"t": range(100), "y": ["a"] * 80 + ["a", "b"] * 10})  # "b" only in the latest rows
    with pytest.raises(UserError, match=r"the training rows lack classes .* \(b\)"):
        split_rows(late, "y", "binary", 0.2, 0, time_column="t")
    quiet = pd.DataFrame({"t": range(100), "y": (["a", "b"] * 10 + ["a"] * 20) * 2 + ["a", "b"] * 10})
    with pytest.raises(UserError, match="each block of a classifier's folds must hold two classes"):
        list(make_folds("binary", 4, 0, time_column="t").split(quiet, quiet["y"]))  # a block of "a" alone
    assert len(list(make_folds("regression", 4, 0, time_column="t").split(quiet, quiet["t"]))) == 4


def test_the_oldest_block_grows_until_it_holds_two_classes():
    """A classifier cannot be fitted on one class: the first fold's past must hold two."""
    y = np.array(["a"] * 60 + ["a", "b"] * 20)  # the first 60 of 100 rows in time are all "a"
    frame = pd.DataFrame({"t": np.arange(100)[::-1], "y": y[::-1]})  # newest first: the order does not matter
    splits = list(ForwardChaining(4, "t").split(frame, frame["y"]))
    assert len(splits) == 4 and all(frame["y"].iloc[train].nunique() == 2 for train, _ in splits)
    assert min(frame["t"].iloc[splits[0][1]]) == 62  # just after the first "b" (t=61)
    assert len(next(ForwardChaining(4, "t").split(frame))[0]) == 20  # without a target: five equal blocks


def test_the_time_column_is_named_or_the_only_date_column():
    frame = dated_table()
    timed = DataConfig(**DATA, split="time")
    assert time_column_of(frame, timed) == "visit_date"
    assert time_column_of(frame, DataConfig(**DATA)) is None
    with pytest.raises(UserError, match="no column of dates; name it in data.time_column"):
        time_column_of(frame.drop(columns="visit_date"), timed)
    with pytest.raises(UserError, match=r"2 date columns \(visit_date, sent\)"):
        time_column_of(frame.assign(sent=frame["visit_date"]), timed)
    frame["year"] = 2000 + np.arange(len(frame)) // 40  # a number orders rows too, when named
    assert time_column_of(frame, DataConfig(**DATA, split="time", time_column="year")) == "year"
    with pytest.raises(UserError, match="data.time_column: 'when' is not a column"):
        time_column_of(frame, DataConfig(**DATA, split="time", time_column="when"))


def test_the_config_refuses_a_time_split_with_groups_and_keeps_old_fingerprints():
    with pytest.raises(ValidationError, match="choose one"):
        DataConfig(**DATA, split="time", group="subject")
    with pytest.raises(ValidationError, match="time_column: when is used only with split: time"):
        DataConfig(**DATA, time_column="when")
    # The built-in contract's fingerprint was taken before these keys existed.
    assert "split" not in DataConfig(**DATA).fingerprinted()
    assert DataConfig(**DATA, split="time").fingerprinted()["split"] == "time"


@pytest.fixture(scope="module")
def timed_problem():
    frame = dated_table(300, seed=2)
    X, y = frame.drop(columns="y"), frame["y"]
    features = FeaturesConfig(
        numeric_imputer="median", missing_indicator=False, scaler="standard", categorical_imputer="most_frequent"
    )
    recipe = build_preprocessor(TableCleaner(), features, "binary", 0)
    folds = make_folds("binary", 4, 0, time_column="visit_date")
    return Problem(X, y, "binary", "log_loss", folds, recipe, 0, positive="yes", feature_settings=features.model_dump())


def test_out_of_fold_predictions_cover_the_scored_rows_in_order(timed_problem):
    p = timed_problem
    scored = scored_rows(p.fold_rows, len(p.y))
    zoo = load_config(REPO / "params.yaml").zoo
    result = cross_validate_pipeline(
        p.pipeline(zoo["logistic_regression"], {}, {}), p.X, p.y, "binary", p.folds, positive="yes"
    )
    assert result.oof.shape == (len(scored), 2) and np.allclose(result.oof.sum(axis=1), 1)
    assert p.scored_y.tolist() == p.y.iloc[scored].tolist()
    assert ((result.oof[:, 1] > 0.5) == (p.scored_y == "yes")).mean() > 0.75  # row i of the OOF is scored row i
    priors = baseline_oof(p.X, p.y, "binary", p.folds, None)
    assert priors.shape == result.oof.shape
    for train_rows, test_rows in p.fold_rows:  # each fold's rows get the prior of that fold's past
        assert np.allclose(priors[np.searchsorted(scored, test_rows), 1], (p.y.iloc[train_rows] == "yes").mean())
    assert not p.reshuffles and replace(p, folds=make_folds("binary", 4, 0)).reshuffles


def test_the_search_ensemble_and_threshold_run_on_the_scored_rows(timed_problem):
    p = timed_problem
    zoo = load_config(REPO / "params.yaml").zoo
    families = ["logistic_regression", "knn", "random_forest"]
    candidates = {name: build_estimator(zoo[name], "binary", 0) for name in families}
    board, results = leaderboard.rank(
        candidates, p.preprocessor, p.X, p.y, "binary", p.folds, "log_loss", positive="yes"
    )
    oof = leaderboard.oof_frame(results, p.scored_y)
    assert len(oof) == len(p.scored_y) < len(p.y)
    tune = TuneConfig(n_trials=3, top_families=2, storage=None, pruner="none", recheck_repeats=2)
    outcome = search(p, {n: zoo[n] for n in families[:2]}, zoo.__getitem__, board, oof, tune, "time")
    assert len(outcome.oof) == len(p.scored_y)
    # Judged on the forward folds themselves (fresh folds would be the same ones), then a blend.
    assert [step["step"] for step in outcome.summary["selection"]] == ["search", "ensemble", "calibration"]
    model, threshold = outcome.servable(p)
    assert 0 < threshold < 1
    latest = model.fit(p.X, p.y).predict_proba(p.X)
    assert latest.shape == (len(p.y), 2)
