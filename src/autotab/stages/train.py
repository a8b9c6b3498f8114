"""train: K-fold cross-validation of the configured model on the training split."""

import joblib
import pandas as pd

from autotab import paths
from autotab.config import load_config
from autotab.errors import run_stage
from autotab.models import build_estimator
from autotab.tables import read_json, write_json
from autotab.training import (
    check_folds,
    cross_validate_pipeline,
    make_folds,
    primary_metric,
    split_xy,
    whole_pipeline,
)


def main() -> None:
    config = load_config()
    data, model, train_config = config.data, config.model, config.train
    contract = read_json(paths.contract(config.data.name))
    task = contract["task"]
    metric = primary_metric(task, train_config.metric)
    estimator = build_estimator(model, task, data.seed)

    train_rows = pd.read_parquet(paths.CLEAN_TRAIN)
    X, y = split_xy(train_rows, contract["target"])
    check_folds(y, task, train_config.folds)
    pipeline = whole_pipeline(joblib.load(paths.PREPROCESSOR_RECIPE), estimator)
    groups = train_rows[data.group] if data.group else None
    folds = make_folds(task, train_config.folds, data.seed, grouped=groups is not None)
    scores = cross_validate_pipeline(
        pipeline, X, y, task, folds, train_config.n_jobs, groups=groups
    )

    write_json({"model": model.name, "primary_metric": metric, **scores}, paths.CV_METRICS)
    print(
        f"train: {model.name} {train_config.folds}-fold CV {metric} = "
        f"{scores[metric]['mean']:.4f} ± {scores[metric]['std']:.4f}"
    )


if __name__ == "__main__":
    run_stage("train", main)
