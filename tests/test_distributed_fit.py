"""The final refit of a boosting model on a Dask cluster (`autotab.modeling.distributed_fit`): a real
LocalCluster of two worker processes on 127.0.0.1, each reading its own row groups of a Parquet file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import dask
import distributed  # noqa: F401  (its config defaults loaded before a test's dask.config.set, see below)
import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import mean_squared_error, roc_auc_score
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline

from autotab.config import BackendConfig, FeaturesConfig, load_config
from autotab.errors import UserError
from autotab.estimators.calibration import TemperatureScaled
from autotab.estimators.table_cleaner import TableCleaner
from autotab.modeling.backends import dask_client
from autotab.modeling.distributed_fit import distributable, fit_on_cluster, fitted_parts, row_groups
from autotab.modeling.features import build_preprocessor
from autotab.modeling.training import whole_pipeline
from autotab.modeling.zoo import build_estimator
from autotab.tables import write_parquet
from tests.conftest import REPO
from tests.test_boosting import FAST, ZOO

FEATURES = FeaturesConfig(
    numeric_imputer="median", missing_indicator=True, scaler="standard", categorical_imputer="most_frequent"
)
ROWS, HOLDOUT = 12_000, 4_000

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    with dask_client(BackendConfig(name="dask_local", parallelism=2)) as client:
        yield client


def table(task: str, seed: int = 0) -> pd.DataFrame:
    """Numbers with missing values, a category and a non-linear truth."""
    rng = np.random.default_rng(seed)
    n = ROWS + HOLDOUT
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(["x", "y", "z"], n)})
    frame.loc[rng.random(n) < 0.05, "a"] = np.nan
    signal = np.nan_to_num(frame["a"].to_numpy()) + 0.7 * frame["b"] ** 2 + (frame["c"] == "x") - 1
    noisy = signal + rng.normal(scale=0.8, size=n)
    if task == "regression":
        frame["target"] = noisy
    elif task == "binary":
        frame["target"] = np.where(noisy > 0, "yes", "no")
    else:
        frame["target"] = pd.cut(noisy, [-np.inf, -0.5, 0.8, np.inf], labels=["low", "mid", "high"]).astype(str)
    return frame


def servable(family: str, task: str, class_weight: str | None = None, **overrides):
    estimator = build_estimator(ZOO[family], task, 0, {**FAST, **overrides}, class_weight=class_weight)
    pipeline = whole_pipeline(build_preprocessor(TableCleaner(), FEATURES, task, 0), estimator)
    if task == "multiclass":  # as tune serves a calibrated choice
        *steps, (name, model) = pipeline.steps
        pipeline.steps[-1] = (name, TemperatureScaled(model, 1.3))
    if task == "binary":
        return FixedThresholdClassifier(pipeline, threshold=0.4, pos_label="yes", response_method="predict_proba")
    return pipeline


def score(model, frame: pd.DataFrame, task: str) -> float:
    X, y = frame.drop(columns="target"), frame["target"]
    if task == "regression":
        return -(mean_squared_error(y, model.predict(X)) ** 0.5)
    if task == "binary":
        return roc_auc_score(y == "yes", model.predict_proba(X)[:, 1])
    return -float(np.mean(-np.log(model.predict_proba(X)[np.arange(len(y)), np.searchsorted(model.classes_, y)])))


@pytest.mark.parametrize(
    ("family", "task", "class_weight"),
    [("lightgbm", "binary", None), ("xgboost", "multiclass", "balanced"), ("lightgbm", "regression", None),
     ("xgboost", "regression", None)],
)  # fmt: skip
def test_the_trees_fitted_on_the_cluster_score_as_an_in_process_fit_on_every_row(
    client, tmp_path, family, task, class_weight
):
    frame = table(task)
    train, holdout = frame.iloc[:ROWS], frame.iloc[ROWS:]
    parquet = tmp_path / "train.parquet"
    train.to_parquet(parquet, index=False, row_group_size=3_000)  # four partitions, both workers fit
    assert row_groups(parquet) == [3_000] * 4
    sample = train.sample(2_000, random_state=0)

    on_cluster = servable(family, task, class_weight)
    rows = fit_on_cluster(
        on_cluster, sample_X=sample.drop(columns="target"), sample_y=sample["target"], parquet=parquet,
        target="target", client=client,
    )  # fmt: skip
    assert rows == ROWS
    on_sample = servable(family, task, class_weight).fit(sample.drop(columns="target"), sample["target"])
    rounds = fitted_parts(on_sample)[1].n_estimators_

    # The served thing is the same single-machine Pipeline, the library's own estimator inside.
    _, boosted = fitted_parts(on_cluster)
    assert type(boosted.model_).__module__.split(".")[0] == family
    assert boosted.model_.n_features_in_ == boosted.n_features_in_
    # The round count is the sample's early-stopped one, the trees are of every row: the same model
    # as one process fits on every row with that many rounds (within noise), better than the sample's.
    assert boosted.n_estimators_ == rounds
    in_process = servable(family, task, class_weight, n_estimators=rounds, early_stopping_rounds=None)
    in_process.fit(train.drop(columns="target"), train["target"])
    got, expected, sampled = (score(m, holdout, task) for m in (on_cluster, in_process, on_sample))
    noise = 0.005 if task == "binary" else 0.01 * abs(expected)
    assert abs(got - expected) < noise, (got, expected)
    assert got > sampled, (got, sampled)

    # It pickles, and a process without Dask predicts with it.
    joblib.dump(on_cluster, tmp_path / "model.joblib")
    holdout.drop(columns="target").to_parquet(tmp_path / "holdout.parquet")
    method = "predict" if task == "regression" else "predict_proba"
    script = (
        "import sys, joblib, pandas as pd; m = joblib.load(sys.argv[1]); "
        f"print(m.{method}(pd.read_parquet(sys.argv[2])).sum()); print('distributed' in sys.modules)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script, tmp_path / "model.joblib", tmp_path / "holdout.parquet"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    expected_sum = getattr(on_cluster, method)(holdout.drop(columns="target")).sum()
    assert float(shown[0]) == pytest.approx(expected_sum, rel=1e-9) and shown[1] == "False"


def test_each_worker_reads_its_own_row_groups(tmp_path):
    train = table("binary").iloc[:ROWS]
    write_parquet(train, tmp_path / "train.parquet")
    # 100,000 rows a group (tables.ROW_GROUP_ROWS): this table is one; a larger one is read in pieces
    assert row_groups(tmp_path / "train.parquet") == [ROWS]
    train.to_parquet(tmp_path / "groups.parquet", row_group_size=5_000)
    assert row_groups(tmp_path / "groups.parquet") == [5_000] * 2 + [2_000]


def test_a_sample_missing_a_class_of_the_rows_is_refused(client, tmp_path):
    train = table("multiclass").iloc[:ROWS]
    train.loc[train.index[:3], "target"] = "rare"
    write_parquet(train, tmp_path / "train.parquet")
    sample = train.iloc[100:2_100]
    with pytest.raises(UserError, match=r"misses the class\(es\) \['rare'\]"):
        fit_on_cluster(
            servable("lightgbm", "multiclass"), sample_X=sample.drop(columns="target"), sample_y=sample["target"],
            parquet=tmp_path / "train.parquet", target="target", client=client,
        )  # fmt: skip


def test_only_what_the_cluster_can_fit_is_chosen_from():
    board = pd.DataFrame({"model": ["catboost", "xgboost", "logistic_regression", "lightgbm"]})
    assert list(distributable(board)["model"]) == ["xgboost", "lightgbm"]
    with pytest.raises(UserError, match="neither lightgbm nor xgboost passed the leaderboard"):
        distributable(board.iloc[[0, 2]])
    with pytest.raises(UserError, match="RandomForestClassifier has no Dask interface"):
        fitted_parts(Pipeline([("model", RandomForestClassifier())]))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, r"train.distributed_fit: true needs a Dask cluster: add -S backend=dask_local"),
        ({"backend": {"name": "dask_local"}, "model": "catboost"}, r"model=catboost has no Dask interface"),
        ({"backend": {"name": "dask"}, "candidates": ["ridge"]}, r"train.candidates has neither lightgbm nor xgboost"),
    ],
)
def test_a_distributed_fit_that_cannot_be_is_refused_when_the_config_is_read(tmp_path, overrides, message):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"]["distributed_fit"] = True
    params["backend"] = {**params.get("backend", {}), **overrides.get("backend", {})}
    if "model" in overrides:
        params["model"] = params["zoo"][overrides["model"]]
    if "candidates" in overrides:
        params["train"]["candidates"] = overrides["candidates"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match=message):
        load_config(tmp_path / "params.yaml")


def fit_killing_a_worker(tmp_path, allowed_failures: int) -> None:
    """A LightGBM fit on a cluster of its own, one worker process killed while it trains (a lost
    machine)."""
    frame = table("binary")
    parquet = tmp_path / "train.parquet"
    frame.iloc[:ROWS].to_parquet(parquet, index=False, row_group_size=3_000)
    sample = frame.iloc[:2_000]
    # Many slow rounds: the training task runs for seconds, long enough to be caught running.
    model = servable("lightgbm", "binary", n_estimators=1500, early_stopping_rounds=None, learning_rate=0.01)
    killed: list[str] = []
    # (Were `distributed` not imported yet, this set would find no "distributed" section, and its exit
    # would remove the whole section, defaults loaded since included: hence the import at the top.)
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}),
        dask_client(BackendConfig(name="dask_local", parallelism=2)) as client,
    ):
        pids = client.run(os.getpid)

        def kill_a_training_worker() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not killed:
                for worker, keys in client.processing().items():
                    training = [str(k) for k in keys if "_train_part" in str(k)]
                    if training:
                        os.kill(pids[worker], signal.SIGKILL)
                        killed.extend(training)
                        return
                time.sleep(0.02)

        threading.Thread(target=kill_a_training_worker, daemon=True).start()
        fit_on_cluster(
            model, sample_X=sample.drop(columns="target"), sample_y=sample["target"], parquet=parquet,
            target="target", client=client,
        )  # fmt: skip
    assert killed, "no training task was caught running"


@pytest.mark.parametrize("allowed_failures", [0, 3], ids=["no retries", "Dask's default retries"])
def test_a_lightgbm_worker_lost_mid_fit_fails_the_fit_in_one_line_at_once(tmp_path, allowed_failures):
    # With no retries, the first loss is past them (KilledWorker). With retries left, Dask would rerun
    # the lost worker's part, but LightGBM's peers wait on the lost one's socket (for `time_out`,
    # 120 minutes by default): the loss itself stops the fit (WorkerLost), unless a peer notices the
    # closed socket first and fails by itself (LightGBMError). Whichever comes first is the line.
    started = time.monotonic()
    lost = r"\((KilledWorker: |WorkerLost: worker tcp://127\.0\.0\.1:\d+ left while LightGBM|LightGBMError: )"
    with pytest.raises(UserError, match=rf"the fit on the Dask cluster failed {lost}.*Give them more memory") as error:
        fit_killing_a_worker(tmp_path, allowed_failures=allowed_failures)
    assert "\n" not in str(error.value)
    assert time.monotonic() - started < 300  # not LightGBM's timeout (a bound, not a benchmark)
