"""AutoGluon for the peer benchmark (see _common.py): `TabularPredictor(...).fit(train, time_limit,
presets="medium_quality")`, on the job's cores, no GPU."""

from __future__ import annotations

import autogluon.tabular
import pandas as pd
from _common import class_columns, read_job, read_tables, write_answer
from autogluon.tabular import TabularPredictor

METRICS = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "root_mean_squared_error"}


def main() -> None:
    job = read_job()
    train, test = read_tables(job)
    predictor = TabularPredictor(
        label=job["target"],
        eval_metric=METRICS[job["metric"]],
        problem_type=job["task"],
        path=f"{job['output']}/autogluon",
        verbosity=1,
    )
    predictor.fit(
        train,
        time_limit=job["budget_s"],
        presets="medium_quality",
        num_cpus=job["cores"],
        num_gpus=0,
    )
    if job["task"] == "regression":
        frame = pd.DataFrame({"prediction": predictor.predict(test).to_numpy()})
    else:
        proba = predictor.predict_proba(test, as_multiclass=True)
        frame = class_columns(job, labels=list(proba.columns), proba=proba.to_numpy())
    info = {"model": predictor.model_best, "version": autogluon.tabular.__version__}
    write_answer(job, frame, info)


if __name__ == "__main__":
    main()
