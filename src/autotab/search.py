"""The search behind the tune stage: a study over the chosen families, then the choice between the
best tuned configuration, the best defaults and a greedy ensemble, all on the same folds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import BaseCrossValidator
from sklearn.pipeline import Pipeline

from autotab import ensemble
from autotab.backends import trial_runner
from autotab.config import BackendConfig, FeaturesConfig, ModelConfig, TuneConfig
from autotab.features import build_preprocessor
from autotab.models import build_estimator
from autotab.training import (
    CrossValidation,
    cross_validate_pipeline,
    fit_and_score_fold,
    maximisable,
    reseeded,
    to_plain,
    whole_pipeline,
)
from autotab.tuning import fold_scores_of, open_study, params_of, run_study


@dataclass
class Problem:
    """The training data and how it is scored: what every candidate and trial shares."""

    X: pd.DataFrame
    y: pd.Series
    task: str
    metric: str
    folds: BaseCrossValidator
    preprocessor: Pipeline  # the features stage's recipe
    seed: int
    groups: pd.Series | None = None
    positive: Any = None
    class_weight: str | None = None
    # The features preset the recipe was built from; searched feature choices change some of it.
    feature_settings: dict | None = None

    def recipe(self, features: dict) -> Pipeline:
        if not features or self.feature_settings is None:
            return self.preprocessor
        settings = FeaturesConfig.model_validate({**self.feature_settings, **features})
        return build_preprocessor(self.preprocessor.named_steps["clean"], settings, self.task, self.seed)

    def estimator(self, family: ModelConfig, params: dict):
        return build_estimator(family, self.task, self.seed, params, class_weight=self.class_weight)

    def pipeline(self, family: ModelConfig, params: dict, features: dict) -> Pipeline:
        return whole_pipeline(self.recipe(features), self.estimator(family, params))

    def cross_validate(self, family: ModelConfig, params: dict, features: dict) -> CrossValidation:
        pipeline = self.pipeline(family, params, features)
        return cross_validate_pipeline(pipeline, self.X, self.y, self.task, self.folds, self.groups, self.positive)

    @cached_property
    def fold_rows(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return list(self.folds.split(self.X, self.y, self.groups))

    def fold_score(self, family: ModelConfig, params: dict, features: dict, fold: int) -> float:
        """One fold of one configuration: the primary metric on its held-out rows, larger is better."""
        train_rows, test_rows = self.fold_rows[fold]
        classes = np.unique(self.y) if self.task != "regression" else None
        pipeline = self.pipeline(family, params, features)
        result = fit_and_score_fold(pipeline, self.X, self.y, self.task, classes, train_rows, test_rows, self.positive)
        return maximisable(result.scores[self.metric], self.metric)


def search_gain(
    problem: Problem,
    configs: dict[str, ModelConfig],
    default_name: str,
    best: optuna.trial.FrozenTrial,
    recheck_repeats: int,
) -> np.ndarray:
    """How much the best trial beats the best defaults, per fold (larger is better).

    The best of many trials looks better on the folds it was picked on than it is. So both are
    scored again on `recheck_repeats` fresh splits of the training rows, paired fold by fold; with
    none, the search's own folds are used."""
    metric = problem.metric
    if recheck_repeats == 0:
        default = problem.cross_validate(configs[default_name], {}, {}).fold_scores
        return np.array(fold_scores_of(best)) - np.array([maximisable(d[metric], metric) for d in default])
    family, params, features = params_of(best)
    gains = []
    for repeat in range(1, recheck_repeats + 1):
        fresh = replace(problem, folds=reseeded(problem.folds, problem.seed + repeat))
        tuned = fresh.cross_validate(configs[family], params, features).fold_scores
        default = fresh.cross_validate(configs[default_name], {}, {}).fold_scores
        for tuned_scores, default_scores in zip(tuned, default, strict=True):
            gains.append(maximisable(tuned_scores[metric], metric) - maximisable(default_scores[metric], metric))
    return np.array(gains)


@dataclass
class Outcome:
    model: Pipeline  # unfitted
    study: optuna.Study
    ran: int
    single: str
    single_params: dict
    single_features: dict
    source: str
    summary: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    oof: np.ndarray | None = None  # the final model's out-of-fold predictions


def search(
    problem: Problem,
    families: dict[str, ModelConfig],
    zoo: Callable[[str], ModelConfig],
    board: pd.DataFrame,
    oof: pd.DataFrame,
    tune: TuneConfig,
    study_name: str,
    on_trial: Callable | None = None,
    feature_defaults: dict | None = None,
    backend: BackendConfig | None = None,
) -> Outcome:
    """`board` is the leaderboard's passing rows (best first) and `oof` its out-of-fold predictions:
    the defaults that may join an ensemble; `zoo(name)` gives any family's config, for ensemble
    members outside the searched families."""
    metric = problem.metric
    backend = backend or BackendConfig()
    study = open_study(study_name, tune.storage, problem.seed, tune.pruner)
    with trial_runner(backend, problem, families) as submit_fold:
        ran = run_study(
            study, families, submit_fold, problem.folds.get_n_splits(), tune.n_trials, tune.timeout_s,
            backend.parallelism, on_trial, tune.feature_space, feature_defaults,
        )  # fmt: skip

    configs = {**{name: zoo(name) for name in board["model"]}, **families}
    classes = np.unique(problem.y) if problem.task != "regression" else None

    def board_oof(name: str) -> np.ndarray:
        columns = [name] if classes is None else [f"{name}__{c}" for c in classes]
        return oof[columns].to_numpy().squeeze()

    best_family, best_params, best_features = params_of(study.best_trial)
    searched_cv = round(maximisable(study.best_value, metric), 6)
    # What the search must beat: the best searched family's defaults, which the leaderboard has
    # already cross-validated on these folds (a pinned family missing from it: its own defaults, run here).
    on_board = [name for name in board["model"] if name in families]
    if on_board:
        default_name = on_board[0]
        default_cv = float(board.loc[board["model"] == default_name, f"{metric}_mean"].iloc[0])
        default_oof = board_oof(default_name)
    else:
        default_name = next(iter(families))
        default_result = problem.cross_validate(configs[default_name], {}, {})
        default_cv, default_oof = default_result.summary[metric]["mean"], default_result.oof
    gain = search_gain(problem, configs, default_name, study.best_trial, tune.recheck_repeats)
    margin = float(gain.std(ddof=1) / np.sqrt(len(gain))) if len(gain) > 1 else 0.0
    if gain.mean() > margin:
        single, single_params, single_cv, source = best_family, best_params, searched_cv, "search"
        single_features = best_features
    else:
        single, single_params, single_cv, source = default_name, {}, default_cv, "defaults"
        single_features = {}
    single_params = {k: to_plain(v) for k, v in single_params.items()}
    single_features = {k: to_plain(v) for k, v in single_features.items()}

    outcome = Outcome(
        problem.pipeline(configs[single], single_params, single_features),
        study, ran, single, single_params, single_features, source, weights={single: 1},
    )  # fmt: skip
    states = pd.Series([t.state.name for t in study.trials]).value_counts().to_dict()
    outcome.summary = {
        "primary_metric": metric, "cv_default_best": default_cv, "cv_search_best": searched_cv,
        "cv_single_chosen": single_cv, "search_gain": round(float(gain.mean()), 6),
        "search_margin": round(margin, 6), "n_trials": len(study.trials), "n_pruned": int(states.get("PRUNED", 0)),
        "ensemble_members": 1,
    }  # fmt: skip
    if source == "defaults":
        chosen_oof = default_oof
    else:
        chosen_oof = problem.cross_validate(configs[single], single_params, single_features).oof
    if not tune.ensemble:
        outcome.oof = chosen_oof
        return outcome

    predictions = {f"default_{name}": board_oof(name) for name in board["model"]}
    # The tuned configuration joins the pool only if it earned its place above: its OOF score carries
    # the same optimism, which greedy selection would otherwise reward.
    tuned_key = f"tuned_{single}" if source == "search" else f"default_{single}"
    predictions[tuned_key] = chosen_oof
    outcome.oof = chosen_oof
    weights, ensemble_score = ensemble.greedy_selection(
        predictions, problem.y, problem.task, metric, classes, problem.positive, tune.ensemble_rounds,
        tune.ensemble_bags, problem.seed,
    )  # fmt: skip
    single_score = ensemble.oof_score(
        predictions[tuned_key], problem.y, problem.task, metric, classes, problem.positive
    )
    sign = 1 if maximisable(1.0, metric) > 0 else -1
    outcome.summary |= {"oof_single": round(sign * single_score, 6), "oof_ensemble": round(sign * ensemble_score, 6)}
    if len(weights) > 1 and ensemble_score > single_score:
        members = {}
        for key in weights:
            family, tuned = configs[key.split("_", 1)[1]], key == tuned_key
            recipe = problem.recipe(single_features if tuned else {})
            members[key] = (recipe, problem.estimator(family, single_params if tuned else {}))
        ordered = dict(sorted(weights.items()))
        outcome.model = ensemble.soft_vote(members, ordered, problem.task)
        outcome.weights = ordered
        outcome.oof = sum(predictions[k] * n for k, n in ordered.items()) / sum(ordered.values())
        outcome.summary["ensemble_members"] = len(ordered)
    return outcome
