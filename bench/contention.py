"""The train stage's leaderboard with the machine otherwise idle, and with one other CPU-bound
process running beside it: with every fit on exactly the threads it is given (no OpenMP spinning on
all cores), the second should take no more than about twice the first on 2 cores.

Both runs use the same generated table, candidates and folds, in this process (`train.n_jobs`
worker processes of one thread, as the stage runs them), alternating idle / busy `--repeats` times;
the medians and their ratio are printed. The machine's load average is printed beside each figure.

    .venv/bin/python bench/contention.py [--rows 4000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from autotab.config import load_config  # noqa: E402
from autotab.data.splits import make_folds  # noqa: E402
from autotab.estimators.table_cleaner import TableCleaner  # noqa: E402
from autotab.modeling import leaderboard  # noqa: E402
from autotab.modeling.features import build_preprocessor  # noqa: E402
from autotab.modeling.zoo import build_estimator, supports  # noqa: E402
from bench.budget import generated_table  # noqa: E402


def spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def leaderboard_seconds(X, y, config) -> float:
    candidates = {
        name: build_estimator(config.family(name), "binary", 0)
        for name in config.train.candidates
        if supports(name, "binary")
    }
    preprocessor = build_preprocessor(TableCleaner(), config.features, "binary", 0)
    start = time.monotonic()
    leaderboard.rank(
        candidates, preprocessor, X, y, "binary", make_folds("binary", config.train.folds, 0), "roc_auc",
        positive="yes", n_jobs=config.train.n_jobs,
    )  # fmt: skip
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    os.chdir(Path(__file__).resolve().parents[1])  # params.yaml
    config = load_config()
    frame = generated_table(options.rows, 20, "binary")
    X, y = frame.drop(columns="target"), frame["target"]
    idle, busy = [], []
    for _ in range(options.repeats):
        idle.append(leaderboard_seconds(X, y, config))
        print(f"idle {idle[-1]:.1f} s (load {os.getloadavg()[0]:.2f})", flush=True)
        spinner = multiprocessing.get_context("spawn").Process(target=spin, args=(3600,), daemon=True)
        spinner.start()
        try:
            busy.append(leaderboard_seconds(X, y, config))
        finally:
            spinner.terminate()
        print(f"with one CPU-bound process {busy[-1]:.1f} s (load {os.getloadavg()[0]:.2f})", flush=True)
    ratio = statistics.median(busy) / statistics.median(idle)
    print(f"median idle {statistics.median(idle):.1f} s, with one CPU-bound process "
          f"{statistics.median(busy):.1f} s: {ratio:.2f}x ({options.rows} x 20, {config.train.n_jobs} workers, "
          f"{len(config.train.candidates)} candidates)")  # fmt: skip


if __name__ == "__main__":
    main()
