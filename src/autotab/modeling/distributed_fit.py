"""The final refit on a Dask cluster (`train.distributed_fit: true`): a boosting model fitted on every
training row through its library's own Dask interface (`lightgbm.dask`, `xgboost.dask`), each worker
reading and transforming its own row groups of the training Parquet file, so that no process holds
the whole feature matrix.

What is learned where:
- In this process, on a seeded sample of at most `LOCAL_FIT_ROWS` of the rows the choice was made
  on: the cleaner's and the features recipe's statistics (medians, category vocabularies,
  encodings, scales) and the boosting round count, by the estimator's own early stopping. The
  statistics are per column, which a sample of that size estimates well; a category too rare to be
  in the sample reaches the model as unknown, as an unseen category does when serving. The round
  count is kept as found, as AutoGluon's `refit_full` keeps it (LightGBM's Dask interface cannot
  stop early); every row would usually afford more rounds, so this errs toward fewer trees.
- On the cluster, on every row: the trees. Data-parallel LightGBM sums the workers' histograms;
  XGBoost merges their quantile sketches, so its bin edges differ slightly from one process's.

The result is the same single-machine Pipeline as an in-process fit (the library's own estimator
inside autotab's wrapper), so evaluate, package and the service do not change. It is not
byte-reproducible: which worker gets which row groups changes the order histograms are summed in.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline

from autotab.config import DISTRIBUTABLE_FAMILIES, BackendConfig
from autotab.errors import UserError
from autotab.estimators.boosting import BoostedTrees, LightGBMTrees, XGBoostTrees
from autotab.estimators.calibration import TemperatureScaled
from autotab.modeling.backends import dask_client

# The in-process part of the fit (the recipe, the round count) sees at most this many rows.
LOCAL_FIT_ROWS = 100_000
# The feature matrix on the workers: half the memory of float64 (LightGBM concatenates a
# worker's parts into one more copy), and what XGBoost converts to anyway; LightGBM bins the values,
# and a bin edge moved in the eighth digit changes no split that matters.
FEATURE_DTYPE = np.float32
# Minutes a LightGBM worker waits on a peer's socket before it fails (LightGBM's `time_out`).
LIGHTGBM_SOCKET_TIMEOUT_MIN = 10

T = TypeVar("T")


def distributable(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard's rows (best first) that a distributed fit can serve (the config allows only
    such a pinned model); the search and the choice are made among them, with no ensemble (its
    other members would fit in one process)."""
    kept = board[board["model"].isin(DISTRIBUTABLE_FAMILIES)].reset_index(drop=True)
    if kept.empty:
        raise UserError(
            f"train.distributed_fit: neither {' nor '.join(DISTRIBUTABLE_FAMILIES)} passed the leaderboard "
            "(see reports/leaderboard.csv for why)"
        )
    return kept


def fitted_parts(model: BaseEstimator) -> tuple[Pipeline, BoostedTrees]:
    """The fitted preprocessing steps and the boosting estimator inside a fitted servable model:
    a Pipeline ending in the estimator, perhaps temperature-scaled, perhaps behind a threshold."""
    pipeline = model.estimator_ if isinstance(model, FixedThresholdClassifier) else model
    if not isinstance(pipeline, Pipeline):
        raise UserError(f"train.distributed_fit: cannot fit a {type(pipeline).__name__} on the cluster")
    estimator = pipeline.steps[-1][1]
    if isinstance(estimator, TemperatureScaled):
        estimator = estimator.estimator_
    if not isinstance(estimator, LightGBMTrees | XGBoostTrees):
        raise UserError(
            f"train.distributed_fit: {type(estimator).__name__} has no Dask interface; "
            f"only {' and '.join(DISTRIBUTABLE_FAMILIES)} fit on a cluster"
        )
    return pipeline[:-1], estimator


def row_groups(parquet: Path) -> list[int]:
    """The rows of each row group of a Parquet file: the partitions the workers read."""
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(parquet).metadata
    return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]


def read_target(parquet: Path, target: str) -> pd.Series:
    """One column of the file: the classes and their counts are of every row, not the sample's."""
    import pyarrow.parquet as pq

    return pq.read_table(parquet, columns=[target]).to_pandas()[target]


def _partition(parquet: str, group: int, preprocess: Pipeline, target: str, classes):
    """One row group, read and transformed on a worker: its feature matrix and encoded target."""
    import pyarrow.parquet as pq

    frame = pq.ParquetFile(parquet).read_row_group(group).to_pandas()
    features = np.asarray(preprocess.transform(frame.drop(columns=[target])), dtype=FEATURE_DTYPE)
    y = frame[target].to_numpy()
    encoded = np.searchsorted(classes, y) if classes is not None else y.astype(np.float64)
    return features, encoded


def refit_on_cluster(
    model: BaseEstimator, selection, backend: BackendConfig, *, parquet: Path, target: str
) -> tuple[int, int]:
    """Fit the servable `model` chosen on `selection` (a `search.Problem`) on the backend's cluster
    (`fit_on_cluster`), its recipe and round count on a seeded sample of at most `LOCAL_FIT_ROWS`
    of the selection's rows; returns the rows the trees and the recipe were fitted on."""
    local = selection.sample(LOCAL_FIT_ROWS)
    with dask_client(backend) as client:
        rows = fit_on_cluster(model, sample_X=local.X, sample_y=local.y, parquet=parquet, target=target, client=client)
    return rows, len(local.y)


def fit_on_cluster(
    model: BaseEstimator,
    *,
    sample_X: pd.DataFrame,
    sample_y: pd.Series,
    parquet: Path,
    target: str,
    client,
) -> int:
    """Fit the servable `model` (see `fitted_parts`) for serving: everything but the trees on the
    sample in this process, then the trees on every row of `parquet` (less its `target` column) on
    the cluster of `client`. Returns the rows the trees were fitted on."""
    import dask
    import dask.array as da

    model.fit(sample_X, sample_y)
    preprocess, boosted = fitted_parts(model)
    y_all = read_target(parquet, target)
    classes = None
    weight_of_class = None
    if hasattr(boosted, "classes_"):
        classes = np.unique(y_all.to_numpy())
        if len(classes) != len(boosted.classes_) or not (classes == boosted.classes_).all():
            missing = sorted(set(classes.tolist()) - set(boosted.classes_.tolist()))
            raise UserError(
                f"train.distributed_fit: the sample the model was chosen on misses the class(es) {missing} "
                "of the training rows; raise train.screen_rows, or remove the rare class"
            )
        if boosted.class_weight == "balanced":  # as compute_sample_weight, from every row's counts
            counts = np.bincount(np.searchsorted(classes, y_all.to_numpy()), minlength=len(classes))
            weight_of_class = len(y_all) / (len(classes) * counts)
    n_features = boosted.n_features_in_
    # Part of the task graph rather than scattered: a worker restarted (out of memory) gets it again.
    shipped = dask.delayed(preprocess, pure=True)
    # Workers open the file by its absolute path: on a cluster of several machines, the repository
    # must be on a filesystem they share, at the same path.
    located = str(Path(parquet).resolve())
    parts_X, parts_y = [], []
    for group, rows in enumerate(row_groups(parquet)):
        part = dask.delayed(_partition, pure=True)(located, group, shipped, target, classes)
        parts_X.append(da.from_delayed(part[0], shape=(rows, n_features), dtype=FEATURE_DTYPE))
        parts_y.append(da.from_delayed(part[1], shape=(rows,), dtype=np.int64 if classes is not None else np.float64))
    X, y = da.concatenate(parts_X), da.concatenate(parts_y)
    weight = None if weight_of_class is None else y.map_blocks(lambda codes: weight_of_class[codes], dtype=np.float64)
    try:
        boosted.model_ = _fit_library_on_cluster(boosted.final_library_model(), X, y, weight, client)
    except _cluster_failures() as error:
        # A worker lost mid-fit is retried by Dask (`distributed.scheduler.allowed-failures` times);
        # past that, the stage stops here, before it writes anything.
        reason = (str(error).strip().splitlines() or [""])[0][:200]
        lost = (
            "a worker was lost" if isinstance(error, WorkerLost) else "workers were lost more often than Dask retries"
        )
        raise UserError(
            f"train.distributed_fit: the fit on the Dask cluster failed ({type(error).__name__}: {reason}); "
            f"{lost}, out of memory? Give them more memory (or more workers), then rerun"
        ) from None
    return len(y_all)


def _cluster_failures() -> tuple[type[BaseException], ...]:
    """What a lost worker or a broken library network raises out of a fit on the cluster."""
    from concurrent.futures import CancelledError

    import lightgbm
    import xgboost
    from distributed import KilledWorker

    # OSError covers Dask's CommClosedError; CancelledError its FutureCancelledError.
    return OSError, KilledWorker, CancelledError, WorkerLost, lightgbm.basic.LightGBMError, xgboost.core.XGBoostError


class WorkerLost(Exception):
    """A worker left the cluster during a LightGBM fit, which cannot go on without it."""


def _fit_while_workers_stay(fit: Callable[[], T], client, poll_s: float = 0.2) -> T:
    """`fit()`, failing with WorkerLost as soon as a worker that was there when it began leaves.

    LightGBM's distributed training is not fault tolerant: its workers talk over their own sockets,
    so one killed mid-fit leaves the others waiting on it, and Dask's retry of the lost worker's
    part waits behind them (measured: a peer still waiting after many minutes). XGBoost's peers
    fail at once by themselves. The fit runs in a thread, abandoned on failure: leaving
    `dask_client` closes the client, which cancels it (and stops a private cluster's workers)."""
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as StillRunning

    present = set(client.nthreads())
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autotab-cluster-fit")
    running = pool.submit(fit)
    try:
        while True:
            try:
                return running.result(timeout=poll_s)
            except StillRunning:
                lost = present - set(client.nthreads())
                if lost:
                    raise WorkerLost(
                        f"worker {sorted(lost)[0]} left while LightGBM trained, which it cannot survive"
                    ) from None
    finally:
        pool.shutdown(wait=False)


def _fit_library_on_cluster(local, X, y, weight, client):
    """The library's Dask twin of `local` (same parameters), fitted on the cluster; returned as a
    fitted single-machine estimator of `local`'s class."""
    import lightgbm

    params = local.get_params()
    if isinstance(local, lightgbm.LGBMModel):
        import lightgbm.dask

        classifier = isinstance(local, lightgbm.LGBMClassifier)
        twin = lightgbm.dask.DaskLGBMClassifier if classifier else lightgbm.dask.DaskLGBMRegressor
        # Each worker fits on its own threads (LightGBM takes them from Dask, and warns that it
        # ignores n_jobs); workers sharing a host each find free ports for LightGBM's own network.
        # A bounded socket timeout (LightGBM's default is 120 minutes): a worker left waiting on a
        # lost peer (see `_fit_while_workers_stay`) gives up in minutes on a cluster that outlives us.
        twin_model = twin(client=client, **{"time_out": LIGHTGBM_SOCKET_TIMEOUT_MIN, **params})
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
            fitted = _fit_while_workers_stay(lambda: twin_model.fit(X, y, sample_weight=weight), client)
        return fitted.to_local()
    import xgboost
    import xgboost.dask

    classifier = isinstance(local, xgboost.XGBClassifier)
    twin = xgboost.dask.DaskXGBClassifier if classifier else xgboost.dask.DaskXGBRegressor
    fitted = twin(**params)
    fitted.client = client
    fitted.fit(X, y, sample_weight=weight, verbose=False)
    # The booster, with the scikit-learn wrapper's own record of it, into the local estimator.
    with tempfile.TemporaryDirectory(prefix="autotab-xgboost-") as scratch:
        saved = Path(scratch) / "model.json"
        fitted.save_model(saved)
        local.load_model(saved)
    return local
