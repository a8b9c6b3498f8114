"""Attributions of one model's output to its inputs: exact where the model allows, sampled otherwise.

Every function returns `(base, phi)`: `base` of shape (rows, K) and `phi` of shape (rows, inputs,
K), with base + phi summed over the inputs equal to the model's output for each row (local
accuracy). K is 1 for a regression or a binary margin (of `classes_[1]`), else one per class.

- Boosted trees (LightGBM, XGBoost, CatBoost): each library's own tree SHAP (`pred_contrib`,
  `pred_contribs`, `ShapValues`), in its raw margin (log-odds; softmax scores for several classes).
- scikit-learn's histogram boosting and forests: the `shap` library's tree SHAP, margin for the
  boosting, probabilities for the forests.
- Linear models: exact for independent inputs, w * (x - mean x) with the mean over a background.
- Anything else: Shapley values sampled over permutations of the inputs (`permutation`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge

from autotab.estimators.boosting import CatBoostTrees, LightGBMTrees, XGBoostTrees

Attribution = tuple[np.ndarray, np.ndarray]

FORESTS = (RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor)
SHAP_TREES = (*FORESTS, HistGradientBoostingClassifier, HistGradientBoostingRegressor)  # explained by shap
LINEAR = (LogisticRegression, Ridge, Lasso, ElasticNet)
PROBABILITY_LEAVES = (RandomForestClassifier, ExtraTreesClassifier)  # a forest averages its trees' probabilities

# Path-dependent tree SHAP costs about 0.3-0.7 ns a row per unit of leaves x depth^2 summed over the
# trees; a prediction about 2-4 ns a row per node visited (depth summed over the trees), measured
# on 200-tree forests here. Exact SHAP of a forest grown on many rows (thousands of leaves 45 deep:
# 0.75 s a record on 20,000 rows, and ten times the rows is ten times the leaves) costs more than
# sampling it; past this ratio of the two works, the forest is sampled.
TREE_SHAP_OVER_PREDICTION = 6.0


def cheaper_sampled(model: Any, sampled_rows: int) -> bool:
    """Whether sampling Shapley values over `sampled_rows` model rows a record costs less than
    exact tree SHAP of `model` (a scikit-learn forest; other models are never judged so)."""
    if not isinstance(model, FORESTS):
        return False
    trees = [estimator.tree_ for estimator in model.estimators_]
    exact = sum(tree.n_leaves * tree.max_depth**2 for tree in trees)
    return exact > TREE_SHAP_OVER_PREDICTION * sampled_rows * sum(tree.max_depth for tree in trees)


# What importing the shap library adds to a process (measured: 195 -> 295 MB peak RSS, numba included).
SHAP_LIBRARY_MB = 100


def loads_shap(model: Any) -> bool:
    """Whether explaining `model` imports the shap library: a forest or histogram boosting inside it
    (behind a threshold, a temperature, a Pipeline or a vote)."""
    if isinstance(model, SHAP_TREES):
        return True
    inner = [getattr(model, name, None) for name in ("estimator_", "estimator", "regressor_")]
    inner += [step for _, step in getattr(model, "steps", [])] + list(getattr(model, "estimators_", None) or [])
    return any(part is not None and part is not model and loads_shap(part) for part in inner)


def native_output(model: Any) -> str | None:
    """What a model's exact attributions explain: "margin", "probability" or "target"; None when
    only sampling can explain it."""
    if not isinstance(model, (CatBoostTrees, LightGBMTrees, XGBoostTrees, *SHAP_TREES, *LINEAR)):
        return None
    if not hasattr(model, "classes_"):
        return "target"
    return "probability" if isinstance(model, PROBABILITY_LEAVES) else "margin"


def _shaped(base: np.ndarray, phi: np.ndarray, rows: int) -> Attribution:
    """(rows, K) and (rows, inputs, K) from a library's (rows, inputs[, K]) and scalar or (K,)."""
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim == 2:
        phi = phi[:, :, None]
    return np.broadcast_to(np.atleast_1d(np.asarray(base, dtype=np.float64)), (rows, phi.shape[2])).copy(), phi


def _with_bias_last(contributions: np.ndarray, rows: int, inputs: int) -> Attribution:
    """A library's (rows, [K,] inputs + 1) contributions, the bias last, as (base, phi)."""
    values = np.asarray(contributions, dtype=np.float64).reshape(rows, -1, inputs + 1)  # (rows, K, inputs + 1)
    return values[:, :, -1], values[:, :, :-1].transpose(0, 2, 1)


def tree_attribution(model: Any, Z: np.ndarray, explainers: dict[int, Any]) -> Attribution:
    """Tree SHAP (path-dependent: the training rows' cover, no background) of a fitted tree model;
    `explainers` caches the `shap` library's explainer per model."""
    rows, inputs = Z.shape
    if isinstance(model, LightGBMTrees):
        return _with_bias_last(model.model_.predict(Z, pred_contrib=True), rows, inputs)
    if isinstance(model, XGBoostTrees):
        import xgboost

        matrix = xgboost.DMatrix(Z, nthread=model.n_jobs)
        return _with_bias_last(model.model_.get_booster().predict(matrix, pred_contribs=True), rows, inputs)
    if isinstance(model, CatBoostTrees):
        import catboost

        values = model.model_.get_feature_importance(catboost.Pool(Z), type="ShapValues", thread_count=model.n_jobs)
        return _with_bias_last(values, rows, inputs)
    if id(model) not in explainers:
        import shap

        explainers[id(model)] = shap.TreeExplainer(model)
    explainer = explainers[id(model)]
    return _shaped(explainer.expected_value, explainer.shap_values(Z, check_additivity=False), rows)


def linear_attribution(model: Any, Z: np.ndarray, reference: np.ndarray) -> Attribution:
    """Exact Shapley values of a linear model for inputs taken as independent: each input's weight
    times its distance from the `reference` (the background's mean); the base is the model at it."""
    weights = np.atleast_2d(model.coef_)  # (K, inputs)
    phi = (Z - reference)[:, :, None] * weights.T[None, :, :]
    base = reference @ weights.T + np.atleast_1d(model.intercept_)
    return np.broadcast_to(base, (len(Z), weights.shape[0])).copy(), phi


def permutation_attribution(
    output: Callable[[pd.DataFrame], np.ndarray],
    rows: pd.DataFrame,
    background: pd.DataFrame,
    players: list[list[str]],
    orders: np.ndarray,
    chunk_rows: int = 50_000,
    fixed: Sequence[str] = (),
) -> Attribution:
    """Shapley values sampled over the permutations `orders` (shape (permutations, players)).

    Along each permutation the players (each a set of columns of `rows`) join one at a time:
    their columns take the explained row's values, the others the background rows' (independent
    inputs, as the interventional tree SHAP takes them), and a player gets the change in the
    average `output` it brings. Along any one permutation these changes add up to the output at the
    row minus its average over the background, so local accuracy is exact however few
    permutations are drawn; the permutations only make each share closer to its Shapley value.
    Antithetic orders (each followed by its reverse) cancel most of the error of a first-order
    model. `output` maps a frame like `rows` to (n, K). The `fixed` columns, in no player, keep the
    explained row's values throughout."""
    permutations, n_players = orders.shape
    steps = n_players + 1
    # joined[p, i, j]: at step i of permutation p, player j has joined (its values are the row's).
    position = np.argsort(orders, axis=1)
    joined = position[:, None, :] < np.arange(steps)[None, :, None]
    n_background = len(background)
    per_row = permutations * steps * n_background
    chunk = max(1, chunk_rows // per_row)
    bases, phis = [], []
    for start in range(0, len(rows), chunk):
        explained = rows.iloc[start : start + chunk]
        hybrid = {}
        for player, columns in enumerate(players):
            from_row = np.repeat(joined[:, :, player].ravel(), n_background)  # (per_row,)
            for column in columns:
                kept = np.tile(background[column].to_numpy(dtype=object), permutations * steps)
                values = explained[column].to_numpy(dtype=object)
                hybrid[column] = np.where(from_row[None, :], values[:, None], kept[None, :]).ravel()
        for column in fixed:
            hybrid[column] = np.repeat(explained[column].to_numpy(dtype=object), per_row)
        frame = pd.DataFrame(hybrid)
        frame = frame.astype({column: background[column].dtype for column in frame.columns})[list(background.columns)]
        values = np.asarray(output(frame), dtype=np.float64)
        values = values.reshape(len(explained), permutations, steps, n_background, -1)
        averages = values.mean(axis=3)  # (rows, permutations, steps, K)
        gains = np.diff(averages, axis=2)  # step i + 1 minus step i: what the player at position i brought
        phi = np.zeros((len(explained), n_players, averages.shape[3]))
        for p in range(permutations):
            phi[:, orders[p], :] += gains[:, p]
        bases.append(averages[:, 0, 0])
        phis.append(phi / permutations)
    return np.concatenate(bases), np.concatenate(phis)


def antithetic_orders(n_players: int, pairs: int, seed: int) -> np.ndarray:
    """`pairs` seeded permutations of the players, each followed by its reverse."""
    rng = np.random.default_rng(seed)
    orders = []
    for _ in range(pairs):
        order = rng.permutation(n_players)
        orders += [order, order[::-1]]
    return np.asarray(orders)
