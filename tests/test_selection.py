"""Stepping up from the linear anchor only when it clearly pays: the rule itself, and the whole
search (leaderboard, study, recheck, ensemble) on tables where the answer is known."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autotab.config import TuneConfig, load_config
from autotab.data.splits import make_folds
from autotab.estimators.table_cleaner import TableCleaner
from autotab.modeling import leaderboard
from autotab.modeling.budget import Deadline
from autotab.modeling.features import build_preprocessor
from autotab.modeling.search import Outcome, Problem, search
from autotab.modeling.selection import Referee
from autotab.modeling.zoo import build_estimator
from tests.support import FEATURES

ROOT = Path(__file__).resolve().parents[1]
CLASSES = np.array(["no", "yes"])
FAMILIES = ["logistic_regression", "random_forest", "knn", "hist_gradient_boosting"]


def referee(y: pd.Series, min_gain_se: float = 1.0) -> Referee:
    return Referee(y, "binary", "roc_auc", CLASSES, "yes", min_gain_se, 200, 0)


def probabilities(p_yes: np.ndarray) -> np.ndarray:
    return np.column_stack([1 - p_yes, p_yes])


def noisy_scores(rng, y: pd.Series, noise: float) -> np.ndarray:
    return probabilities(1 / (1 + np.exp(-((y == "yes") * 2.0 - 1 + rng.normal(scale=noise, size=len(y))))))


def test_a_challenger_identical_to_the_incumbent_gains_nothing_and_does_not_replace_it():
    rng = np.random.default_rng(0)
    y = pd.Series(rng.choice(CLASSES, 300))
    same = noisy_scores(rng, y, 1.0)
    step = referee(y).judge("defaults", "a", "b", [same], [same.copy()])
    assert (step.gain, step.se, step.threshold, step.replaced) == (0, 0, 0, False)


def test_a_clearly_better_challenger_replaces_the_incumbent_and_a_jittered_copy_does_not():
    rng = np.random.default_rng(1)
    y = pd.Series(rng.choice(CLASSES, 300))
    incumbent = noisy_scores(rng, y, 1.5)
    clearly = referee(y).judge("defaults", "a", "b", [noisy_scores(rng, y, 0.5)], [incumbent])
    assert clearly.gain > 5 * clearly.se > 0 and clearly.replaced
    # The incumbent's scores with noise of their own: no better in truth, so never taken.
    p_yes = np.clip(incumbent[:, 1] + rng.normal(scale=0.05, size=len(y)), 0.001, 0.999)
    jittered = referee(y).judge("defaults", "a", "b", [probabilities(p_yes)], [incumbent])
    assert jittered.gain < jittered.threshold and not jittered.replaced


def test_the_bootstrap_is_seeded_and_averages_the_gain_over_fresh_splits():
    rng = np.random.default_rng(2)
    y = pd.Series(rng.choice(CLASSES, 200))
    challengers = [noisy_scores(rng, y, 0.8), noisy_scores(rng, y, 0.9)]
    incumbents = [noisy_scores(rng, y, 1.0), noisy_scores(rng, y, 1.1)]
    first = referee(y).paired_gain(challengers, incumbents)
    assert first == referee(y).paired_gain(challengers, incumbents)
    singles = [referee(y).score(c) - referee(y).score(i) for c, i in zip(challengers, incumbents, strict=True)]
    assert first[0] == pytest.approx(np.mean(singles), abs=1e-6)


ZOO = load_config(ROOT / "params.yaml").zoo


def make_problem(X: pd.DataFrame, y: pd.Series) -> Problem:
    recipe = build_preprocessor(TableCleaner(), FEATURES, "binary", 0)
    folds = make_folds("binary", 5, 0)
    return Problem(X, y, "binary", "roc_auc", folds, recipe, 0, positive="yes", feature_settings=FEATURES.model_dump())


def run_search(
    X: pd.DataFrame,
    y: pd.Series,
    families: list[str],
    n_trials: int,
    pinned: str | None = None,
    screen_rows=None,
    **budget,
) -> Outcome:
    """The tune stage's search end to end on a table in memory: the leaderboard of `families`'
    defaults, then the study over the top two (or the pinned family), the recheck and the ensemble."""
    problem = make_problem(X, y)
    candidates = {name: build_estimator(ZOO[name], "binary", 0) for name in families}
    board, results = leaderboard.rank(
        candidates, problem.preprocessor, X, y, "binary", problem.folds, "roc_auc", positive="yes"
    )
    oof = leaderboard.oof_frame(results, y)
    if pinned:
        board = board[board["model"] == pinned].reset_index(drop=True)
    searched = [pinned] if pinned else list(board["model"][:2])
    tune = TuneConfig(n_trials=n_trials, top_families=2, storage=None, pruner="none")  # the default min_gain_se
    families = {n: ZOO[n] for n in searched}
    return search(problem, families, ZOO.__getitem__, board, oof, tune, "test", screen_rows=screen_rows, **budget)


def linear_table(rows: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(5)
    X = pd.DataFrame(rng.normal(size=(rows, 6)), columns=[f"x{i}" for i in range(6)])
    logit = X["x0"] - 0.8 * X["x1"] + 0.5 * X["x2"]
    return X, pd.Series(np.where(rng.random(rows) < 1 / (1 + np.exp(-2 * logit)), "yes", "no"), name="target")


def test_on_a_few_rows_with_a_linear_truth_the_linear_anchor_is_kept():
    X, y = linear_table(150)
    outcome = run_search(X, y, FAMILIES, n_trials=8)
    steps = {step["step"]: step for step in outcome.summary["selection"]}
    assert outcome.summary["anchor"] == "logistic_regression"
    assert outcome.single == "logistic_regression" and outcome.weights == {"logistic_regression": 1}
    assert not any(step["replaced"] for step in steps.values())
    for name, step in steps.items():
        # The ensemble is judged cross-fitted (no optimism of its own choice left): any gain would count.
        bar = 0.0 if name == "ensemble" else 2 * step["se"]
        assert step["threshold"] == pytest.approx(bar, abs=1e-6) and step["gain"] <= step["threshold"]


def test_with_a_strong_interaction_and_many_rows_a_tree_family_replaces_the_anchor():
    rng = np.random.default_rng(6)
    X = pd.DataFrame(rng.uniform(-1, 1, size=(1200, 3)), columns=["a", "b", "c"])
    y = pd.Series(np.where(X["a"] * X["b"] > 0, "yes", "no"), name="target")  # no linear signal at all
    outcome = run_search(X, y, ["logistic_regression", "random_forest"], n_trials=4)
    first = outcome.summary["selection"][0]
    assert (first["step"], first["incumbent"], first["replaced"]) == ("defaults", "logistic_regression", True)
    assert first["gain"] > first["threshold"] > 0
    assert outcome.summary["default_chosen"] == "random_forest"
    assert "logistic_regression" not in outcome.single


def test_on_a_table_over_screen_rows_the_trials_see_the_screening_sample_and_the_choice_every_row():
    rng = np.random.default_rng(6)
    X = pd.DataFrame(rng.uniform(-1, 1, size=(1200, 3)), columns=["a", "b", "c"])
    y = pd.Series(np.where(X["a"] * X["b"] + rng.normal(scale=0.3, size=1200) > 0, "yes", "no"), name="target")
    outcome = run_search(X, y, ["logistic_regression", "knn"], n_trials=3, screen_rows=300)
    assert outcome.summary["search_rows"] == 300
    # The logistic regression defaults' trial is scored on the sample's folds, not on every row's.
    trial = next(t for t in outcome.study.trials if t.params["family"] == "logistic_regression")
    sample = make_problem(X, y).sample(300)
    on_sample = sample.cross_validate(ZOO["logistic_regression"], {}, {}).summary["roc_auc"]["mean"]
    on_every_row = make_problem(X, y).cross_validate(ZOO["logistic_regression"], {}, {}).summary["roc_auc"]["mean"]
    assert trial.value == pytest.approx(on_sample, abs=1e-6) and abs(on_sample - on_every_row) > 1e-3
    assert (sample.y == "yes").sum() == pytest.approx(300 * (y == "yes").mean(), abs=1)  # stratified
    # What is served is judged on every row: its out-of-fold predictions cover them all.
    assert outcome.oof.shape[0] == 1200
    assert make_problem(X, y).sample(None).y is y and make_problem(X, y).sample(5000).y is y


def test_a_pinned_family_is_judged_against_its_own_defaults_only():
    X, y = linear_table(150)
    outcome = run_search(X, y, FAMILIES, n_trials=6, pinned="knn")
    assert outcome.summary["anchor"] == "knn" == outcome.single
    assert [step["step"] for step in outcome.summary["selection"]][0] == "search"
    assert set(outcome.weights) <= {"knn", "default_knn", "tuned_knn"}


def test_a_best_trial_that_is_the_incumbents_own_configuration_is_not_cross_validated_again(monkeypatch):
    """The search starts from the defaults; when they stay its best trial, their fresh folds would be
    the incumbent's to the bit: a gain of exactly nothing, judged without fitting them (a ROC AUC
    run does not calibrate, the one other use of fresh folds)."""
    rechecked = []
    fresh_oof = Problem.fresh_oof

    def recorded(self, family, params, features, repeats):
        rechecked.append((family.name, params))
        return fresh_oof(self, family, params, features, repeats)

    monkeypatch.setattr(Problem, "fresh_oof", recorded)
    X, y = linear_table(150)
    outcome = run_search(X, y, ["logistic_regression", "knn"], n_trials=1, pinned="knn")
    (trial,) = outcome.study.trials  # the defaults, spelt out as a trial's parameters
    assert (trial.params["knn.n_neighbors"], trial.params["knn.weights"]) == (ZOO["knn"].n_neighbors, "distance")
    search_step = outcome.summary["selection"][0]
    assert search_step["step"] == "search" and (search_step["gain"], search_step["se"]) == (0, 0)
    assert rechecked == []


def test_a_budgeted_recheck_is_afforded_by_what_the_incumbents_own_folds_cost():
    """A fresh-fold recheck cross-validates the incumbent's defaults as well as the tuned configuration:
    timed by the tuned one alone, rechecks of a family whose defaults cost far more overran the budget
    and left the ensemble no time. The incumbent's cost is its leaderboard folds' (`fit_seconds`)."""
    X, y = linear_table(150)
    cheap = {"logistic_regression": 0.01, "random_forest": 0.01}
    for seconds, repeats in ((cheap, 2), ({**cheap, "logistic_regression": 1000.0}, 0)):
        outcome = run_search(
            X, y, ["logistic_regression", "random_forest"], n_trials=3, deadline=Deadline.after(120),
            fit_seconds=seconds,
        )  # fmt: skip
        assert outcome.summary["default_chosen"] == "logistic_regression"
        assert outcome.summary["recheck_repeats"] == repeats
