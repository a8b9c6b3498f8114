"""autotab against its peers: FLAML, AutoGluon and an untuned HistGradientBoosting, side by side on
the same training rows, scored on the same held-out rows by autotab's own metric code.

Reads ../shared: the seven benchmark tables come from ../shared/datasets/bench beside the
repository (tables.json gives each file's target, task and positive class; `--shared` moves it).
Benchmark scripts are the one place allowed to read it, and nothing from it is copied into the
project's runtime: every split, clone and model lives under bench/.scratch/ (git-ignored). The two
built-in tables come from conf/data/breast_biopsy.yaml and conf/data/penguins.yaml (their `drop`
columns are left out of every system's files; breast_biopsy's split keeps each sample_id on one side).

Per table: one seeded 80/20 split (stratified by class, or by 10 target-quantile bins for a
regression). Then, per system:

- autotab, the user's path, in a scratch `git clone` of this checkout's HEAD (its .venv on PATH,
  the clone's own src/ imported, its own BENTOML_HOME): `autotab add-data train.csv --target T
  --task TASK --name bench_T`, `git add`, `dvc exp run -S data=bench_T [-S budget_s=BUDGET]`,
  `autotab predict` on the held-out rows without the target. Modes (`--autotab-modes`): `budget`
  (`-S budget_s=BUDGET`) and `default` (the configured trials, no time limit). A mode the
  configuration does not know (Hydra: "Could not override") is recorded as unavailable. As a user's
  run does, autotab holds 20% of the training rows out for its own `evaluate`, so it chooses on
  64% of the table; its refit stage then fits the choice on all 80% the peers fit on (rows from before
  that stage, and a budget that fitted on a sample, served the 64% fit: the row's note says how many
  rows the served model saw). Its wall time includes evaluating, refitting and packaging the Bento.
- flaml, autogluon: each in its own virtual environment, bench/.venvs/<system> (git-ignored),
  created here with autotab's uv from the pinned bench/peers/<system>.txt (compiled from
  <system>.in), run by bench/peers/run_<system>.py with BUDGET seconds.
- hgb: scikit-learn's HistGradientBoosting with defaults (bench/peers/run_hgb.py, autotab's .venv).

Every system gets the same cores (`--cores`, default 2 = this machine: pinned with
sched_setaffinity, and OMP/MKL/OpenBLAS threads and FLAML's n_jobs / AutoGluon's num_cpus set to
it). A row records the primary metric (binary ROC AUC of tables.json's positive class, multiclass
log loss, regression RMSE), wall and CPU seconds (getrusage(RUSAGE_CHILDREN) deltas), the model
chosen, the 1-min load average before, at its peak during (sampled every 5 s) and after, and the CPU
the rest of the machine used meanwhile (/proc/stat). `contended`: the rest of the machine used more
than 0.3 x the cores the system itself used (the machine's load above 1.3 x its own);
`contended_load` is the same rule on the lagging 1-min load average. A row also keeps what a paired
comparison of two systems needs of its held-out predictions (`per_row`, compressed): peers.md gives
each of autotab's gaps with its bootstrap standard error, how much of it one split can tell from
chance. Rows are appended to
bench/results/peers.jsonl as they finish; a rerun skips the rows already done (`--rerun-contended`
redoes the contended ones), then peers.md beside it is rewritten from the latest row of each.

    .venv/bin/python bench/peers.py                 # all 9 tables, all systems: roughly 3 hours
    .venv/bin/python bench/peers.py --tables german_credit chile_vote --systems autotab flaml
    .venv/bin/python bench/peers.py --autotab-modes default --quick --results /tmp/try.jsonl
    .venv/bin/python bench/peers.py --systems autotab --autotab-modes budget --rerun   # after a change
    .venv/bin/python bench/peers.py --report        # only rewrite peers.md from peers.jsonl

`--quick` passes `-S tune.n_trials=5` to autotab (a trial run; its rows say so). On german_credit
(800 training rows) one table takes: flaml ~70 s, autogluon ~25 s, hgb ~10 s, autotab with a 60 s
budget ~220 s (the budget covers train and tune; the other stages, DVC and the Bento come on top),
autotab default ~560 s.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from autotab.metrics import binary_roc_auc, classification_metrics, maximisable, regression_metrics

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets" / "bench"
PEERS = ROOT / "bench" / "peers"
VENVS = ROOT / "bench" / ".venvs"
SCRATCH = ROOT / "bench" / ".scratch"
RESULTS = ROOT / "bench" / "results" / "peers.jsonl"
BUILT_IN = ("breast_biopsy", "penguins")
SYSTEMS = ("autotab", "flaml", "autogluon", "hgb")
MODES = ("budget", "default")
METRICS = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
SEED = 42
RESAMPLES = 1000  # of the held-out rows, for the standard error of a gap between two systems
CONTENDED = 1.3  # x the cores a system used: the machine's load above which a row is contended
UNKNOWN_KEY = re.compile(r"Could not override '([^']+)'")


@dataclass(frozen=True)
class Table:
    name: str
    file: Path
    target: str
    task: str
    positive: str | None
    drop: tuple[str, ...] = ()
    group: str | None = None


@dataclass
class Split:
    """The training rows (with the target) and held-out features on disk, the held-out truth here.
    Cells are kept as the file's text, so every system reads the file as it would read the original."""

    table: Table
    train: Path
    test: Path
    truth: pd.Series
    classes: list[str]
    rows: tuple[int, int]


@dataclass
class Run:
    """What one system produced: predictions for the held-out rows, and what it says about itself."""

    predictions: pd.DataFrame | None
    model: str = ""
    status: str = "ok"
    error: str = ""
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------- tables and the split


def load_tables(*, shared: Path) -> dict[str, Table]:
    """The seven shared tables (tables.json) and the two built-in ones (their conf/data/ files)."""
    found = {}
    for name, spec in json.loads((shared / "tables.json").read_text()).items():
        positive = None if spec["positive"] is None else str(spec["positive"])
        found[name] = Table(name, shared / spec["file"], spec["target"], spec["task"], positive)
    for name in BUILT_IN:
        conf = yaml.safe_load((ROOT / "conf" / "data" / f"{name}.yaml").read_text())
        raw = read_text_table(ROOT / conf["path"])
        task = conf["task"] if conf["task"] != "auto" else guess_task(raw[conf["target"]])
        found[name] = Table(
            name, ROOT / conf["path"], conf["target"], task, conf["positive_label"], tuple(conf["drop"]), conf["group"]
        )
    return found


def guess_task(target: pd.Series) -> str:
    """The built-in tables are classifications; their config says `auto`, so count the classes."""
    values = target[target.str.strip() != ""].str.strip().str.casefold().nunique()
    return "binary" if values == 2 else "multiclass"


def read_text_table(path: Path) -> pd.DataFrame:
    """Every cell as the file's text (no missing-value guessing), so a written split reads like the file."""
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
        except UnicodeDecodeError:
            continue
    raise ValueError(f"{path}: neither UTF-8 nor Latin-1")


def strata(target: pd.Series, task: str) -> pd.Series:
    if task == "regression":
        return pd.qcut(target.astype(float), q=10, labels=False, duplicates="drop")
    return target


def split_rows(frame: pd.DataFrame, *, table: Table) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One seeded 80/20 split, stratified; grouped too when the table's config names a group."""
    labels = strata(frame[table.target], table.task)
    if table.group is None:
        return train_test_split(frame, test_size=0.2, random_state=SEED, stratify=labels)
    folds = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=SEED)
    train_rows, test_rows = next(folds.split(frame, labels, groups=frame[table.group]))
    return frame.iloc[train_rows], frame.iloc[test_rows]


def make_split(*, table: Table, folder: Path) -> Split:
    """Writes train.csv and test_features.csv (the config's `drop` columns left out of both)."""
    frame = read_text_table(table.file)
    frame = frame[frame[table.target].str.strip() != ""]
    train, test = split_rows(frame, table=table)
    train, test = train.drop(columns=list(table.drop)), test.drop(columns=list(table.drop))
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "train.csv", folder / "test_features.csv"
    train.to_csv(paths[0], index=False)
    test.drop(columns=[table.target]).to_csv(paths[1], index=False)
    truth = test[table.target].reset_index(drop=True)
    if table.task == "regression":
        return Split(table, *paths, truth.astype(float), [], (len(train), len(test)))
    classes = sorted(train[table.target].unique())
    return Split(table, *paths, truth, classes, (len(train), len(test)))


# ---------------------------------------------------------------- scoring (autotab's metric code)


def same_label(a: str, b: str) -> bool:
    """Whether a system's class label is the file's: autotab trims and case-folds labels, and a
    numeric label may come back as 1.0."""
    if str(a).strip().casefold() == str(b).strip().casefold():
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def primary_score(*, split: Split, predictions: pd.DataFrame) -> float:
    metric = METRICS[split.table.task]
    if split.table.task == "regression":
        return regression_metrics(split.truth, predictions["prediction"].to_numpy())[metric]
    positive = positive_label(split=split)
    scores = classification_metrics(
        split.truth, probabilities(predictions, split=split), np.array(split.classes, dtype=object), positive
    )
    return scores[metric]


def probabilities(predictions: pd.DataFrame, *, split: Split) -> np.ndarray:
    """The classes' probabilities, in the split's class order, as they are scored."""
    proba = predictions[split.classes].to_numpy(dtype=float)
    totals = proba.sum(axis=1, keepdims=True)
    if np.allclose(totals, 1.0, atol=1e-4):  # float32 probabilities (AutoGluon) sum to 1 only roughly
        proba = proba / totals
    return proba


def per_row(*, split: Split, predictions: pd.DataFrame) -> dict[str, str]:
    """What a paired comparison with another system on the same held-out rows needs, kept in the
    row (the scratch folders are not): per held-out row, the positive class's probability and the
    truth (binary: ROC AUC ranks them), the row's log loss (multiclass) or its squared error
    (regression); a metric of a resample of the rows is then computed from these alone."""
    if split.table.task == "regression":
        return {"sq_error": pack((split.truth.astype(float).to_numpy() - predictions["prediction"].to_numpy()) ** 2)}
    proba = probabilities(predictions, split=split)
    if split.table.task == "binary":
        column = split.classes.index(positive_label(split=split))
        truth = np.array([same_label(label, split.classes[column]) for label in split.truth.astype(str)])
        return {"p_positive": pack(proba[:, column]), "is_positive": pack(truth)}
    truth = [split.classes.index(next(c for c in split.classes if same_label(c, label))) for label in split.truth]
    eps = np.finfo(float).eps  # the metric code's clipping
    return {"log_loss": pack(-np.log(np.clip(proba[np.arange(len(truth)), truth], eps, 1 - eps)))}


def pack(values: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.asarray(values, dtype="<f4").tobytes(), 9)).decode()


def unpack(text: str) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype="<f4").astype(float)


def positive_label(*, split: Split) -> str | None:
    if split.table.task != "binary":
        return None
    wanted = split.table.positive
    if wanted is None:
        return split.classes[-1]
    return next(c for c in split.classes if same_label(c, wanted))


# ---------------------------------------------------------------- running a child, measured


def pinned_env(*, cores: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    threads = str(cores)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads}
    return {**env, **(extra or {})}


def core_set(cores: int) -> set[int]:
    allowed = sorted(os.sched_getaffinity(0))
    return set(allowed[:cores])


class LoadWatch:
    """The 1-min load average before a run, its maximum during it (sampled every 5 s), and after."""

    def __init__(self) -> None:
        self.before = os.getloadavg()[0]
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(5.0):
            self.peak = max(self.peak, os.getloadavg()[0])

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        after = os.getloadavg()[0]
        return {"load_before": self.before, "load_peak": max(self.peak, after), "load_after": after}


def machine_busy_s() -> float:
    """CPU seconds every core of the machine has been busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Wall and CPU seconds of the children run while it is open (getrusage(RUSAGE_CHILDREN) deltas:
    every process a child waits for is counted, DVC's stage processes included), the load averages,
    and the CPU seconds the rest of the machine used meanwhile (/proc/stat, minus ours)."""

    def __enter__(self) -> Meter:
        self.start = time.perf_counter()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu0 = usage.ru_utime + usage.ru_stime
        self.busy0 = machine_busy_s()
        self.load = LoadWatch()
        return self

    def __exit__(self, *exc) -> None:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.wall = time.perf_counter() - self.start
        self.cpu = usage.ru_utime + usage.ru_stime - self.cpu0
        self.others_cpu = max(0.0, machine_busy_s() - self.busy0 - self.cpu)
        self.loads = self.load.stop()

    def contention(self) -> dict:
        """Whether others competed: the cores the system used on average (CPU / wall), and the load
        beside it. `contended_load` is the 1-min load rule (peak load above 1.3 x the cores used),
        which lags a minute, so a run right after a busy one looks contended; `contended` uses the
        exact count instead: the rest of the machine used more than 0.3 x our cores meanwhile."""
        own = self.cpu / self.wall if self.wall else 0.0
        others = self.others_cpu / self.wall if self.wall else 0.0
        return {
            "cores_used": round(own, 2),
            "others_cores": round(others, 2),
            **{k: round(v, 2) for k, v in self.loads.items()},
            "contended_load": self.loads["load_peak"] > CONTENDED * max(own, 1.0),
            "contended": others > (CONTENDED - 1) * max(own, 1.0),
        }


def run_child(command: list[str], *, cwd: Path, env: dict[str, str], cores: int, log: Path):
    """Runs a command pinned to the cores, its output appended to `log` (and returned)."""
    pinned = core_set(cores)
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, pinned),
    )
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n{result.stdout}{result.stderr}[exit {result.returncode}]\n")
    return result


def last_line(result: subprocess.CompletedProcess) -> str:
    """Why a child failed: its first `... error: ...` line (autotab's one-line errors), else its last line."""
    lines = [line.strip() for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w .:-]*\berror: ", line)]
    return (errors or lines or [f"exit code {result.returncode}"])[0 if errors else -1][:500]


# ---------------------------------------------------------------- autotab, the user's path


def clone_repository(*, folder: Path) -> Path:
    """A scratch clone of this checkout's committed HEAD, with a git identity for `dvc exp run`."""
    repo = folder / "repo"
    branch = subprocess.run(["git", "-C", str(ROOT), "branch", "--show-current"], capture_output=True, text=True)
    command = ["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(repo)]
    if branch.stdout.strip():
        command[3:3] = ["--branch", branch.stdout.strip()]
    subprocess.run(command, check=True)
    for key, value in (("user.name", "peer bench"), ("user.email", "bench@localhost")):
        subprocess.run(["git", "-C", str(repo), "config", key, value], check=True)
    return repo


def autotab_env(*, repo: Path, cores: int) -> dict[str, str]:
    """This checkout's .venv first on PATH, the clone's own source imported, its own BentoML store."""
    path = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    extra = {
        "PATH": path,
        "PYTHONPATH": str(repo / "src"),
        "BENTOML_HOME": str((repo / ".bentoml").resolve()),
        "BENTOML_DO_NOT_TRACK": "true",
        "DVC_NO_ANALYTICS": "1",
    }
    return pinned_env(cores=cores, extra=extra)


def autotab_steps(*, split: Split, mode: str, budget: float, quick: bool) -> list[list[str]]:
    name = f"bench_{split.table.name}"
    overrides = ["-S", f"data={name}"]
    if mode == "budget":
        overrides += ["-S", f"budget_s={budget:g}"]
    if quick:
        overrides += ["-S", "tune.n_trials=5"]
    add = ["autotab", "add-data", str(split.train), "--target", split.table.target, "--name", name]
    return [
        [*add, "--task", split.table.task],
        ["git", "add", "--all", "conf/data", "data/raw"],
        ["dvc", "exp", "run", *overrides],
        ["autotab", "predict", str(split.test), "predictions.csv"],
    ]


def run_autotab(*, split: Split, folder: Path, mode: str, budget: float, quick: bool, cores: int) -> Run:
    repo = clone_repository(folder=folder)
    env = autotab_env(repo=repo, cores=cores)
    walls = {}
    for step in autotab_steps(split=split, mode=mode, budget=budget, quick=quick):
        start = time.perf_counter()
        result = run_child(step, cwd=repo, env=env, cores=cores, log=folder / "log.txt")
        walls[" ".join(step[:2])] = round(time.perf_counter() - start, 1)
        if result.returncode != 0:
            unknown = UNKNOWN_KEY.search(result.stderr + result.stdout)
            if unknown:
                return Run(None, status="unavailable", error=f"the configuration has no {unknown[1]!r} key")
            error = f"{' '.join(step[:3])}: {last_line(result)}"
            return Run(None, status="failed", error=error, extra={"step_wall_s": walls})
    predictions, rejected = autotab_predictions(repo=repo, split=split)
    extra = {"step_wall_s": walls, "rejected_rows": rejected, "commit": head_commit(repo), **autotab_choice(repo=repo)}
    return Run(predictions, model=extra.pop("model"), extra=extra)


def autotab_predictions(*, repo: Path, split: Split) -> tuple[pd.DataFrame, int]:
    """`autotab predict`'s output in the bench's column order. A held-out row the service would
    refuse gets the training prior (or mean): counted, not hidden."""
    out = pd.read_csv(repo / "predictions.csv").set_index("row")
    train = pd.read_csv(split.train, dtype=str, keep_default_na=False)[split.table.target]
    index = pd.RangeIndex(len(split.truth))
    if split.table.task == "regression":
        frame = out[["prediction"]].reindex(index)
        return frame.fillna(train.astype(float).mean()), int(frame["prediction"].isna().sum())
    columns = {c[len("proba_") :]: c for c in out.columns if c.startswith("proba_")}
    frame = pd.DataFrame(index=index)
    for label in split.classes:
        match = [column for known, column in columns.items() if same_label(known, label)]
        frame[label] = out[match[0]].reindex(index) if match else 0.0
    missing = frame.isna().any(axis=1)
    prior = train.value_counts(normalize=True)
    for label in split.classes:
        frame.loc[missing, label] = prior.get(label, 0.0)
    return frame, int(missing.sum())


def autotab_choice(*, repo: Path) -> dict:
    """The served model (reports/tuning/best_params.json) and how many trials tune ran."""
    best = json.loads((repo / "reports" / "tuning" / "best_params.json").read_text())
    summary = json.loads((repo / "reports" / "tuning" / "summary.json").read_text())
    weights = best.get("ensemble_weights") or {}
    members = ", ".join(f"{member}x{weight}" for member, weight in weights.items())
    model = best["model"] if len(weights) <= 1 else f"ensemble({members})"
    served = repo / "reports" / "served.json"  # the refit stage's; absent before it existed
    fitted = json.loads(served.read_text())["fitted_rows"] if served.exists() else None
    return {"model": f"{model} [{best.get('chosen_from', '?')}]", "n_trials": summary.get("n_trials"),
            "served_rows": fitted}  # fmt: skip


# ---------------------------------------------------------------- the peers, each in its venv


def peer_python(system: str) -> Path:
    if system == "hgb":
        return ROOT / ".venv" / "bin" / "python"
    return VENVS / system / "bin" / "python"


def ensure_venv(system: str) -> dict:
    """Creates bench/.venvs/<system> from the pinned bench/peers/<system>.txt (uv, from autotab's
    .venv) unless it is there and in sync; returns how long that took."""
    if system == "hgb":
        return {}
    venv, pins = VENVS / system, PEERS / f"{system}.txt"
    stamp = venv / ".pins"
    if stamp.exists() and stamp.read_text() == pins.read_text():
        return {}
    uv = ROOT / ".venv" / "bin" / "uv"
    start = time.perf_counter()
    if not (venv / "bin" / "python").exists():
        subprocess.run([str(uv), "venv", "--quiet", "--python", "3.11", str(venv)], check=True)
    subprocess.run([str(uv), "pip", "sync", "--quiet", "--python", str(venv / "bin" / "python"), str(pins)], check=True)
    stamp.write_text(pins.read_text())
    seconds = round(time.perf_counter() - start, 1)
    size = subprocess.run(["du", "-sh", str(venv)], capture_output=True, text=True).stdout.split()[0]
    print(f"{venv}: installed from {pins.name} in {seconds} s ({size})", flush=True)
    return {"install_s": seconds, "size": size}


def run_peer(*, system: str, split: Split, folder: Path, budget: float, cores: int) -> Run:
    job = {
        "train": str(split.train),
        "test": str(split.test),
        "target": split.table.target,
        "task": split.table.task,
        "metric": METRICS[split.table.task],
        "classes": split.classes,
        "budget_s": budget,
        "seed": SEED,
        "cores": cores,
        "output": str(folder),
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job.json").write_text(json.dumps(job, indent=1))
    command = [str(peer_python(system)), str(PEERS / f"run_{system}.py"), str(folder / "job.json")]
    result = run_child(command, cwd=folder, env=pinned_env(cores=cores), cores=cores, log=folder / "log.txt")
    if result.returncode != 0:
        return Run(None, status="failed", error=last_line(result))
    info = json.loads((folder / "info.json").read_text())
    predictions = pd.read_csv(folder / "predictions.csv", dtype={c: float for c in split.classes})
    return Run(predictions, model=str(info.pop("model")), extra=info)


# ---------------------------------------------------------------- rows: what is done, what to run


def row_key(row: dict) -> tuple:
    """What makes two rows the same measurement: the budget matters to the searching systems, the
    trial count only to autotab."""
    system = row["system"]
    budget = None if system in ("hgb", "autotab:default") else row["budget_s"]
    return row["table"], system, budget, bool(row.get("quick")) if system.startswith("autotab") else False


def read_rows(results: Path) -> list[dict]:
    if not results.exists():
        return []
    return [json.loads(line) for line in results.read_text().splitlines() if line.strip()]


def latest_rows(rows: list[dict]) -> dict[tuple, dict]:
    return {row_key(row): row for row in rows}


def is_done(row: dict | None, *, rerun_contended: bool, rerun: bool = False) -> bool:
    if rerun or row is None or row["status"] != "ok":
        return False
    return not (rerun_contended and row["contended"])


def system_names(systems: list[str], modes: list[str]) -> list[str]:
    names = []
    for system in systems:
        names += [f"autotab:{mode}" for mode in modes] if system == "autotab" else [system]
    return names


def run_system(*, name: str, split: Split, folder: Path, args: argparse.Namespace) -> Run:
    if name.startswith("autotab:"):
        mode = name.split(":")[1]
        return run_autotab(
            split=split, folder=folder, mode=mode, budget=args.budget, quick=args.quick, cores=args.cores
        )
    return run_peer(system=name, split=split, folder=folder, budget=args.budget, cores=args.cores)


def measure(*, name: str, split: Split, args: argparse.Namespace) -> dict:
    """One system on one table, measured, as a JSONL row."""
    folder = SCRATCH / split.table.name / name.replace(":", "-")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    commit = head_commit(ROOT)  # what the autotab clone is made from, and the bench's own code
    with Meter() as meter:
        try:
            run = run_system(name=name, split=split, folder=folder, args=args)
        except Exception as error:  # a bench records a system's failure and goes on to the next
            run = Run(None, status="failed", error=f"{type(error).__name__}: {error}"[:500])
    score = primary_score(split=split, predictions=run.predictions) if run.predictions is not None else None
    rows = {} if run.predictions is None else {"per_row": per_row(split=split, predictions=run.predictions)}
    return {
        "table": split.table.name,
        "system": name,
        "task": split.table.task,
        "metric": METRICS[split.table.task],
        "score": score,
        "status": run.status,
        "error": run.error,
        "model": run.model,
        "wall_s": round(meter.wall, 1),
        "cpu_s": round(meter.cpu, 1),
        "cores": args.cores,
        **meter.contention(),
        "budget_s": args.budget,
        "quick": args.quick and name.startswith("autotab"),
        "rows": {"train": split.rows[0], "test": split.rows[1]},
        "commit": commit,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **run.extra,
        **rows,
    }


def head_commit(repo: Path) -> str:
    result = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip()


def append_row(row: dict, *, results: Path) -> None:
    results.parent.mkdir(parents=True, exist_ok=True)
    with results.open("a") as out:
        out.write(json.dumps(row, default=str) + "\n")


def run_bench(args: argparse.Namespace) -> None:
    tables = load_tables(shared=args.shared)
    names = system_names(args.systems, args.autotab_modes)
    for system in {name for name in names if not name.startswith("autotab")}:
        ensure_venv(system)
    done = latest_rows(read_rows(args.results))
    for table_name in args.tables or list(tables):
        split = make_split(table=tables[table_name], folder=SCRATCH / table_name / "data")
        for name in names:
            probe = {"table": table_name, "system": name, "budget_s": args.budget, "quick": args.quick}
            if is_done(done.get(row_key(probe)), rerun_contended=args.rerun_contended, rerun=args.rerun):
                print(f"{table_name} {name}: done, skipped", flush=True)
                continue
            row = measure(name=name, split=split, args=args)
            append_row(row, results=args.results)
            print(f"{table_name} {name}: {row['status']} {row['metric']}={row['score']} {row['wall_s']} s wall, "
                  f"{row['cpu_s']} s CPU, {row['model']} {row['error']}", flush=True)  # fmt: skip


# ---------------------------------------------------------------- the report


def tie_or_sign(ours: float, theirs: float, metric: str) -> int:
    """+1 win, 0 tie, -1 loss: a tie is within 0.002 ROC AUC, or 1% log loss or RMSE."""
    margin = 0.002 if metric == "roc_auc" else 0.01 * abs(theirs)
    gain = maximisable(ours, metric) - maximisable(theirs, metric)
    return 0 if abs(gain) <= margin else (1 if gain > 0 else -1)


def best_peer(rows: dict[str, dict], metric: str) -> dict | None:
    peers = [rows[s] for s in ("flaml", "autogluon") if s in rows and rows[s]["score"] is not None]
    return max(peers, key=lambda r: maximisable(r["score"], metric), default=None)


def paired_gap(ours: dict, theirs: dict) -> tuple[float, float] | None:
    """Our score minus theirs (larger is better) on the held-out rows, and its standard error over
    seeded bootstrap resamples of those rows, both systems scored on each resample: how large a gap
    one split can tell from noise. None when a row predates the per-row record."""
    if "per_row" not in ours or "per_row" not in theirs:
        return None
    a, b = ({key: unpack(value) for key, value in row["per_row"].items()} for row in (ours, theirs))
    metric = ours["metric"]

    def gap(rows: np.ndarray) -> float:
        if metric == "roc_auc":
            truth = a["is_positive"][rows] > 0.5
            return binary_roc_auc(truth, a["p_positive"][rows]) - binary_roc_auc(truth, b["p_positive"][rows])
        key = "log_loss" if metric == "log_loss" else "sq_error"
        mean = (lambda v: np.sqrt(v.mean())) if metric == "rmse" else np.mean
        return float(mean(b[key][rows]) - mean(a[key][rows]))  # a loss: theirs minus ours

    n = len(next(iter(a.values())))
    rng = np.random.default_rng(SEED)
    resamples = []
    for _ in range(RESAMPLES):
        rows = rng.integers(0, n, n)
        if metric == "roc_auc" and len(np.unique(a["is_positive"][rows])) < 2:
            continue  # a resample of one class has no ROC AUC
        resamples.append(gap(rows))
    return gap(np.arange(n)), float(np.std(resamples, ddof=1))


def noise_section(by_table: dict[str, dict[str, dict]], mode: str = "budget") -> list[str]:
    """Each table's gap between autotab's mode and the better peer, and untuned HGB, in standard errors."""
    lines = [
        f"| table | metric | autotab:{mode} | against | gap (+: autotab better) | SE | gap / SE |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in sorted(by_table):
        rows = by_table[name]
        ours = rows.get(f"autotab:{mode}")
        if ours is None or ours["score"] is None:
            continue
        for theirs in (best_peer(rows, ours["metric"]), rows.get("hgb")):
            if theirs is not None and theirs["score"] is not None:
                lines.append(gap_line(name, ours, theirs))
    return lines


def gap_line(name: str, ours: dict, theirs: dict) -> str:
    measured = paired_gap(ours, theirs)
    gap, se = measured if measured is not None else (None, None)
    cells = [name, ours["metric"], f"{ours['score']:.4f}", f"{theirs['system']} {theirs['score']:.4f}",
             "—" if gap is None else f"{gap:+.4f}", "—" if se is None else f"{se:.4f}",
             "—" if not se else f"{gap / se:+.1f}"]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def notes(row: dict) -> str:
    """What a reader must know about a row: not ok, contended, a trial run, refused rows, and the
    commit of autotab it ran (rows of one report may come from different commits)."""
    said = [row["status"]] if row["status"] != "ok" else []
    if row["system"].startswith("autotab") and row.get("commit"):
        said.append(f"commit {row['commit']}")
    if row["contended"]:
        said.append("contended")
    if row.get("quick") and row["status"] == "ok":
        said.append(f"quick ({row.get('n_trials')} trials)")
    if row.get("served_rows"):
        said.append(f"served fitted on {row['served_rows']:,} rows")
    if row.get("rejected_rows"):
        said.append(f"{row['rejected_rows']} held-out rows refused (scored with the prior)")
    if row["error"]:
        said.append(row["error"].replace("|", "/"))
    return "; ".join(said)


def table_section(name: str, rows: dict[str, dict]) -> list[str]:
    first = next(iter(rows.values()))
    lines = [f"### {name} ({first['task']}, {first['metric']}; {first['rows']['train']} train / "
             f"{first['rows']['test']} held-out rows)", "",
             "| system | score | wall s | CPU s | cores used (others) | model chosen "
             "| 1-min load before / peak / after | note |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for system, row in sorted(rows.items()):
        score = "—" if row["score"] is None else f"{row['score']:.4f}"
        loads = f"{row['load_before']:.1f} / {row['load_peak']:.1f} / {row['load_after']:.1f}"
        cores = f"{row['cores_used']:.1f} ({row['others_cores']:.1f})"
        cells = [system, score, f"{row['wall_s']:.0f}", f"{row['cpu_s']:.0f}", cores, row["model"], loads, notes(row)]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return [*lines, ""]


def tally(by_table: dict[str, dict[str, dict]]) -> list[str]:
    lines = [
        "| autotab mode | vs better of FLAML / AutoGluon (W / T / L) | vs untuned HGB (W / T / L) |",
        "|---|---|---|",
    ]
    for mode in MODES:
        counts = {"peer": [0, 0, 0], "hgb": [0, 0, 0]}
        for rows in by_table.values():
            ours = rows.get(f"autotab:{mode}")
            if ours is None or ours["score"] is None:
                continue
            metric = ours["metric"]
            for label, theirs in (("peer", best_peer(rows, metric)), ("hgb", rows.get("hgb"))):
                if theirs is not None and theirs["score"] is not None:
                    counts[label][1 - tie_or_sign(ours["score"], theirs["score"], metric)] += 1
        cells = [f"{w} / {t} / {lost}" for w, t, lost in counts.values()]
        lines.append(f"| {mode} | {cells[0]} | {cells[1]} |")
    return lines


def write_report(results: Path) -> None:
    """results.md (peers.md) from results (peers.jsonl)."""
    by_table: dict[str, dict[str, dict]] = {}
    latest = list(latest_rows(read_rows(results)).values())
    for row in latest:
        by_table.setdefault(row["table"], {})[row["system"]] = row
    if not by_table:
        return
    lines = [
        "# autotab against FLAML, AutoGluon and an untuned HistGradientBoosting",
        "",
        "Written by `bench/peers.py` from the JSONL file beside it (the latest row per table, system and",
        "budget). One seeded stratified 80/20 split per table; every system fits the same training rows",
        "and is scored on the same held-out rows by autotab's metric code (ROC AUC of the positive class,",
        "log loss, RMSE). Every system had the same cores (the `cores` field, pinned), budget in `budget_s`.",
        "autotab runs the user's path (add-data, `dvc exp run`, `autotab predict`; its wall time includes",
        "cleaning, the leaderboard, the search, evaluation and packaging a Bento); autotab chooses on its",
        "own train split of the training rows (it holds 20% of them out for `evaluate`), then serves the choice",
        "refit on all of them (its refit stage; a row's note says how many rows its served model saw, none before",
        "that stage existed).",
        "",
        "## Wins, ties and losses",
        "",
        "A tie is within 0.002 ROC AUC, or 1% log loss or RMSE. Rows marked quick or contended count too:",
        f"read the tables. Of {len(latest)} rows, {sum(r['contended'] for r in latest)} ran contended (the rest of",
        f"the machine used more than 0.3 x the system's own cores) and {sum(bool(r.get('quick')) for r in latest)}"
        " were quick autotab runs (`-S tune.n_trials=5`).",
        "",
        *tally(by_table),
        "",
        "### How large a gap one split can tell",
        "",
        "Each system's predictions of the held-out rows, resampled together (seeded bootstrap,",
        f"{RESAMPLES} resamples): the standard error of the gap between autotab's budget mode and the better",
        "peer, and untuned HGB. A gap within about two standard errors is one the held-out rows cannot tell",
        "from chance.",
        "A row from before the per-row record has none (—).",
        "",
        *noise_section(by_table),
        "",
        "## Per table",
        "",
    ]
    for name in sorted(by_table):
        lines += table_section(name, by_table[name])
    report = results.with_suffix(".md")
    report.write_text("\n".join(lines))
    print(f"{report}: written")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", help="table names (default: all nine)")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--autotab-modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--budget", type=float, default=60.0, help="seconds for FLAML, AutoGluon and autotab:budget")
    parser.add_argument("--cores", type=int, default=2, help="cores (and threads) every system gets")
    parser.add_argument("--quick", action="store_true", help="autotab with -S tune.n_trials=5 (a trial run)")
    parser.add_argument("--rerun-contended", action="store_true", help="redo rows run under contention")
    parser.add_argument("--rerun", action="store_true", help="redo every chosen row (after a change to autotab)")
    parser.add_argument("--report", action="store_true", help="only rewrite peers.md from peers.jsonl")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSONL file (the report: .md beside it)")
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared tables' folder (tables.json)")
    args = parser.parse_args()
    if not args.report:
        run_bench(args)
    write_report(args.results)


if __name__ == "__main__":
    sys.exit(main())
