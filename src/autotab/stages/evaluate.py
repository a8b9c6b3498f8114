"""evaluate: the tuned Pipeline on the held-out split: metrics and the data behind the plots."""

import joblib
import numpy as np
import pandas as pd

from autotab import evaluation, paths
from autotab.config import load_config
from autotab.contract import check_cleaned
from autotab.errors import run_stage
from autotab.tables import read_json, write_csv, write_json
from autotab.training import split_xy


def main() -> None:
    config = load_config()
    contract = read_json(paths.contract(config.data.name))
    task = contract["task"]
    pipeline = joblib.load(paths.MODEL)
    X, y = split_xy(pd.read_parquet(paths.CLEAN_TEST), contract["target"])
    check_cleaned(pipeline.named_steps["clean"].transform(X), contract, "the cleaned holdout split")
    plots = paths.PLOTS_DIR

    if task == "regression":
        predicted = pipeline.predict(X)
        metrics = evaluation.regression_metrics(y, predicted)
        write_csv(evaluation.prediction_rows(y, predicted), plots / "predicted_vs_actual.csv")
    else:
        classes = pipeline.classes_
        proba = pipeline.predict_proba(X)
        predicted = classes[np.argmax(proba, axis=1)]
        positive = contract.get("positive_label")
        positive = next((c for c in classes if str(c) == positive), None)
        metrics = evaluation.classification_metrics(y, proba, classes, positive)
        write_csv(evaluation.confusion_rows(y, predicted), plots / "confusion.csv")
        if task == "binary":
            p_positive = proba[:, list(classes).index(positive)]
            write_csv(evaluation.roc_points(y, p_positive, positive), plots / "roc.csv")
            write_csv(
                evaluation.precision_recall_points(y, p_positive, positive),
                plots / "precision_recall.csv",
            )

    write_json({"task": task, "holdout_rows": len(y), **metrics}, paths.METRICS)
    shown = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
    print(f"evaluate: holdout ({len(y)} rows): {shown}")


if __name__ == "__main__":
    run_stage("evaluate", main)
