"""FLAML for the peer benchmark (see _common.py): `AutoML().fit(X, y, task, time_budget, metric, seed)`."""

from __future__ import annotations

import flaml
import pandas as pd
from _common import class_columns, read_job, read_tables, write_answer
from flaml import AutoML

METRICS = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "rmse"}


def main() -> None:
    job = read_job()
    train, test = read_tables(job)
    X, y = train.drop(columns=[job["target"]]), train[job["target"]]
    automl = AutoML()
    automl.fit(
        X_train=X,
        y_train=y,
        task="regression" if job["task"] == "regression" else "classification",
        time_budget=job["budget_s"],
        metric=METRICS[job["metric"]],
        seed=job["seed"],
        n_jobs=job["cores"],
        verbose=0,
        log_file_name=f"{job['output']}/flaml.log",
    )
    if job["task"] == "regression":
        frame = pd.DataFrame({"prediction": automl.predict(test)})
    else:
        frame = class_columns(job, labels=automl.classes_, proba=automl.predict_proba(test))
    info = {"model": automl.best_estimator, "config": automl.best_config, "version": flaml.__version__}
    write_answer(job, frame, info)


if __name__ == "__main__":
    main()
