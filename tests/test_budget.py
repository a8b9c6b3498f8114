"""The whole-run time budget: the leaderboard stops what would overrun, tune keeps to what is left,
and a budgeted run through DVC still ends in an evaluated, packaged model."""

import json
import os
import re
import resource
import time

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from autotab.data.splits import make_folds
from autotab.errors import UserError
from autotab.estimators.table_cleaner import TableCleaner
from autotab.modeling import leaderboard
from autotab.modeling.budget import Deadline, OutOfTime, worker_pool
from autotab.modeling.features import build_preprocessor
from autotab.modeling.search import (
    MIN_SEARCH_TRIALS,
    Problem,
    check_same_rows,
    ensemble_pool,
    refit,
    searched_families,
    trial_seconds,
)
from autotab.modeling.training import cross_validate_pipeline, whole_pipeline
from tests.support import FEATURES, copy_repository, run


class SlowClassifier(ClassifierMixin, BaseEstimator):
    """A logistic regression that takes `seconds` to fit: a family too expensive for the budget."""

    def __init__(self, seconds: float = 60.0) -> None:
        self.seconds = seconds

    def fit(self, X, y):
        time.sleep(self.seconds)
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


def table(rows: int = 200) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})
    return X, pd.Series(np.where(X["a"] + rng.normal(size=rows) > 0, "yes", "no"))


def test_a_deadline_says_what_would_overrun():
    assert Deadline().left() == float("inf") and not Deadline().bounded
    Deadline.after(100).check("a fit", 10)
    with pytest.raises(OutOfTime, match=r"a fit needs ~50 s, \d+ s of the budget left"):
        Deadline.after(20).check("a fit", 50)


def test_cross_validation_stops_once_its_remaining_folds_would_overrun():
    X, y = table()
    pipeline = whole_pipeline(build_preprocessor(TableCleaner(), FEATURES, "binary", 0), SlowClassifier(1.0))
    start = time.monotonic()
    with pytest.raises(OutOfTime, match="4 more folds needs"):
        cross_validate_pipeline(
            pipeline, X, y, "binary", make_folds("binary", 5, 0), positive="yes", deadline=Deadline.after(3)
        )
    assert time.monotonic() - start < 3  # one fold ran, the projection stopped the rest


def test_the_leaderboard_kills_a_candidate_still_fitting_at_the_deadline_and_lists_it_skipped():
    X, y = table()
    preprocessor = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    candidates = {"logistic_regression": LogisticRegression(), "slow": SlowClassifier(600.0)}
    start = time.monotonic()
    board, passed = leaderboard.rank(
        candidates, preprocessor, X, y, "binary", make_folds("binary", 5, 0), "roc_auc",
        positive="yes", deadline=Deadline.after(8), pool=worker_pool(2, fork=True),
    )  # fmt: skip
    assert time.monotonic() - start < 30  # not the 600 s the slow fit would take
    assert list(passed) == ["logistic_regression"]
    rows = board.set_index("model")
    assert rows.loc["logistic_regression", "status"] == "ok" and rows.loc["logistic_regression", "rank"] == 1
    assert rows.loc["slow", "status"] == "skipped" and "skipped for the budget" in rows.loc["slow", "error"]
    assert "skipped for the budget" in leaderboard.markdown(board, "binary", "roc_auc")


def test_a_budget_too_small_for_every_candidate_still_ranks_the_first_cheap_one_on_all_rows():
    X, y = table()
    preprocessor = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    candidates = {"logistic_regression": LogisticRegression(), "slow": SlowClassifier(600.0)}
    board, passed = leaderboard.rank(
        candidates, preprocessor, X, y, "binary", make_folds("binary", 5, 0), "roc_auc",
        positive="yes", deadline=Deadline.after(0.01), pool=worker_pool(2, fork=True),
    )  # fmt: skip
    assert list(passed) == ["logistic_regression"] and len(passed["logistic_regression"].oof) == len(y)
    rows = board.set_index("model")
    assert rows.loc["logistic_regression", "status"] == "ok" and rows.loc["slow", "status"] == "skipped"


class RowTimedClassifier(SlowClassifier):
    """A logistic regression that takes `seconds` per training row to fit: its cost grows with the rows."""

    def fit(self, X, y):
        time.sleep(self.seconds * len(X))
        self.n_rows_ = len(X)
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        return self


def test_a_budget_too_small_for_every_row_ranks_on_the_largest_sample_every_kept_candidate_finished():
    X, y = table(rows=1600)
    preprocessor = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    # 5 folds of 4/5 of the rows: 1 s on the 100-row screening sample, 4 s on 400 rows, 16 s on 1,600.
    candidates = {
        "logistic_regression": LogisticRegression(), "slow": RowTimedClassifier(0.0025),
        "knn": KNeighborsClassifier(n_neighbors=15), "prior": DummyClassifier(),
        "uniform": DummyClassifier(strategy="uniform", random_state=0),
    }  # fmt: skip
    board, passed = leaderboard.rank(
        candidates, preprocessor, X, y, "binary", make_folds("binary", 5, 0), "roc_auc", positive="yes",
        deadline=Deadline.after(12), pool=worker_pool(2, fork=True), screen_rows=100, screen_keep=0.5, seed=0,
    )  # fmt: skip
    # Every row was projected at 20 s (16 s, a quarter added) and did not start; the largest sample
    # that fitted in the ~11 s left did, for every kept candidate: the same seeded sample of it.
    assert set(passed) == {"logistic_regression", "slow", "knn"}
    climbed = len(passed["slow"].rows)
    assert leaderboard.MIN_GROWTH * 100 <= climbed < 1600 * leaderboard.ALMOST_EVERY_ROW
    sample = leaderboard.screening_sample(y, None, task="binary", rows=climbed, seed=0)
    for result in passed.values():
        np.testing.assert_array_equal(result.rows, sample)
        assert len(result.oof) == climbed
    assert (board.set_index("model").loc[["prior", "uniform"], "status"] == "screened").all()


def test_tune_takes_the_leaderboards_sample_again_from_its_size_alone_whole_groups_included():
    y = pd.Series(np.where(np.arange(5000) % 3 == 0, "yes", "no"))
    groups = pd.Series(np.repeat(np.arange(1000), 5)).sample(frac=1, random_state=0).reset_index(drop=True)
    for grouped in (None, groups):
        sample = leaderboard.screening_sample(y, grouped, task="binary", rows=1234, seed=7)
        again = leaderboard.screening_sample(y, grouped, task="binary", rows=len(sample), seed=7)
        np.testing.assert_array_equal(again, sample)
    assert len(sample) == 1235  # whole groups of 5: more rows than asked for, and the same again


def test_the_climb_takes_the_largest_sample_that_fits_and_tasks_fill_the_workers_in_turn():
    # 10 s on the 2,500-row screening sample: 25 s left affords 6,250 rows.
    assert leaderboard.climb_rows(2500, 800_000, seconds=10.0, left=25.0) == 6250
    assert leaderboard.climb_rows(2500, 800_000, seconds=10.0, left=12.0) is None  # not twice the sample
    assert leaderboard.climb_rows(2500, 10_000, seconds=10.0, left=40.0) == 10_000  # every row fits
    assert leaderboard.climb_rows(2500, 10_000, seconds=10.0, left=38.0) == 9000  # a sample leaves rows out
    assert leaderboard.climb_rows(2500, 10_000, seconds=0.0, left=1.0) == 10_000
    assert leaderboard.climb_rows(2500, 5400, seconds=10.0, left=21.0) == 4860  # twice affordable, 90% taken
    assert leaderboard.makespan([4.0, 4.0, 4.0], 2) == 8.0 and leaderboard.makespan([6.0, 1.0, 1.0], 2) == 6.0


class FailsOnManyRows(RowTimedClassifier):
    """A logistic regression that cannot fit more than 200 rows (as a family out of memory would)."""

    def fit(self, X, y):
        if len(X) > 200:
            raise MemoryError("too many rows")
        return super().fit(X, y)


def test_a_climb_every_candidate_fails_on_leaves_the_screening_round_to_rank_them():
    X, y = table(rows=1600)
    preprocessor = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    candidates = {
        **{f"fragile_{n}": FailsOnManyRows(0.0) for n in range(3)},
        "prior": DummyClassifier(), "uniform": DummyClassifier(strategy="uniform", random_state=0),
    }  # fmt: skip
    _, passed = leaderboard.rank(
        candidates, preprocessor, X, y, "binary", make_folds("binary", 5, 0), "roc_auc", positive="yes",
        deadline=Deadline.after(60), pool=worker_pool(2, fork=True), screen_rows=100, screen_keep=0.5, seed=0,
    )  # fmt: skip
    sample = leaderboard.screening_sample(y, None, task="binary", rows=100, seed=0)
    assert set(passed) == {"fragile_0", "fragile_1", "fragile_2"}
    assert all(len(r.oof) == 100 and np.array_equal(r.rows, sample) for r in passed.values())


def test_a_budget_that_affords_every_row_climbs_to_them():
    X, y = table(rows=1600)
    preprocessor = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    candidates = {name: LogisticRegression(C=c) for name, c in (("a", 1.0), ("b", 0.1), ("c", 0.01), ("d", 10.0))}
    _, passed = leaderboard.rank(
        candidates, preprocessor, X, y, "binary", make_folds("binary", 5, 0), "roc_auc", positive="yes",
        deadline=Deadline.after(120), pool=worker_pool(2, fork=True), screen_rows=100, screen_keep=0.5, seed=0,
    )  # fmt: skip
    assert len(passed) == 3 and all(result.rows is None and len(result.oof) == 1600 for result in passed.values())


def test_a_budgeted_refit_takes_every_row_it_can_afford_and_at_least_the_selection_sample():
    X, y = table(rows=1000)
    recipe = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    problem = Problem(X, y, "binary", "roc_auc", make_folds("binary", 5, 0), recipe, 0, positive="yes")
    selection = problem.sample(200)
    model = whole_pipeline(recipe, RowTimedClassifier(0.005))  # 1 s on the 200 rows, 5 s on all of them

    def fitted_rows() -> int:
        return model.named_steps["model"].n_rows_

    # No budget, or a budget with room: every row.
    assert refit(model, problem, selection) == 1000 == fitted_rows()
    assert refit(model, problem, selection, Deadline.after(60)) == 1000 == fitted_rows()
    # 4 s left: timed on the 200 rows (1 s), then the largest sample 80% of the other 3 s affords.
    rows = refit(model, problem, selection, Deadline.after(4))
    assert 300 < rows < 700 and fitted_rows() == rows and model.predict_proba(X.iloc[:5]).shape == (5, 2)
    # No time left at all: the model fitted on the selection's sample stands.
    assert refit(model, problem, selection, Deadline.after(0.5)) == 200 == fitted_rows()


def test_a_budgeted_ensemble_pool_counts_the_singles_refit_first_and_passes_over_what_does_not_fit():
    refits = {"a": 10.0, "b": 30.0, "c": 5.0, "d": 8.0}  # the leaderboard's order, best first
    # The single's refit comes first; b does not fit beside it, cheaper d after it still does.
    assert ensemble_pool(refits, 25.0, single="c", single_is_default=True) == ["c", "a", "d"]
    # A single that alone takes the time leaves no room: no blend to refit beside it.
    assert ensemble_pool(refits, 25.0, single="b", single_is_default=True) == ["b"]
    assert ensemble_pool(refits, 25.0, single="b", single_is_default=False) == []
    # A tuned single costs its family's defaults' refit, and those defaults are another member.
    assert ensemble_pool(refits, 25.0, single="a", single_is_default=False) == ["a", "c"]


def test_a_trial_is_timed_by_its_families_defaults_on_the_rows_and_cores_the_search_has():
    X, y = table(rows=300)
    recipe = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    problem = Problem(X, y, "binary", "roc_auc", make_folds("binary", 5, 0), recipe, 0, positive="yes", n_jobs=2)
    # 5 folds, 2 at a time: 3 rounds of a fold's mean fit + predict; on a sample of 150 of the 300 rows, half that.
    costs = trial_seconds({"lr": 0.8, "rf": 5.0}, {"lr": 0.2}, problem=problem, screen_rows=150)
    assert costs == pytest.approx({"lr": 0.3, "rf": 1.5})
    assert trial_seconds({"lr": 0.8}, {}, problem=problem, screen_rows=None) == pytest.approx({"lr": 0.48})


def test_a_budgeted_search_takes_the_best_families_whose_trials_fit_together():
    costs = {"catboost": 6.0, "lr": 0.3, "rf": 1.5, "xgb": 0.5}  # knn: unknown, free
    seconds = MIN_SEARCH_TRIALS * 2.0  # ten trials of each of the taken families in 20 s
    ranked = ["catboost", "rf", "lr", "knn", "xgb"]  # best first
    # catboost alone would take 60 s; rf (15 s) and lr (3 s) fit together, and knn costs nothing.
    assert searched_families(ranked, keep=3, trial_s=costs, seconds=seconds) == (["rf", "lr", "knn"], ["catboost"])
    # Together: rf and lr take 18 s, so xgb (5 s more) is passed over for knn, ranked before it.
    assert searched_families(ranked, keep=4, trial_s=costs, seconds=seconds) == (
        ["rf", "lr", "knn"],
        ["catboost", "xgb"],
    )
    # A family dropped for its cost below the last one taken is named too: keep 3 and only two fit.
    assert searched_families(["lr", "rf", "catboost"], keep=3, trial_s=costs, seconds=seconds) == (
        ["lr", "rf"],
        ["catboost"],
    )
    assert searched_families(ranked, keep=3, trial_s=costs, seconds=1e6) == (["catboost", "rf", "lr"], [])
    # None fits: the cheapest of the best three, alone, so that the search runs what it can.
    assert searched_families(["catboost", "rf", "xgb"], keep=2, trial_s=costs, seconds=1.0) == (["rf"], ["catboost"])


def test_tune_refuses_out_of_fold_predictions_of_other_rows_than_it_chooses_on():
    X, y = table(rows=300)
    recipe = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    problem = Problem(X, y, "binary", "roc_auc", make_folds("binary", 5, 0), recipe, 0, positive="yes")
    check_same_rows(pd.DataFrame({"target": problem.scored_y}), problem)
    selection = problem.sample(200)
    with pytest.raises(UserError, match=r"300 rows\) are not of the 200 rows .* \(`dvc repro train`\)"):
        check_same_rows(pd.DataFrame({"target": problem.scored_y}), selection)
    shuffled = problem.scored_y.sample(frac=1, random_state=0).reset_index(drop=True)
    with pytest.raises(UserError, match="stale"):
        check_same_rows(pd.DataFrame({"target": shuffled}), problem)
    prices = pd.Series(np.linspace(1e5, 2e5, 300) + 1e-9)  # a regression target, rounded when written
    regression = Problem(X, prices, "regression", "rmse", make_folds("regression", 5, 0), recipe, 0)
    check_same_rows(pd.DataFrame({"target": regression.scored_y.round(8)}), regression)


def children_cpu_seconds() -> float:
    """The CPU seconds of this process' finished child processes, theirs included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def generated_table(rows: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(16)})
    frame["region"] = rng.choice(["north", "south", "east", "west"], rows)
    frame["plan"] = rng.choice(["basic", "plus", "pro"], rows)
    frame.loc[rng.random(rows) < 0.05, "x3"] = np.nan
    signal = frame["x0"] - 0.5 * frame["x1"] * frame["x2"] + (frame["region"] == "north") + rng.normal(size=rows)
    frame["churned"] = np.where(signal > 0.5, "yes", "no")
    return frame


@pytest.mark.slow
def test_a_budgeted_run_keeps_to_its_budget_and_still_serves_a_model(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    copy_repository(repo)
    generated_table().to_csv(tmp_path / "churn.csv", index=False)
    run(["autotab", "add-data", str(tmp_path / "churn.csv"), "--target", "churned"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "churn"], repo)
    budget = 20
    # Screening on 300 of the 2,400 training rows: the kept candidates climb to the largest sample the
    # budget allows, or every row (`leaderboard.climb`), and tune selects on the rows they reached.
    # 200 trials would search for minutes: the budget, not the trial count, ends the search.
    overrides = ["-S", "data=churn", "-S", f"budget_s={budget}", "-S", "train.screen_rows=300"]
    run(["dvc", "exp", "run", *overrides, "-S", "tune.n_trials=200", "features"], repo)
    start, cpu_before = time.monotonic(), children_cpu_seconds()
    trained = run(["dvc", "repro", "--single-item", "train"], repo)
    train_s = time.monotonic() - start
    tuned = run(["dvc", "repro", "--single-item", "tune"], repo)
    elapsed, cpu = time.monotonic() - start, children_cpu_seconds() - cpu_before
    # A bound, not a benchmark (bench/ measures the budget). The CPU seconds train and tune spent,
    # their worker processes' included, are what a run past its budget would raise, and they do not
    # grow with other work on a shared machine, as wall seconds do: CI ran this test beside the
    # other tests' pipelines and measured 139 s of wall time, and six CPU-bound processes beside it
    # here take it from 20 s to 60 s. Measured here: 21 CPU s with the budget, 113 without it (its
    # 200 trials); the bound is one and a half times what the budget's seconds give the cores
    # (process starts, DVC and the final fit come on top). The wall bound only catches a hang.
    where = "\n".join(stage.stdout + stage.stderr for stage in (trained, tuned))
    cores = len(os.sched_getaffinity(0))
    assert cpu < 1.5 * budget * cores, f"train and tune spent {cpu:.0f} CPU s on a {budget} s budget:\n{where}"
    assert elapsed < 10 * budget, f"train and tune took {elapsed:.0f} s (train {train_s:.0f} s):\n{where}"
    assert f"of budget_s={budget} used" in trained.stdout
    assert f"tune: budget_s={budget}: train" in tuned.stdout
    summary = json.loads((repo / "reports/tuning/summary.json").read_text())
    assert "recheck_repeats" in summary and "search_judged" in summary and summary["n_trials"] < 200
    # The families searched are leaderboard families; those passed over for their cost are named.
    ok = set(pd.read_csv(repo / "reports/leaderboard.csv").query("status == 'ok'")["model"])
    assert summary["searched_families"] and set(summary["searched_families"] + summary["passed_over"]) <= ok
    assert ("passed over" in tuned.stdout) == bool(summary["passed_over"])
    cv = json.loads((repo / "reports/cv.json").read_text())
    assert cv["budget_spent_s"] < budget and cv["models_ok"] >= 1
    assert set(cv["fit_seconds"]) == set(pd.read_csv(repo / "reports/leaderboard.csv").query("status == 'ok'")["model"])
    # Ranked on a sample or on every row, the leaderboard's out-of-fold rows are the ones tune chose on.
    training_rows = len(pd.read_parquet(repo / "data/clean/train.parquet"))
    ranked = cv.get("ranked_rows", training_rows)
    climbed = leaderboard.MIN_GROWTH * 300 <= ranked <= leaderboard.ALMOST_EVERY_ROW * training_rows
    assert (ranked in (300, training_rows) or climbed) and len(pd.read_parquet(repo / "models/oof.parquet")) == ranked
    assert summary.get("selection_rows", training_rows) == ranked
    assert ("ranked on a seeded sample" in trained.stdout) == (ranked < training_rows)
    run(["dvc", "repro"], repo)  # evaluate and package: an evaluated, served model
    # The model card says when the choice or the fit was made on a sample of the training rows.
    card = (repo / "reports/model_card.md").read_text()
    chosen_on, fitted_on = (re.search(rf"{row}\s*\|\s*a seeded sample of", card) for row in ("chosen on", "fitted on"))
    assert bool(chosen_on) == ("selection_rows" in summary)
    assert bool(fitted_on) == (summary.get("refit_rows", training_rows) < training_rows)
    assert json.loads((repo / "reports/metrics.json").read_text())["roc_auc"] > 0.7
    assert joblib.load(repo / "models/served.joblib").predict(generated_table(5).drop(columns="churned")).shape == (5,)
