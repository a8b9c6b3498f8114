"""evaluate: the tuned Pipeline on the held-out split: metrics with a bootstrap interval for the
primary one, the same metrics for a trivial baseline, the data behind the plots, and a model card."""

from functools import partial

import joblib
import numpy as np
import pandas as pd

from autotab import metrics, paths
from autotab.config import load_config
from autotab.data.contract import DataContract, check_cleaned
from autotab.errors import run_stage
from autotab.explaining.explainer import Explainer, background_positions
from autotab.modeling.final_fit import plan
from autotab.modeling.training import split_xy
from autotab.reporting import evaluation
from autotab.reporting.model_card import model_card
from autotab.tables import read_json, read_parquet_rows, write_atomic, write_csv, write_json


def main() -> None:
    config = load_config()
    contract = DataContract.read(paths.contract(config.data.name))
    task = contract.task
    metric = metrics.primary_metric(task, config.train.metric)
    pipeline = joblib.load(paths.MODEL)
    X, y = split_xy(pd.read_parquet(paths.CLEAN_TEST), contract.target)
    # Of the training split, its target and the explanations' background rows only: on a large table
    # the split itself would be most of this stage's memory.
    y_train = pd.read_parquet(paths.CLEAN_TRAIN, columns=[contract.target])[contract.target]
    background = read_parquet_rows(paths.CLEAN_TRAIN, partial(background_positions, seed=config.data.seed),
                                   exclude=(contract.target,))  # fmt: skip
    cleaner = evaluation.fitted_pipeline(pipeline).named_steps["clean"]
    # Its structure; the values outside the training range are in reports/features.json.
    check_cleaned(cleaner.transform(X), contract, "the cleaned holdout split")
    plots = paths.PLOTS_DIR

    classes = positive = None
    if task == "regression":
        predicted = pipeline.predict(X)
        holdout = metrics.regression_metrics(y, predicted)
        baseline = metrics.regression_metrics(y, np.full(len(y), y_train.mean()))

        def score(rows):
            return metrics.regression_metrics(y.iloc[rows], predicted[rows])[metric]

        scores = predicted
    else:
        classes = pipeline.classes_
        proba = pipeline.predict_proba(X)
        predicted = pipeline.predict(X)  # with a binary model's tuned threshold
        positive = metrics.recorded_positive(classes, contract.positive_label)
        holdout = metrics.classification_metrics(y, proba, classes, positive, predicted)
        prior = evaluation.prior_probabilities(y_train, classes, len(y))
        baseline = metrics.classification_metrics(y, prior, classes, positive)

        def score(rows):  # the primary metric only: a thousand resamples of every metric cost seconds
            return metrics.classification_metric(metric, y.iloc[rows], proba[rows], classes, positive, predicted[rows])

        scores = proba

    for name, table in evaluation.plot_tables(task, y, scores, predicted, classes, positive).items():
        write_csv(table, plots / name)
    # Probe only the columns the model uses: shuffling a dropped one cannot change anything.
    used = [field.name for field in contract.used_fields]
    # Scored by the run's primary metric (train.metric), as every other choice of the run was.
    scoring = metrics.holdout_scorer(metric, task, positive)
    # Only the columns that reach the model: on a wide table the column budget cuts most of them,
    # and each probe costs a Pipeline prediction per repeat. The others' importance is exactly 0.
    probed = evaluation.columns_reaching_the_model(evaluation.fitted_pipeline(pipeline), used)
    probes = len(probed) * evaluation.PERMUTATION_REPEATS
    X_probed, y_probed = evaluation.probed_rows(X, y, config.data.seed, probes=probes)
    importance = evaluation.permutation_importance_rows(
        pipeline, X_probed, y_probed, scoring, config.data.seed, columns=probed
    )
    cut = pd.DataFrame({"feature": [c for c in used if c not in set(probed)], "importance": 0.0, "std": 0.0})
    importance = pd.concat([importance, cut], ignore_index=True) if len(cut) else importance
    write_csv(importance, plots / "permutation_importance.csv")
    explainer = Explainer(pipeline, background, config.data.seed)
    contributions, explained, explained_rows = evaluation.contribution_importance(explainer, X, config.data.seed)
    write_csv(contributions, plots / "contribution_importance.csv")
    low, high = evaluation.bootstrap_interval(score, len(y), config.data.seed)
    # The headline first: `dvc exp show` shows these columns at its left edge, in this order.
    headline = {"data": config.data.name, "model": evaluation.model_label(read_json(paths.BEST_PARAMS)),
                metric: holdout[metric]}  # fmt: skip
    result = {**headline, "task": task, "holdout_rows": len(y), "primary_metric": metric,
              **{k: v for k, v in holdout.items() if k != metric},
              f"{metric}_ci95_low": low, f"{metric}_ci95_high": high, "baseline": baseline}  # fmt: skip
    if getattr(pipeline, "threshold", None) is not None:
        result["decision_threshold"] = pipeline.threshold  # tuned out of fold, used for the labels
    write_json(result, paths.METRICS)
    clean = read_json(paths.CLEAN_REPORT)
    served = plan(config.package.fit_rows, tuning=read_json(paths.TUNING_SUMMARY), train_rows=clean["train_rows"],
                  holdout_rows=clean["test_rows"], outliers=config.clean.outliers)  # fmt: skip
    card = model_card(config, contract, result, importance, contributions, explained,
                      explained_rows=explained_rows, served=served.why)  # fmt: skip
    write_atomic(paths.MODEL_CARD, lambda tmp: tmp.write_text(card))
    shown = ", ".join(f"{k}={v:.4f}" for k, v in holdout.items())
    print(f"evaluate: holdout ({len(y)} rows): {shown}")
    print(f"evaluate: {metric} 95% bootstrap interval [{low:.4f}, {high:.4f}]; trivial baseline {baseline[metric]:.4f}")


if __name__ == "__main__":
    run_stage("evaluate", main)
