"""Does the holdout tell the truth? Two tables a random split flatters, each checked on rows from
outside the training table.

`--table subjects`: repeated subjects; a random split against `data.group`, checked on subjects the
model has never seen.

A generated table of patients tested several times (`subject_id`, stable traits that identify a
subject: age, height, a baseline value; one measurement per visit; an outcome that is mostly the
subject's own). It goes through the user's path (`autotab add-data`, whose leakage checks print
their suggestion, then `dvc exp run` with the defaults), twice: as added (a random split of rows,
so visits of one subject sit on both sides), and with `data.group: subject_id`. Each run's model
then scores a fresh table of new subjects from the same generator with `autotab predict`; the
holdout ROC AUC that matches that score is the honest one.

`--table dated`: rows over three years whose outcome has a level of its own each month that no
column measures (a season, prices, a policy), a random split against `data.split: time`, checked on
the next six months' rows, after the table ends: what a model trained today is used for.

    .venv/bin/python bench/leakage.py [--table subjects|dated] [--subjects 200] [--visits 4] [--rows 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.budget import repository_with  # noqa: E402
from tests.support import run  # noqa: E402


def subjects(n_subjects: int, visits: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    subject = np.repeat(np.arange(n_subjects), visits)
    # Traits fixed per subject: together they identify one, and tell little about the outcome.
    age = np.repeat(rng.integers(25, 80, n_subjects), visits)
    height = np.repeat(rng.normal(170, 10, n_subjects).round(1), visits)
    baseline = np.repeat(rng.normal(0, 1, n_subjects).round(3), visits)
    disposition = np.repeat(rng.normal(0, 1.5, n_subjects), visits)  # the subject's own, unmeasured
    measurement = rng.normal(size=subject.size).round(3)
    logit = disposition + 0.3 * baseline + 0.8 * measurement
    outcome = rng.random(subject.size) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({
        "subject_id": [f"P{seed}-{s:04d}" for s in subject], "age": age, "height_cm": height,
        "baseline": baseline, "measurement": measurement, "target": np.where(outcome, "sick", "well"),
    })  # fmt: skip


def dated(rows: int, seed: int, start: float = 0.0, end: float = 1.0) -> pd.DataFrame:
    """Rows dated between `start` and `end` of a three-year span from 2021 (1 = 2024-01-01). Each
    month has its own level of the outcome (a season, prices, a policy) that no column measures, the
    same in every table drawn (one world); the measurements add the rest."""
    months = np.random.default_rng(100).normal(0, 1.5, 72)  # the world's monthly levels, 2021 to 2026
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(start, end, rows))
    first, second, other = rng.normal(size=(3, rows)).round(3)
    logit = months[(t * 36).astype(int)] + 1.0 * first + 0.5 * second  # `other` is noise
    outcome = rng.random(rows) < 1 / (1 + np.exp(-logit))
    day = np.datetime64("2021-01-01") + (t * 3 * 365.25).astype(int)
    return pd.DataFrame({
        "visit_date": day.astype(str), "first": first, "second": second, "other": other,
        "target": np.where(outcome, "sick", "well"),
    })  # fmt: skip


def holdout_and_fresh(repo: Path, name: str, fresh: pd.DataFrame, overrides: list[str]) -> tuple[float, float]:
    run(["dvc", "exp", "run", "-S", f"data={name}", *overrides], repo)
    holdout = json.loads((repo / "reports/metrics.json").read_text())["roc_auc"]
    with tempfile.TemporaryDirectory() as scratch:
        source, scored = Path(scratch) / "fresh.csv", Path(scratch) / "scored.csv"
        fresh.drop(columns="target").to_csv(source, index=False)
        run(["autotab", "predict", str(source), str(scored)], repo)
        probability = pd.read_csv(scored)["proba_sick"]
    return holdout, roc_auc_score(fresh["target"] == "sick", probability)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", choices=["subjects", "dated"], default="subjects")
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--visits", type=int, default=4)
    parser.add_argument("--rows", type=int, default=2000)
    options = parser.parse_args()
    if options.table == "subjects":
        repo = repository_with(subjects(options.subjects, options.visits, seed=0), "subjects")
        fresh = subjects(options.subjects, options.visits, seed=1)  # new patients
        print(f"{options.subjects} subjects x {options.visits} visits; ROC AUC of each run's model")
        truth = "new subjects"
        runs = (
            ("random rows (as added)", []),
            ("data.group: subject_id", ["-S", "data.group=subject_id", "-S", "data.drop=[subject_id]"]),
        )
    else:
        repo = repository_with(dated(options.rows, seed=0), "dated")
        fresh = dated(options.rows // 6, seed=1, start=1.0, end=1 + 1 / 6)  # the next six months
        print(f"{options.rows} rows over three years, scored on the next six months; ROC AUC of each run's model")
        truth = "the next six months"
        runs = (("random rows (as added)", []), ("data.split: time", ["-S", "data.split=time"]))
    print(f"| split | holdout (what the run reports) | {truth} (the truth) |")
    print("|---|---|---|")
    for label, overrides in runs:
        holdout, score = holdout_and_fresh(repo, options.table, fresh, overrides)
        print(f"| {label} | {holdout:.4f} | {score:.4f} |", flush=True)


if __name__ == "__main__":
    main()
