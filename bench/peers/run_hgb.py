"""The untuned baseline for the peer benchmark (see _common.py), run in autotab's own .venv:
scikit-learn's HistGradientBoosting with its defaults, text columns ordinal-encoded and handed to
its native categorical support (rarest levels grouped so that at most 250 remain; unseen and
missing levels are missing values). No tuning, no cleaning, no feature work."""

from __future__ import annotations

import numpy as np
import pandas as pd
import sklearn
from _common import class_columns, read_job, read_tables, write_answer
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder


def baseline(X: pd.DataFrame, task: str, seed: int):
    text = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
        max_categories=250,
    )
    columns = make_column_transformer((encoder, text), remainder="passthrough", verbose_feature_names_out=False)
    categorical = [True] * len(text) + [False] * (X.shape[1] - len(text))
    model = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    return make_pipeline(columns, model(categorical_features=categorical, random_state=seed))


def main() -> None:
    job = read_job()
    train, test = read_tables(job)
    X, y = train.drop(columns=[job["target"]]), train[job["target"]]
    pipeline = baseline(X, job["task"], job["seed"]).fit(X, y)
    if job["task"] == "regression":
        frame = pd.DataFrame({"prediction": pipeline.predict(test)})
    else:
        frame = class_columns(job, labels=pipeline.classes_, proba=pipeline.predict_proba(test))
    write_answer(job, frame, {"model": "hist_gradient_boosting (defaults)", "version": sklearn.__version__})


if __name__ == "__main__":
    main()
