"""Ensembling: greedy forward selection with replacement over out-of-fold predictions (Caruana et
al. 2004, as auto-sklearn and AutoGluon do), and the soft-voting estimator it becomes."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import VotingClassifier, VotingRegressor
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from autotab.metrics import oof_score

# Slices of the rows a blend is cross-fitted on: selected on 90% of them, as the final one is on all.
CROSS_FIT_FOLDS = 10


def cross_fitted_blend(
    predictions: dict[str, np.ndarray], y: pd.Series, *, folds: int = CROSS_FIT_FOLDS, **selection: Any
) -> np.ndarray:
    """The greedy ensemble's out-of-fold predictions without the optimism of its own selection:
    each of `folds` seeded slices of the rows (stratified for a classifier) gets the blend selected
    on the other slices, as `calibration.cross_fitted` does for a temperature. Scored against the
    single model, its gain is an honest estimate of what the blend adds on new rows. `selection`:
    `greedy_selection`'s keyword arguments (task, metric, classes, positive, rounds, bags, seed)."""
    labels = y.reset_index(drop=True)
    blend = np.empty_like(next(iter(predictions.values())), dtype=float)
    seed = selection.get("seed", 0)
    if selection["task"] == "regression" or labels.value_counts().min() < folds:
        splits = KFold(folds, shuffle=True, random_state=seed).split(labels)
    else:
        splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(labels, labels)
    for fit_rows, apply_rows in splits:
        chosen = {name: prediction[fit_rows] for name, prediction in predictions.items()}
        weights, _ = greedy_selection(chosen, labels.iloc[fit_rows], **selection)
        total = sum(weights.values())
        blend[apply_rows] = sum(predictions[name][apply_rows] * n for name, n in weights.items()) / total
    return blend


def _forward_selection(
    predictions: dict[str, np.ndarray], score: Callable[[np.ndarray], float], rounds: int
) -> tuple[list[str], float]:
    """Caruana's greedy forward selection with replacement: each round adds the member that most
    improves the average; returns the best prefix seen (the first round picks the best member)."""
    names = sorted(predictions)
    chosen: list[str] = []
    total: np.ndarray | None = None
    best: tuple[float, list[str]] = (-np.inf, [])
    for _ in range(rounds):
        name, best_round = "", -np.inf
        for candidate_name in names:  # sorted, and only a strictly better score wins: deterministic
            candidate = predictions[candidate_name] if total is None else total + predictions[candidate_name]
            candidate_score = score(candidate / (len(chosen) + 1))
            if candidate_score > best_round:
                name, best_round = candidate_name, candidate_score
        chosen.append(name)
        total = predictions[name].copy() if total is None else total + predictions[name]
        if best_round > best[0]:
            best = (best_round, list(chosen))
    return best[1], best[0]


def greedy_selection(
    predictions: dict[str, np.ndarray],
    y: pd.Series,
    task: str,
    metric: str,
    classes: Any = None,
    positive: Any = None,
    rounds: int = 20,
    bags: int = 0,
    seed: int = 0,
) -> tuple[dict[str, int], float]:
    """Members (with how often each was picked) and the ensemble's OOF score.

    With `bags`, selection runs on that many bootstrap resamples of the rows and the picks are
    added up (bagged ensemble selection, Caruana et al. 2004): on a few hundred rows one pass
    overfits the rows it is judged on, picking members for a handful of lucky predictions, while
    members that help on most resamples accumulate weight. Either way the result is never worse
    out of fold than the best single member: that member alone is returned instead."""

    def scorer(rows: np.ndarray | None) -> Callable[[np.ndarray], float]:
        target = y if rows is None else y.iloc[rows]
        return lambda prediction: oof_score(prediction, target, task, metric, classes, positive)

    picks: Counter[str] = Counter()
    if bags == 0:
        picks.update(_forward_selection(predictions, scorer(None), rounds)[0])
    else:
        rng = np.random.default_rng(seed)
        for _ in range(bags):
            rows = rng.integers(0, len(y), len(y))
            resampled = {name: prediction[rows] for name, prediction in predictions.items()}
            picks.update(_forward_selection(resampled, scorer(rows), rounds)[0])
    divisor = math.gcd(*picks.values())
    weights = {name: count // divisor for name, count in sorted(picks.items())}
    blend = sum(predictions[name] * n for name, n in weights.items()) / sum(weights.values())
    ensemble_score = scorer(None)(blend)
    single_scores = {name: scorer(None)(predictions[name]) for name in sorted(predictions)}
    best_single = max(single_scores, key=single_scores.__getitem__)
    if single_scores[best_single] >= ensemble_score:
        return {best_single: 1}, single_scores[best_single]
    return weights, ensemble_score


def soft_vote(members: dict[str, tuple[Pipeline, BaseEstimator]], weights: dict[str, int], task: str) -> Pipeline:
    """One estimator: the cleaner the members share, then a weighted soft vote of the members.

    Members whose feature recipes are the same share one feature step, fitted once, with a vote of
    their models after it: their features would be identical (same recipe, same rows, seeded), and
    each feature step costs about as much per prediction call as a model does. The vote of votes
    is the same weighted average (each group weighs the sum of its members' weights). It pickles
    and predicts probabilities like any Pipeline.
    """
    groups: dict[str, tuple[list, list[tuple[str, BaseEstimator]], list[int]]] = {}
    for name, weight in weights.items():
        recipe, model = members[name]
        clean, *feature_steps = clone(recipe).steps
        _, voters, voter_weights = groups.setdefault(joblib.hash(feature_steps), (feature_steps, [], []))
        voters.append((name, clone(model)))
        voter_weights.append(weight)
    tails = [
        (voters[0][0] if len(voters) == 1 else "+".join(n for n, _ in voters), feature_steps, _vote(voters, w, task))
        for feature_steps, voters, w in groups.values()
    ]
    if len(tails) == 1:
        _, feature_steps, model = tails[0]
        return Pipeline([clean, *feature_steps, ("model", model)])
    group_weights = [sum(w) for _, _, w in groups.values()]
    voters = [(name, Pipeline([*feature_steps, ("model", model)])) for name, feature_steps, model in tails]
    return Pipeline([clean, ("model", _vote(voters, group_weights, task))])


def _vote(voters: list[tuple[str, BaseEstimator]], weights: list[int], task: str) -> BaseEstimator:
    """A weighted soft vote; a lone voter is itself."""
    if len(voters) == 1:
        return voters[0][1]
    if task == "regression":
        return VotingRegressor(voters, weights=weights)
    return VotingClassifier(voters, voting="soft", weights=weights)
