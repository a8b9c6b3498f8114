"""Ensembling: greedy forward selection with replacement over out-of-fold predictions (Caruana et
al. 2004, as auto-sklearn and AutoGluon do), and the soft-voting estimator it becomes."""

from __future__ import annotations

from collections import Counter
from typing import Any

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
    """One estimator: the cleaner the members share, then a weighted soft vote of each member's own
    features-and-model pipeline. It pickles and predicts probabilities like any Pipeline."""
    voters = []
    for name in weights:
        recipe, model = members[name]
        clean, *feature_steps = clone(recipe).steps
        voters.append((name, Pipeline([*feature_steps, ("model", clone(model))])))
    vote_weights = [weights[name] for name in weights]
    if task == "regression":
        vote = VotingRegressor(voters, weights=vote_weights)
    else:
        vote = VotingClassifier(voters, voting="soft", weights=vote_weights)
    return Pipeline([clean, ("model", vote)])
