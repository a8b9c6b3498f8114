"""A table with more columns than rows, brought as a user brings one, through the whole pipeline.

Such a table once kept train silent for more than 7 minutes (500 x 2,000) and unfinished after 9. Now
train reports every family as it finishes, with the time elapsed, and the column budget screens the
features down to n / ln(n) before any family sees them. The 5-minute goal on 500 x 2,000 is a
benchmark (`bench/wide.py`); this is the same path on a smaller table of the same shape.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from tests.support import copy_repository, run

ROWS, COLUMNS = 150, 400  # 120 training rows after the 20% holdout


def wide_table(seed: int = 0) -> pd.DataFrame:
    """Numeric measurements with a few missing values and two categoricals; the signal in three columns."""
    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=(ROWS, COLUMNS - 2))
    frame = pd.DataFrame(numbers, columns=[f"m{i}" for i in range(COLUMNS - 2)])
    frame = frame.mask(rng.random(frame.shape) < 0.01)
    frame["site"] = rng.choice(["a", "b", "c"], ROWS)
    frame["batch"] = rng.choice(["x", "y"], ROWS)
    signal = numbers[:, 0] - numbers[:, 1] + 0.5 * numbers[:, 2] + rng.normal(scale=0.5, size=ROWS)
    frame["target"] = np.where(signal > 0, "yes", "no")
    return frame


@pytest.fixture(scope="module")
def run_output(tmp_path_factory) -> tuple[Path, str]:
    repo = tmp_path_factory.mktemp("wide") / "repo"
    repo.mkdir()
    copy_repository(repo)
    table = tmp_path_factory.mktemp("user-files") / "wide.parquet"
    wide_table().to_parquet(table, index=False)
    run(["autotab", "add-data", str(table), "--target", "target"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "wide"], repo)
    # Four families of the zoo's kinds (linear, neighbours, a forest, boosting; knn and the forest are
    # explained by sampling): each one on this table is the same path, at a second or more a family.
    families = ["-S", "train.candidates=[logistic_regression,knn,random_forest,lightgbm]"]
    in_process = ["-S", "train.n_jobs=1"]  # as tests.support.QUICK: no worker processes to start
    result = run(["dvc", "exp", "run", "-S", "data=wide", "-S", "tune.n_trials=4", *in_process, *families], repo)
    return repo, result.stdout + result.stderr


@pytest.mark.slow
def test_train_reports_every_family_as_it_finishes_with_the_time_elapsed(run_output):
    repo, output = run_output
    reported = re.findall(r"^train: all rows: (\w+) \((\d+)/(\d+)\): (.*) \[(\d+) s\]$", output, re.MULTILINE)
    board = pd.read_csv(repo / "reports/leaderboard.csv")
    assert sorted(name for name, *_ in reported) == sorted(board["model"])
    assert [int(done) for _, done, *_ in reported] == list(range(1, len(reported) + 1))
    assert {int(total) for _, _, total, *_ in reported} == {len(reported)}
    elapsed = [int(seconds) for *_, seconds in reported]
    assert elapsed == sorted(elapsed)  # the time since the stage started, as each family finished
    assert all(outcome.startswith("roc_auc ") for _, _, _, outcome, _ in reported)


@pytest.mark.slow
def test_the_column_budget_screens_to_n_over_ln_n_and_the_run_finishes_with_a_served_model(run_output):
    repo, output = run_output
    n_train = round(ROWS * 0.8)
    kept = int(n_train / math.log(n_train))
    assert (
        f"the column budget kept the {kept} most related to the target (n / ln(n) of the {n_train} training rows, "
        "features.sure_screening)" in output
    )
    model = joblib.load(repo / "models/model.joblib")
    budget = model.estimator_.named_steps["budget"]  # the evaluated Pipeline, behind its decision threshold
    assert int(budget.support_.sum()) == kept
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert metrics["data"] == "wide" and metrics["holdout_rows"] == ROWS - n_train
    assert metrics["roc_auc"] > 0.7  # the signal is in three columns: the screening kept them
    assert (repo / "models/autotab.bento").stat().st_size > 0
