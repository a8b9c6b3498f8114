"""Wall time of train + tune, through the user's path, on generated tables of a given size: with
`budget_s` (the goal: within the budget plus 15 s) and with the defaults (the goal: a 10,000 x 20
table within 3 minutes on 2 cores).

Each case runs in a fresh copy of the repository (`autotab add-data`, then `dvc exp run` up to the
features stage, untimed), then times `dvc repro --single-item train` and `... tune` as the user's
run would execute them. The machine's load average is printed beside each figure: rerun a case
taken while the machine was busy.

    .venv/bin/python bench/budget.py --rows 10000 --columns 20                 # defaults
    .venv/bin/python bench/budget.py --rows 50000 --columns 100 --budget 60    # a budgeted run
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support import copy_repository, run  # noqa: E402  (the tests' repository copy)


def generated_table(rows: int, columns: int, task: str, seed: int = 0) -> pd.DataFrame:
    """Numeric columns with interactions, a few categoricals, some missing values."""
    rng = np.random.default_rng(seed)
    n_categorical = max(1, columns // 5)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(columns - n_categorical)})
    for i in range(n_categorical):
        frame[f"c{i}"] = rng.choice([f"level{j}" for j in range(3 + 2 * i)], rows)
    frame.loc[rng.random(rows) < 0.05, "x1"] = np.nan
    signal = frame["x0"] - 0.5 * frame["x1"].fillna(0) * frame["x2"] + (frame["c0"] == "level0") + rng.normal(size=rows)
    if task == "regression":
        frame["target"] = signal.round(2)
    elif task == "multiclass":
        frame["target"] = pd.cut(signal, 4, labels=["a", "b", "c", "d"]).astype(str)
    else:
        frame["target"] = np.where(signal > 0.5, "yes", "no")
    return frame


def repository_with(table: pd.DataFrame, name: str, *add_data_options: str) -> Path:
    """A fresh copy of the repository (in a new temporary folder) with `table` added as the user
    adds data (`autotab add-data`, target column `target`) and committed; returns the copy."""
    scratch = Path(tempfile.mkdtemp(prefix=f"autotab-bench-{name}-"))
    repo = scratch / "repo"
    repo.mkdir()
    copy_repository(repo)
    path = scratch / f"{name}.parquet"
    table.to_parquet(path, index=False)
    added = run(["autotab", "add-data", str(path), "--target", "target", *add_data_options], repo)
    print(added.stdout.split("Next:")[0], end="", flush=True)  # what it found, leakage checks included
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", name], repo)
    return repo


def timed(args: list[str], repo: Path) -> tuple[float, str]:
    start = time.monotonic()
    result = run(args, repo)
    return time.monotonic() - start, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--task", choices=("binary", "multiclass", "regression"), default="binary")
    parser.add_argument("--budget", type=float, default=None, help="budget_s; default: none")
    parser.add_argument("--keep", action="store_true", help="keep the repository copy")
    options = parser.parse_args()
    table = generated_table(options.rows, options.columns, options.task)
    repo = repository_with(table, "generated", "--task", options.task)
    overrides = ["-S", "data=generated"] + ([] if options.budget is None else ["-S", f"budget_s={options.budget:g}"])
    run(["dvc", "exp", "run", *overrides, "features"], repo)
    load_before = os.getloadavg()[0]
    train_s, train_out = timed(["dvc", "repro", "--single-item", "train"], repo)
    tune_s, tune_out = timed(["dvc", "repro", "--single-item", "tune"], repo)
    load_after = os.getloadavg()[0]
    cv = json.loads((repo / "reports/cv.json").read_text())
    chosen = json.loads((repo / "reports/tuning/best_params.json").read_text())
    summary = json.loads((repo / "reports/tuning/summary.json").read_text())
    print(f"{options.rows} x {options.columns} {options.task}, budget_s={options.budget}: "
          f"train {train_s:.1f} s + tune {tune_s:.1f} s = {train_s + tune_s:.1f} s "
          f"(load average {load_before:.2f} before, {load_after:.2f} after)")  # fmt: skip
    best = cv[f"best_{cv['primary_metric']}"]
    print(
        f"  leaderboard: {cv['models_ok']} ok, {cv.get('models_skipped', 0)} skipped, "
        f"{cv.get('models_screened_out', 0)} screened out, "
        f"{cv['models_failed']} failed; best {cv['best_model']} {best:.4f}"
    )
    print(
        f"  tune: {summary['n_trials']} trials; chosen {chosen['model']} from the {chosen['chosen_from']}, "
        f"cv {summary['cv_single_chosen']:.4f}"
    )
    for line in (train_out + tune_out).splitlines():
        # The spending, each family's fit time, and each selection step (the SE rule on this table).
        if "budget" in line or ": fit " in line or line.startswith(("tune: defaults", "tune: search", "tune: ens")):
            print("  " + line.strip())
    print(f"  copy: {repo}" if options.keep else "")


if __name__ == "__main__":
    main()
