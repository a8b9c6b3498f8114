"""A wide table through the whole pipeline (ingest -> package): the wall time of every stage.

A generated 500-row x 2,000-column binary table (numeric measurements, a handful of categoricals,
a few missing values; the signal in a few columns), as an omics or sensor table looks. It runs in
a fresh copy of the repository through the user's path (`autotab add-data`, then each stage with
`dvc repro --single-item`, timed) with the defaults. The goal: the whole pipeline within 5 minutes
on 2 cores. The machine's load average is printed: rerun a figure taken while it was busy.

    .venv/bin/python bench/wide.py [--rows 500] [--columns 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.budget import repository_with  # noqa: E402
from tests.support import run  # noqa: E402

STAGES = ("validate", "ingest", "clean", "features", "train", "tune", "evaluate", "package")


def wide_table(rows: int, columns: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(rows, columns - 5))
    frame = pd.DataFrame(numeric, columns=[f"m{i}" for i in range(columns - 5)])
    for i in range(5):
        frame[f"c{i}"] = rng.choice(["a", "b", "c", "d"], rows)
    frame = frame.mask(rng.random(frame.shape) < 0.01)
    signal = numeric[:, 0] - numeric[:, 1] + 0.5 * numeric[:, 2] * numeric[:, 3] + rng.normal(size=rows)
    frame["target"] = np.where(signal > 0, "yes", "no")
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--columns", type=int, default=2000)
    options = parser.parse_args()
    repo = repository_with(wide_table(options.rows, options.columns), "wide")
    run(["dvc", "exp", "run", "-S", "data=wide", "validate"], repo)  # params.yaml for data=wide, untimed
    print(f"{options.rows} x {options.columns}, load average {os.getloadavg()[0]:.2f} before", flush=True)
    total = 0.0
    for stage in STAGES[1:]:
        start = time.monotonic()
        result = run(["dvc", "repro", "--single-item", stage], repo)
        seconds = time.monotonic() - start
        total += seconds
        lines = [line for line in result.stdout.splitlines() if line.startswith(f"{stage}:")]
        print(f"{stage:>9}: {seconds:6.1f} s  {lines[0] if lines else ''}", flush=True)
    print(f"    total: {total:6.1f} s (goal 300 s), load average {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
