"""How the whole pipeline's cost grows with the number of rows, on this machine.

Tables are made from a real one (German credit, 1,000 rows x 20 columns, 13 of them categorical, from
the shared benchmark tables beside the checkout: this script, like every benchmark, needs them; the
project never does): its rows resampled with replacement, each numeric value moved by seeded noise
of 5% of its column's standard deviation (rounded back for integer columns), the categories as they
are, missing values kept. One wide variant copies the numeric columns, each copy with its own noise,
up to 500 columns. Tables are written as Parquet under bench/.scratch/scale/ (git-ignored).

Each size runs the whole pipeline the way a user runs it: a clone of the committed repository,
`autotab add-data`, then `dvc exp run -S data=... -S budget_s=...` of ingest and `dvc repro
--single-item` of each later stage, each under /usr/bin/time: wall and CPU seconds, peak resident
memory (the largest process of the stage, its workers included), and the size of what the stage
wrote. The figures include DVC's own work (hashing each stage's outputs), which a user pays too.

Beside them, the Dask side (`train.distributed_fit`): the final refit on a LocalCluster against the
same model fitted in one process, on the largest table both have trained (`bench/cluster_fit.py`
measures it; `--cluster-rows N` runs it on N rows first, else its last records are shown).

    .venv/bin/python bench/scale.py [--rows 10000 100000 1000000] [--wide] [--budget-s 120]
                                    [--cluster-rows 4000000] [--out bench/results/scale.md]
    .venv/bin/python bench/scale.py --rows --wide --merge   # redo the wide table, keep the others
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "datasets" / "bench"
TABLE, TARGET = "german_credit.csv", "credit_risk"
SCRATCH = ROOT / "bench" / ".scratch" / "scale"
STAGES = ["ingest", "validate", "clean", "features", "train", "tune", "evaluate", "package"]
WIDE_COLUMNS, WIDE_ROWS = 500, 100_000
NOISE = 0.05  # of a numeric column's standard deviation


def generated(source: pd.DataFrame, rows: int, seed: int, columns: int | None = None) -> pd.DataFrame:
    """`rows` rows resampled from `source`, numeric values noised; `columns`: widen to that many."""
    rng = np.random.default_rng(seed)
    frame = source.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)
    numeric = [c for c in frame.columns if c != TARGET and pd.api.types.is_numeric_dtype(frame[c])]

    def noised(values: pd.Series) -> pd.Series:
        moved = values + rng.normal(0.0, NOISE * float(values.std() or 1.0), len(values))
        whole = values.dropna().eq(values.dropna().round()).all()
        return moved.round() if whole else moved

    for column in numeric:
        frame[column] = noised(frame[column])
    copy = 0
    while columns is not None and frame.shape[1] < columns:
        base = numeric[copy % len(numeric)]
        frame[f"{base}_copy{copy}"] = noised(frame[base])
        copy += 1
    return frame


def timed(command: list[str], cwd: Path) -> dict[str, float]:
    """Run under /usr/bin/time -v: wall and CPU seconds and peak RSS (MB); fails loudly."""
    report = cwd.parent / "time.txt"  # outside the repository: `dvc exp run` stashes untracked files
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    # The clone's own code (committed HEAD), not this checkout's editable install with its edits.
    env.update(BENTOML_HOME=str(cwd / ".bentoml"), BENTOML_DO_NOT_TRACK="true", PYTHONPATH=str(cwd / "src"))
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", "-o", str(report), *command], cwd=cwd, env=env,
                          capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    text = report.read_text()

    def field(name: str) -> float:
        return float(re.search(rf"{re.escape(name)}: ([\d.]+)", text).group(1))

    return {
        "wall_s": wall,
        "cpu_s": field("User time (seconds)") + field("System time (seconds)"),
        "peak_rss_mb": field("Maximum resident set size (kbytes)") / 1024,
    }


def size_mb(path: Path) -> float:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20
    return path.stat().st_size / 2**20 if path.exists() else 0.0


def stage_outputs(repo: Path, stage: str) -> list[str]:
    outs = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"][stage].get("outs", [])
    return [next(iter(out)) if isinstance(out, dict) else out for out in outs]


def run_pipeline(table: pd.DataFrame, name: str, budget_s: int) -> list[dict]:
    """The whole pipeline on `table` in a fresh clone; one record per stage."""
    work = SCRATCH / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    repo = work / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    path = work / f"{name}.parquet"
    table.to_parquet(path, index=False)
    timed(["autotab", "add-data", str(path), "--target", TARGET, "--name", name, "--move"], repo)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", name], cwd=repo, check=True)
    records = []
    for stage in STAGES:
        if stage == "ingest":  # sets the experiment's params, then runs the first stage only
            command = ["dvc", "exp", "run", "-S", f"data={name}", "-S", f"budget_s={budget_s}", "ingest"]
        else:
            command = ["dvc", "repro", "--single-item", stage]
        measured = timed(command, repo)
        measured["output_mb"] = sum(size_mb(repo / out) for out in stage_outputs(repo, stage))
        records.append({"stage": stage, **measured})
        print(f"  {name} {stage}: {measured['wall_s']:.1f} s, {measured['peak_rss_mb']:.0f} MB", flush=True)
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    records.append({"stage": "metric", "value": metrics[metrics["primary_metric"]], "metric": metrics["primary_metric"],
                    "model": metrics.get("model")})  # fmt: skip
    return records


def plot(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted((r["rows"], name) for name, r in results.items() if not r["wide"])
    figure, axes = plt.subplots(figsize=(7, 5))
    for stage in STAGES:
        xs = [rows for rows, _ in sizes]
        ys = [next(s["wall_s"] for s in results[name]["stages"] if s["stage"] == stage) for _, name in sizes]
        axes.plot(xs, ys, marker="o", label=stage)
    axes.set(xscale="log", yscale="log", xlabel="rows", ylabel="wall seconds (DVC included)",
             title="autotab: time per stage against rows (German credit resampled, 2 cores)")  # fmt: skip
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


CLUSTER_RECORDS = ROOT / "bench/results/cluster_fit.jsonl"


def cluster_comparison(records: list[dict]) -> list[str]:
    """Markdown lines: the one-process and the Dask refit of the largest table both sides trained
    (the latest record of each), then any larger table only the cluster trained."""
    latest = {(r["rows"], r["columns"], r["family"], r["side"]): r for r in records}
    both = [key[:3] for key in latest if key[3] == "cluster" and (*key[:3], "one process") in latest]
    if not both:
        return []
    largest = max(both)
    lines = [
        "", "The final refit on a Dask cluster (`train.distributed_fit`) against one process, on the largest table",
        f"both trained (`bench/cluster_fit.py`, {largest[2]} with the shipped defaults, the recipe and rounds from",
        f"one seeded sample; `{CLUSTER_RECORDS.name}`):", "",
        "| training rows x columns | table MB | where | wall s | peak RSS MB | worker peak RSS MB | holdout ROC AUC |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    shown = [latest[(*largest, "one process")], latest[(*largest, "cluster")]]
    shown += [r for key, r in latest.items() if key[3] == "cluster" and key[:3] > largest]
    for r in shown:
        where = (
            "one process" if r["side"] == "one process" else f"2 Dask workers, {r['memory_limit_mb']:,} MB limit each"
        )
        peak = "" if r.get("peak_mb") is None else f"{r['peak_mb']:,.0f}"
        workers = " / ".join(f"{m:,.0f}" for m in r.get("worker_peak_mb", []))
        lines.append(f"| {r['rows']:,} x {r['columns']} | {r['table_mb']:,} | {where} | {r['wall_s']:.0f} | {peak} "
                     f"| {workers} | {r['auc']:.4f} |")  # fmt: skip
    return lines


def markdown(results: dict[str, dict], budget_s: int, cluster: list[dict] | None = None) -> str:
    lines = [
        f"Whole pipeline on German credit resampled (20 columns, 13 categorical), `budget_s={budget_s}`, "
        f"on this {os.cpu_count()}-core machine; wall and CPU seconds, peak RSS of the stage's largest process, "
        "and the stage's outputs. DVC's bookkeeping is included.",
        "",
        "| table | frame in memory | stage | wall s | CPU s | peak RSS MB | RSS / frame | outputs MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        frame_mb = result["frame_mb"]
        for record in result["stages"]:
            if record["stage"] == "metric":
                continue
            lines.append(
                f"| {name} | {frame_mb:.0f} MB | {record['stage']} | {record['wall_s']:.1f} | {record['cpu_s']:.1f} "
                f"| {record['peak_rss_mb']:.0f} | {record['peak_rss_mb'] / frame_mb:.1f}× | {record['output_mb']:.1f} |"
            )
        total = sum(r["wall_s"] for r in result["stages"] if r["stage"] != "metric")
        metric = next(r for r in result["stages"] if r["stage"] == "metric")
        lines.append(f"| {name} | | **total** | **{total:.0f}** | | | | holdout {metric['metric']} "
                     f"{metric['value']:.4f} ({metric['model']}) |")  # fmt: skip
    ordered = sorted((r["rows"], n) for n, r in results.items() if not r["wide"])
    if len(ordered) > 1:
        lines += ["", "Growth of wall time per 10× rows (goal: at most 12× for clean, features and package):", "",
                  "| from | to | " + " | ".join(STAGES) + " |", "|---|---|" + "---|" * len(STAGES)]  # fmt: skip
        for (small_rows, small), (large_rows, large) in zip(ordered, ordered[1:], strict=False):
            per_10x = np.log(10) / np.log(large_rows / small_rows)
            cells = []
            for stage in STAGES:
                a = next(s["wall_s"] for s in results[small]["stages"] if s["stage"] == stage)
                b = next(s["wall_s"] for s in results[large]["stages"] if s["stage"] == stage)
                cells.append(f"{(b / a) ** per_10x:.1f}×")
            lines.append(f"| {small_rows:,} | {large_rows:,} | " + " | ".join(cells) + " |")
    lines += cluster_comparison(cluster or [])
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--wide", action="store_true", help=f"also {WIDE_ROWS:,} rows x {WIDE_COLUMNS} columns")
    parser.add_argument("--budget-s", type=int, default=120, help="budget_s of every run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--merge", action="store_true", help="redo only these tables; keep the others' last figures")
    parser.add_argument("--cluster-rows", type=int, nargs="*", default=[],
                        help="first run bench/cluster_fit.py (both sides) on this many rows")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/scale.md")
    args = parser.parse_args()
    if not (SOURCE / TABLE).is_file():
        sys.exit(f"{SOURCE / TABLE} not found: the benchmark tables live beside the checkout, in ../shared")
    source = pd.read_csv(SOURCE / TABLE)
    runs = [(f"scale_{rows}", rows, None) for rows in args.rows]
    if args.wide:
        runs.append((f"scale_wide_{WIDE_ROWS}", WIDE_ROWS, WIDE_COLUMNS))
    # --merge: keep the other tables' figures from the last run (results.json) and redo only these.
    saved = SCRATCH / "results.json"
    results: dict[str, dict] = json.loads(saved.read_text()) if args.merge and saved.exists() else {}
    for name, rows, columns in runs:
        table = generated(source, rows, args.seed, columns)
        frame_mb = table.memory_usage(deep=True).sum() / 2**20
        print(f"{name}: {rows:,} rows x {table.shape[1]} columns, {frame_mb:.0f} MB in memory", flush=True)
        results[name] = {"rows": rows, "wide": columns is not None, "frame_mb": frame_mb,
                         "stages": run_pipeline(table, name, args.budget_s)}  # fmt: skip
        (SCRATCH / "results.json").write_text(json.dumps(results, indent=1))
    if args.cluster_rows:
        cluster_fit = [sys.executable, str(ROOT / "bench/cluster_fit.py"), "--rows", *map(str, args.cluster_rows)]
        subprocess.run(cluster_fit, check=True)
    cluster = (
        [json.loads(line) for line in CLUSTER_RECORDS.read_text().splitlines()] if CLUSTER_RECORDS.exists() else []
    )
    text = markdown(results, args.budget_s, cluster)
    print(text)
    args.out.write_text(text)
    if sum(not r["wide"] for r in results.values()) > 1:
        plot(results, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
