"""Ensembling: greedy forward selection with replacement over out-of-fold predictions (Caruana et
al. 2004, as auto-sklearn and AutoGluon do), and the soft-voting estimator it becomes."""

from __future__ import annotations

from collections import Counter
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import VotingClassifier, VotingRegressor
from sklearn.pipeline import Pipeline

from autotab.evaluation import classification_metrics, regression_metrics
from autotab.training import maximisable


def oof_score(prediction: np.ndarray, y: pd.Series, task: str, metric: str, classes, positive) -> float:
    """The metric on all out-of-fold rows at once, signed so that larger is better."""
    if task == "regression":
        value = regression_metrics(y, prediction)[metric]
    else:
        value = classification_metrics(y, prediction, classes, positive)[metric]
    return maximisable(value, metric)


def greedy_selection(
    predictions: dict[str, np.ndarray],
    y: pd.Series,
    task: str,
    metric: str,
    classes: Any = None,
    positive: Any = None,
    rounds: int = 20,
) -> tuple[dict[str, int], float]:
    """Members (with how often each was picked) and the ensemble's OOF score. Each round adds the
    member that most improves the average; the best ensemble seen over the rounds is kept, so it is
    never worse than the best single member (the first round picks exactly that member)."""
    names = sorted(predictions)
    chosen: list[str] = []
    total: np.ndarray | None = None
    best: tuple[float, list[str]] = (-np.inf, [])
    for _ in range(rounds):
        name, score = "", -np.inf
        for candidate_name in names:  # sorted, and only a strictly better score wins: deterministic
            candidate = predictions[candidate_name] if total is None else total + predictions[candidate_name]
            candidate_score = oof_score(candidate / (len(chosen) + 1), y, task, metric, classes, positive)
            if candidate_score > score:
                name, score = candidate_name, candidate_score
        chosen.append(name)
        total = predictions[name].copy() if total is None else total + predictions[name]
        if score > best[0]:
            best = (score, list(chosen))
    return dict(Counter(best[1])), best[0]


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
