"""Shared by the runners: the job file the bench writes, and how a runner writes its answer.

Every runner is started by bench/peers.py as `<venv>/bin/python bench/peers/run_<system>.py JOB.json`
in its own virtual environment; it reads the training table and the held-out features (the target
column removed) as pandas reads a CSV by default, fits under the job's budget and cores, and writes
`predictions.csv` (one column per class, in the job's class order, or `prediction`) and `info.json`
(the model it chose) into the job's output folder. Only the standard library and pandas are used
here, so this file works in every peer's environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd


def read_job() -> dict:
    return json.loads(Path(sys.argv[1]).read_text())


def read_tables(job: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training rows (with the target) and the held-out rows (without it). A column read as
    text from one file and as numbers from the other (a `?` for a missing value in one of them only)
    is text in both: each system sees one type per column, as it would in one file."""
    train, test = pd.read_csv(job["train"]), pd.read_csv(job["test"])
    numeric = pd.api.types.is_numeric_dtype
    mixed = {c: str for c in test.columns if c in train and numeric(train[c]) != numeric(test[c])}
    return train.astype(mixed), test.astype(mixed)


def class_columns(job: dict, labels, proba) -> pd.DataFrame:
    """Probabilities as one column per class of the job, in its order, whatever order or type the
    system keeps its labels in (matched by their text: `1` and `"1"` are the same class)."""
    by_text = {str(label): position for position, label in enumerate(labels)}
    missing = [c for c in job["classes"] if c not in by_text]
    if missing:
        raise SystemExit(f"the system has no probability for class(es) {missing}; it knows {list(by_text)}")
    return pd.DataFrame({c: proba[:, by_text[c]] for c in job["classes"]})


def write_answer(job: dict, predictions: pd.DataFrame, info: dict) -> None:
    out = Path(job["output"])
    out.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(out / "predictions.csv", index=False)
    (out / "info.json").write_text(json.dumps(info, indent=1, default=str))
