"""Holdout evaluation: metrics per task and the data behind the ROC, PR and confusion plots."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline

from autotab.explaining.explainer import Explainer


def model_label(chosen: dict[str, Any]) -> str:
    """The served model in a few words without spaces (a `dvc exp show` cell): its family, or its
    ensemble members joined by "+", heaviest first; a tuned one is named tuned_<family>."""
    if chosen["model"] != "ensemble":
        return f"tuned_{chosen['model']}" if chosen["chosen_from"] == "search" else chosen["model"]
    members = sorted(chosen["ensemble_weights"].items(), key=lambda item: -item[1])
    return "+".join(name.removeprefix("default_") for name, _ in members)


def confusion_rows(y_true: pd.Series, predicted: np.ndarray) -> pd.DataFrame:
    """One row per holdout record, the form DVC's confusion template counts."""
    return pd.DataFrame({"actual": y_true.astype(str).to_numpy(), "predicted": predicted.astype(str)})


def prediction_rows(y_true: pd.Series, predicted: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"actual": y_true.to_numpy(), "predicted": predicted}).round(6)


def bootstrap_interval(
    score: Callable[[np.ndarray], float], n_rows: int, seed: int, resamples: int = 1000, level: float = 0.95
) -> tuple[float, float]:
    """A percentile bootstrap interval of `score(row indices)` over the holdout rows (seeded).
    Resamples the metric cannot be computed on (say, a single class drawn) are skipped."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        rows = rng.integers(0, n_rows, n_rows)
        try:
            values.append(score(rows))
        except ValueError:
            continue
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return round(float(low), 6), round(float(high), 6)


def prior_probabilities(y_train: pd.Series, classes: np.ndarray, n_rows: int) -> np.ndarray:
    """The trivial classifier: every row gets the training class frequencies."""
    frequencies = y_train.value_counts(normalize=True).reindex(classes, fill_value=0.0).to_numpy()
    return np.tile(frequencies, (n_rows, 1))


def calibration_points(y_true: pd.Series, p_positive: np.ndarray, positive: object, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability against the observed share of positives, per quantile bin."""
    observed, predicted = calibration_curve(y_true.to_numpy() == positive, p_positive, n_bins=bins, strategy="quantile")
    return pd.DataFrame({"mean_predicted": predicted, "fraction_positive": observed}).round(6)


def fitted_pipeline(model: Any) -> Any:
    """The Pipeline inside a model that may be wrapped with a fixed decision threshold."""
    return getattr(model, "estimator_", getattr(model, "estimator", model)) if hasattr(model, "threshold") else model


def columns_reaching_the_model(pipeline: Any, used: list[str]) -> list[str]:
    """The raw columns with at least one encoded feature past the column budget (`budget`, at the
    top of a fitted Pipeline), in `used` order; every used column when nothing was cut. A column
    the budget cut entirely never reaches the model: shuffling it cannot change a prediction."""
    steps = pipeline.named_steps
    budget = steps.get("budget")
    if budget is None or budget.support_.all():
        return used
    into_budget = pipeline[: list(steps).index("budget")].get_feature_names_out()
    # An encoded name is group__column, group__missingindicator_column or group__column_level: a
    # cleaned column reaches the model if it is a kept name or a kept name's part up to a "_".
    # Matching that way can take in a column too many (probed for nothing), never one too few.
    parts = set()
    for name, keep in zip(into_budget, budget.support_, strict=True):
        if keep:
            feature = str(name).split("__", 1)[-1].removeprefix("missingindicator_")
            parts.add(feature)
            parts.update(feature[:cut] for cut, char in enumerate(feature) if char == "_")
    reaching = {raw for cleaned, raw in steps["clean"].sources().items() if cleaned in parts}
    return [column for column in used if column in reaching]


def cleaned_once(model: Any, X: pd.DataFrame, y: pd.Series) -> tuple[Any, pd.DataFrame, dict[str, list[str]]]:
    """The model after its cleaner, the rows cleaned once, and the cleaned columns of each raw one.

    Cleaning works row by row (a row's cleaned values come from its own raw values and what the
    cleaner learned), so shuffling a raw column and then cleaning is shuffling, the same way, the
    cleaned columns made from it: a probe can skip the cleaning, which on a wide table is most of a
    prediction's cost. A model that does not start with the cleaner is returned as it is."""
    pipeline = fitted_pipeline(model)
    if not isinstance(pipeline, Pipeline) or pipeline.steps[0][0] != "clean":
        return model, X, {column: [column] for column in X.columns}
    clean = pipeline.steps[0][1]
    cleaned, after = clean.transform(X), pipeline[1:]
    if pipeline is not model:  # the same decision threshold over the rest of the Pipeline
        after = FixedThresholdClassifier(
            FrozenEstimator(after), threshold=model.threshold, pos_label=model.pos_label,
            response_method=model.response_method,
        ).fit(cleaned, y)  # fmt: skip
    made_from: dict[str, list[str]] = {}
    for column, raw in clean.sources().items():
        made_from.setdefault(raw, []).append(column)
    return after, cleaned, made_from


PERMUTATION_REPEATS = 5  # shuffles per column, as scikit-learn's permutation_importance defaults to

# Holdout rows permutation importance probes at most: each probe predicts them all, columns x repeats
# times. The importance is a mean drop in score, and 10,000 rows estimate it to within its spread
# across repeats; a 200,000-row holdout would cost 20 times as much for no better ranking.
PROBED_ROWS = 10_000
# And rows predicted over all the probes at most: on a wide table the sample shrinks with the probes
# (100,000 x 500 columns: 500 probed rows, 2,500 probes, where 10,000 rows ran for more than 15
# minutes with extra trees, and were stopped), never below MIN_PROBED_ROWS. Up to 20 columns, the 10,000 rows stand.
PROBE_PREDICTIONS = 1_000_000
MIN_PROBED_ROWS = 500


def probed_rows(
    X: pd.DataFrame, y: pd.Series, seed: int, probes: int = 1, rows: int | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """The holdout rows permutation importance probes (`probes`: columns x repeats): all of them, or
    a seeded sample of `rows` (default: as many as the budget of predictions affords)."""
    if rows is None:
        rows = min(PROBED_ROWS, max(MIN_PROBED_ROWS, PROBE_PREDICTIONS // max(probes, 1)))
    if len(X) <= rows:
        return X, y
    chosen = np.sort(np.random.default_rng(seed).choice(len(X), size=rows, replace=False))
    return X.iloc[chosen], y.iloc[chosen]


# Cells (probed rows x cleaned columns) predicted in one call at most: the probes are predicted in
# batches, since a call's fixed costs are paid per call (KNN imputation's per-column loop: a 100-row x
# 2,000-column holdout's 330 probes took 300 s one call each), and the batch bounds the memory.
PROBE_BATCH_CELLS = 5_000_000


class _BatchPredictions:
    """The model's predictions for a batch of probes' rows, made for the whole batch on the first
    request of each kind (`predict`, `predict_proba`)."""

    def __init__(self, model: Any, frames: list[pd.DataFrame]) -> None:
        self.model, self.made = model, {}
        self.rows = pd.concat(frames, ignore_index=True)
        self.starts = np.cumsum([0, *map(len, frames)])

    def made_by(self, method: str, probe: int) -> np.ndarray:
        if method not in self.made:
            self.made[method] = getattr(self.model, method)(self.rows)
        return self.made[method][self.starts[probe] : self.starts[probe + 1]]


class _ProbeModel:
    """Stands for the model in a scorer's call on one probe's rows: their predictions from the batch."""

    def __init__(self, batch: _BatchPredictions, probe: int) -> None:
        self.batch, self.probe = batch, probe
        self.classes_ = getattr(batch.model, "classes_", None)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.batch.made_by("predict", self.probe)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.batch.made_by("predict_proba", self.probe)


def permutation_importance_rows(
    model: Any,
    X: pd.DataFrame,
    y: pd.Series,
    scoring: Callable[[Any, pd.DataFrame, pd.Series], float],
    seed: int,
    columns: list[str],
    repeats: int = PERMUTATION_REPEATS,
) -> pd.DataFrame:
    """How much the holdout score drops when one raw input column is shuffled (seeded), for each of
    `columns`, by `scoring` (`metrics.holdout_scorer`): the whole Pipeline, cleaning included, is
    what is probed (cleaned once, `cleaned_once`). scikit-learn's `permutation_importance`, shuffles
    and seeds included (each column is shuffled from the one seed it draws), over the chosen columns
    only; the probes are predicted in batches of at most `PROBE_BATCH_CELLS` (a row's prediction
    depends on that row alone)."""
    seeded = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)
    model, X, made_from = cleaned_once(model, X, y)
    baseline = scoring(model, X, y)

    def probes():  # (column, the shuffled rows), in scikit-learn's order
        for column in columns:
            order, rows_now, shuffle = np.arange(len(X)), np.arange(len(X)), np.random.RandomState(seeded)
            for _ in range(repeats):  # as scikit-learn does it: each repeat shuffles the last one again
                shuffle.shuffle(order)
                rows_now = rows_now[order]
                shuffled = X.copy()
                for derived in made_from.get(column, []):  # each keeps its dtype (a dropped column: none)
                    shuffled[derived] = X[derived].iloc[rows_now].set_axis(X.index)
                yield column, shuffled

    per_batch = max(1, PROBE_BATCH_CELLS // max(X.size, 1))
    drops: dict[str, list[float]] = {column: [] for column in columns}
    pending = iter(probes())
    while batch := [probe for _, probe in zip(range(per_batch), pending, strict=False)]:
        predictions = _BatchPredictions(model, [frame for _, frame in batch])
        for i, (column, frame) in enumerate(batch):
            drops[column].append(baseline - scoring(_ProbeModel(predictions, i), frame, y))
    rows = [{"feature": c, "importance": np.mean(d), "std": np.std(d)} for c, d in drops.items()]
    table = pd.DataFrame(rows, columns=["feature", "importance", "std"])
    return table.sort_values(["importance", "feature"], ascending=[False, True]).round(6).reset_index(drop=True)


# Rows of sampled explanations (records x their sampled rows) the holdout's global importance may cost;
# at least MIN_EXPLAINED records, at most MAX_EXPLAINED. A mean absolute contribution per column is
# a summary: a few hundred records rank the columns as a thousand do (shap's own summaries sample 100
# rows), and on a 1,155-row holdout, 89 records of an ensemble with a forest were 22 of evaluate's 32 s.
EXPLAINED_ROWS_BUDGET = 250_000
MIN_EXPLAINED, MAX_EXPLAINED = 20, 200


def contribution_importance(explainer: Explainer, X: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, str, int]:
    """Global importance from explanations: each raw column's mean absolute contribution over the
    holdout rows (a seeded sample of them on a large holdout: as many as the budget of rows run
    through the model affords, were every record sampled), in the explained output's units; those
    units; and how many records were explained."""
    cost = max(explainer.sampled_rows_per_record, 1)
    records = min(len(X), MAX_EXPLAINED, max(MIN_EXPLAINED, EXPLAINED_ROWS_BUDGET // cost))
    rows = X if records == len(X) else X.sample(n=records, random_state=seed).sort_index()
    explanation = explainer.explain(rows)
    table = pd.DataFrame({"feature": explanation.columns, "importance": np.abs(explanation.contributions).mean(axis=0)})
    table = table.sort_values(["importance", "feature"], ascending=[False, True]).round(6).reset_index(drop=True)
    return table, explanation.output, records


# Every plot declared in dvc.yaml, with its columns. A run writes all of them; those that do not
# apply to its task are header-only, so `dvc plots show` draws them empty instead of failing.
PLOT_COLUMNS = {
    "roc.csv": ["fpr", "tpr"],
    "precision_recall.csv": ["recall", "precision"],
    "calibration.csv": ["mean_predicted", "fraction_positive"],
    "confusion.csv": ["actual", "predicted"],
    "predicted_vs_actual.csv": ["actual", "predicted"],
    "residuals.csv": ["predicted", "residual"],
}


def plot_tables(
    task: str, y_true: pd.Series, scores: np.ndarray, predicted: np.ndarray, classes: Any = None, positive: Any = None
) -> dict[str, pd.DataFrame]:
    """The data behind each declared plot. `scores` are class probabilities (classification) or
    predictions (regression). Multiclass ROC and PR curves are micro-averaged one-vs-rest."""
    tables = {name: pd.DataFrame(columns=columns) for name, columns in PLOT_COLUMNS.items()}
    if task == "regression":
        residual = y_true.to_numpy() - scores
        tables["predicted_vs_actual.csv"] = prediction_rows(y_true, scores)
        tables["residuals.csv"] = pd.DataFrame({"predicted": scores, "residual": residual}).round(6)
        return tables
    tables["confusion.csv"] = confusion_rows(y_true, predicted)
    if task == "binary":
        p_positive = scores[:, list(classes).index(positive)]
        is_positive, flat_scores = y_true.to_numpy() == positive, p_positive
        tables["calibration.csv"] = calibration_points(y_true, p_positive, positive)
    else:
        is_positive = (y_true.to_numpy()[:, None] == np.asarray(classes)[None, :]).ravel()
        flat_scores = scores.ravel()
    fpr, tpr, _ = skm.roc_curve(is_positive, flat_scores)
    tables["roc.csv"] = pd.DataFrame({"fpr": fpr, "tpr": tpr}).round(6)
    precision, recall, _ = skm.precision_recall_curve(is_positive, flat_scores)
    tables["precision_recall.csv"] = pd.DataFrame({"recall": recall, "precision": precision}).round(6)
    return tables
