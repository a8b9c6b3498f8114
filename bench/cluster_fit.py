"""The final refit on a Dask cluster (`train.distributed_fit`) against the same model fitted in one
process, on tables made as bench/scale.py makes them (German credit resampled with noise, from the
shared benchmark tables beside the checkout: this script, like every benchmark, needs them).

The target of every generated row is drawn from a logistic model of the real table (`relabelled`), so
that near-duplicate rows do not make the holdout trivial. For each size, the training rows are
written as Parquet in 100,000-row groups, as the clean stage writes them, and 100,000 more rows are
held out. Both sides serve `--family` (XGBoost by default: its Dask interface builds its quantised
matrix from a worker's parts as they are, where LightGBM's first concatenates them into one more
copy) with the shipped defaults, behind the default cleaner and features recipe; the recipe and the
round count come from the same seeded sample of `LOCAL_FIT_ROWS` rows (early stopping on it), the
trees from every row:

- one process (2 threads, the machine's cores), which reads the whole table;
- a Dask LocalCluster on 127.0.0.1 with 2 single-threaded worker processes, each with a memory
  limit below the training table's in-memory size; this process reads only the sample and the
  target column, each worker its own row groups (`autotab.modeling.distributed_fit`).

Each side runs in a fresh process: wall seconds, peak resident memory (the process's, and each
worker's), and the holdout ROC AUC.

    .venv/bin/python bench/cluster_fit.py --rows 4000000 --limit-share 1.5       # both sides
    .venv/bin/python bench/cluster_fit.py --rows 8000000 --sides cluster          # workers below the table
"""

from __future__ import annotations

import sys

# Python puts this file's folder first on sys.path, and bench/distributed.py is named like Dask's
# package: look there last, so `import distributed` finds Dask (in worker processes too).
sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scale import SOURCE, TABLE, TARGET, generated  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = ROOT / "bench" / ".scratch" / "cluster_fit"
HOLDOUT = 100_000
FEATURES = {"numeric_imputer": "median", "missing_indicator": True, "scaler": "standard",
            "categorical_imputer": "most_frequent"}  # fmt: skip


def relabelled(table: pd.DataFrame, source: pd.DataFrame) -> pd.DataFrame:
    """`table` with its target drawn from a logistic model of the source table: resampled rows are
    near-duplicates of one another, so their own labels would be memorised (holdout ROC AUC 1.0);
    drawn labels leave a model something to learn and a ceiling below 1."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X = source.drop(columns=TARGET)
    categorical = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    numeric = [c for c in X.columns if c not in categorical]
    encode = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), categorical), (StandardScaler(), numeric))
    truth = make_pipeline(encode, LogisticRegression(max_iter=1000)).fit(X, source[TARGET])
    probability = truth.predict_proba(table[X.columns].fillna(X.median(numeric_only=True)))
    drawn = np.random.default_rng(1).random(len(table)) < probability[:, 1]
    return table.assign(**{TARGET: np.where(drawn, truth.classes_[1], truth.classes_[0])})


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class SampledPeak:
    """This process's resident memory, sampled every 0.1 s: the driver's ru_maxrss, next to a
    LocalCluster it started, counted several times what the process ever held (6.8 GB, where
    sampling found 0.75 GB)."""

    def __init__(self) -> None:
        import threading

        import psutil

        self.peak, self._process = 0, psutil.Process()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while True:
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(0.1)

    @property
    def mb(self) -> float:
        return max(self.peak, self._process.memory_info().rss) / 2**20


def servable(family_name: str, **overrides):
    from autotab.config import FeaturesConfig, load_config
    from autotab.estimators.table_cleaner import TableCleaner
    from autotab.modeling.features import build_preprocessor
    from autotab.modeling.training import whole_pipeline
    from autotab.modeling.zoo import build_estimator

    family = load_config(ROOT / "params.yaml").zoo[family_name]
    recipe = build_preprocessor(TableCleaner(), FeaturesConfig(**FEATURES), "binary", 0)
    return whole_pipeline(recipe, build_estimator(family, "binary", 0, overrides))


def sample_of(train: Path) -> pd.DataFrame:
    """The seeded sample both sides fit the recipe and the round count on (every row group's share)."""
    import pyarrow.parquet as pq

    from autotab.modeling.distributed_fit import LOCAL_FIT_ROWS, read_target, row_groups

    rows = len(read_target(train, TARGET))
    keep = np.sort(np.random.default_rng(0).choice(rows, size=min(LOCAL_FIT_ROWS, rows), replace=False))
    parts, start = [], 0
    for group, rows in enumerate(row_groups(train)):
        inside = keep[(keep >= start) & (keep < start + rows)] - start
        parts.append(pq.ParquetFile(train).read_row_group(group).to_pandas().iloc[inside])
        start += rows
    return pd.concat(parts, ignore_index=True)


def auc(model, holdout: Path) -> float:
    from sklearn.metrics import roc_auc_score

    frame = pd.read_parquet(holdout)
    probability = model.predict_proba(frame.drop(columns=TARGET))
    return float(roc_auc_score(frame[TARGET] == model.classes_[1], probability[:, 1]))


def one_process(family: str, train: Path, holdout: Path) -> dict:
    started = time.monotonic()
    sample = sample_of(train)
    probe = servable(family).fit(sample.drop(columns=TARGET), sample[TARGET])
    rounds = probe.steps[-1][1].n_estimators_
    frame = pd.read_parquet(train)
    model = servable(family, n_estimators=rounds, early_stopping_rounds=None, n_jobs=2)
    model.fit(frame.drop(columns=TARGET), frame[TARGET])
    wall = time.monotonic() - started
    return {"wall_s": wall, "peak_mb": peak_mb(), "auc": auc(model, holdout), "rounds": rounds}


def on_cluster(family: str, train: Path, holdout: Path, memory_limit_mb: int) -> dict:
    from distributed import Client, LocalCluster

    from autotab.modeling.distributed_fit import fit_on_cluster

    sampled = SampledPeak()
    started = time.monotonic()
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                     memory_limit=f"{memory_limit_mb}MB", local_directory=str(SCRATCH / "dask")) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        client.wait_for_workers(2)
        up = time.monotonic()
        sample = sample_of(train)
        model = servable(family)
        rows = fit_on_cluster(
            model, sample_X=sample.drop(columns=TARGET), sample_y=sample[TARGET], parquet=train, target=TARGET,
             client=client,
        )  # fmt: skip
        wall = time.monotonic() - up
        workers = client.run(peak_mb)
    return {
        "wall_s": wall, "start_s": up - started, "peak_mb": sampled.mb, "worker_peak_mb": sorted(workers.values()),
        "auc": auc(model, holdout), "rounds": model.steps[-1][1].n_estimators_, "rows": rows,
        "memory_limit_mb": memory_limit_mb,
    }  # fmt: skip


def measured(*args: str) -> dict:
    """One side in a fresh process (its peak memory is its own)."""
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[4_000_000])
    parser.add_argument("--columns", type=int, default=60, help="widened as bench/scale.py widens (numeric copies)")
    parser.add_argument("--family", choices=["xgboost", "lightgbm"], default="xgboost")
    parser.add_argument("--limit-share", type=float, default=0.85,
                        help="each worker's memory limit: this share of the training frame in memory")  # fmt: skip
    parser.add_argument("--sides", nargs="+", choices=["one", "cluster"], default=["one", "cluster"],
                        help="which fits to run (only cluster: a table one process could not hold here)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/cluster_fit.md")
    parser.add_argument("--side", nargs="*", help=argparse.SUPPRESS)  # internal: one side, in its own process
    args = parser.parse_args()
    if args.side:
        side, train, holdout, *limit = args.side
        if side == "one":
            result = one_process(args.family, Path(train), Path(holdout))
        else:
            result = on_cluster(args.family, Path(train), Path(holdout), int(limit[0]))
        print(json.dumps(result))
        return
    if not (SOURCE / TABLE).is_file():
        sys.exit(f"{SOURCE / TABLE} not found: the benchmark tables live beside the checkout, in ../shared")
    from autotab.tables import write_parquet

    SCRATCH.mkdir(parents=True, exist_ok=True)
    source = pd.read_csv(SOURCE / TABLE)
    records = args.out.with_suffix(".jsonl")
    for rows in args.rows:
        train, holdout = (
            SCRATCH / f"train_{rows}x{args.columns}.parquet",
            SCRATCH / f"holdout_{rows}x{args.columns}.parquet",
        )
        if not train.exists():  # seeded: the same table every time
            table = relabelled(generated(source, rows + HOLDOUT, seed=0, columns=args.columns), source)
            write_parquet(table.iloc[rows:], holdout)
            write_parquet(table.iloc[:rows], train)
            del table
        table_mb = pd.read_parquet(train).memory_usage(deep=True).sum() / 2**20
        common = {"rows": rows, "columns": args.columns, "family": args.family, "table_mb": round(table_mb)}
        if "one" in args.sides:
            one = measured("--family", args.family, "--side", "one", str(train), str(holdout))
            print(f"{rows:,} rows, one process: {one}", flush=True)
            with records.open("a") as out:
                out.write(json.dumps({**common, "side": "one process", **one}) + "\n")
        if "cluster" not in args.sides:
            continue
        limit = int(args.limit_share * table_mb)
        cluster = measured("--family", args.family, "--side", "cluster", str(train), str(holdout), str(limit))
        print(f"{rows:,} rows, cluster: {cluster}", flush=True)
        with records.open("a") as out:
            out.write(json.dumps({**common, "side": "cluster", **cluster}) + "\n")
    text = markdown([json.loads(line) for line in records.read_text().splitlines()])
    args.out.write_text(text)
    print(text)


def markdown(records: list[dict]) -> str:
    """The latest record of each table, side and memory limit, in the order they were first run."""
    latest = {(r["rows"], r["columns"], r["family"], r["side"], r.get("memory_limit_mb")): r for r in records}
    lines = []
    for r in latest.values():
        where = (
            "one process, 2 threads"
            if r["side"] == "one process"
            else (f"2 Dask workers, {r['memory_limit_mb']:,} MB limit each")
        )
        start = f" (+{r['start_s']:.0f} start)" if "start_s" in r else ""
        workers = " / ".join(f"{m:,.0f}" for m in r.get("worker_peak_mb", []))
        peak = "" if r["peak_mb"] is None else f"{r['peak_mb']:,.0f}"
        lines.append(
            f"| {r['rows']:,} x {r['columns']} | {r['table_mb']:,} | {r['family']} | {where} | "
            f"{r['wall_s']:.0f}{start} | {peak} | {workers} | "
            f"{r['auc']:.4f} | {r['rounds']} | {r.get('note', '')} |"
        )
    return "\n".join([
        "# The final refit on a Dask cluster against one process", "",
        "Written by `bench/cluster_fit.py` from the JSONL file beside it (read the script's docstring for",
        "the method). The shipped defaults; the recipe and the round count from the same seeded sample on",
        f"both sides; the trees on every training row; ROC AUC on {HOLDOUT:,} held-out rows. Table MB: the",
        "training frame in memory (pandas, deep). Peak MB: resident memory of the process that ran the fit",
        "(on the cluster: the driver, which read only the sample and the target column, sampled every 0.1 s)",
        "and of each worker (its ru_maxrss).", "",
        "| training rows x columns | table MB | family | where | wall s | peak MB | worker peak MB | holdout ROC AUC "
        "| rounds | note |",
        "|---|---|---|---|---|---|---|---|---|---|", *lines, "",
    ])  # fmt: skip


if __name__ == "__main__":
    main()
