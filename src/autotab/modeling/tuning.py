"""Hyperparameter search: a seeded Optuna study over the search spaces of one or more families.

The study lives in an Optuna storage (SQLite by default), named after everything that defines the
search, so an interrupted tune resumes where it stopped and a changed one starts afresh. Trials
report their running cross-validated score after each fold, so a pruner can stop hopeless ones.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from autotab.config import ModelConfig, SearchDimension
from autotab.errors import UserError
from autotab.modeling.budget import NO_DEADLINE, Deadline

FAMILY = "family"
FEATURES = "features."


def suggest(trial: optuna.Trial, name: str, dimension: SearchDimension) -> Any:
    if dimension.choices is not None:
        return trial.suggest_categorical(name, dimension.choices)
    if dimension.is_int:
        return trial.suggest_int(name, int(dimension.low), int(dimension.high), log=dimension.log)
    return trial.suggest_float(name, float(dimension.low), float(dimension.high), log=dimension.log)


class FoldMedianPruner(optuna.pruners.BasePruner):
    """Stop a trial whose running mean after fold k is below the median of the finished trials'
    running means after fold k (from the second fold, once `n_startup_trials` have finished).

    Optuna's MedianPruner compares a trial's *best* value over the steps so far with that median:
    right for learning curves, which improve step by step, but a running mean over CV folds is no
    learning curve. Its first fold's value would stand for the trial for good, and since the others'
    running means at later folds are no higher on average, a trial whose later folds sink would almost
    never be stopped (measured: a 107 s CatBoost trial, 5% below the median from its second fold on,
    ran all five folds)."""

    def __init__(self, n_startup_trials: int = 5, n_warmup_steps: int = 1) -> None:
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < self.n_warmup_steps:
            return False
        finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if len(finished) < self.n_startup_trials:
            return False
        at_step = [t.intermediate_values[step] for t in finished if step in t.intermediate_values]
        value = trial.intermediate_values[step]
        if math.isnan(value):
            return True
        # The study maximises (every metric is stored larger-is-better).
        return bool(at_step) and value < float(np.median(at_step))


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "median":
        return FoldMedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def open_study(name: str, storage: str | None, seed: int, pruner: str) -> optuna.Study:
    """Create the study, or load it to resume. A SQLite file's folder is created if needed."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if storage and storage.startswith("sqlite:///"):
        Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    sampler = optuna.samplers.TPESampler(seed=seed)
    if storage and not storage.startswith("sqlite:"):
        # A server database is there to be shared: processes that open the same study with the same
        # seed would propose the same trials. A shared study does not reproduce run to run anyway.
        sampler.reseed_rng()
    try:
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            load_if_exists=True,
            direction="maximize",
            sampler=sampler,
            pruner=make_pruner(pruner),
        )
    except ImportError as error:  # the URL names a database whose Python driver is not installed
        raise UserError(
            f"tune.storage: {storage.split('://')[0]}: {error.__cause__ or error}; install the driver "
            "(PostgreSQL: pip install psycopg2-binary, with a postgresql+psycopg2:// URL)"
        ) from None
    if storage and storage.startswith("sqlite:"):
        # A SQLite file has one writer, this run: a trial still RUNNING in it is one an interrupted run
        # left behind, not one in progress. (A shared database may hold others' running trials.)
        for stale in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            study.tell(stale.number, state=optuna.trial.TrialState.FAIL)
    return study


def enqueue_defaults(
    study: optuna.Study,
    families: dict[str, ModelConfig],
    feature_space: dict[str, SearchDimension],
    feature_defaults: dict[str, Any],
) -> None:
    """The first trials, with the configured features: each family's configured defaults (those
    inside its space), then the families' portfolios taken in turn (the first point of each family,
    then the second...), so that a short search already covers what does well on most tables."""
    features = {
        f"{FEATURES}{name}": feature_defaults[name]
        for name, dim in feature_space.items()
        if name in feature_defaults and dim.contains(feature_defaults[name])
    }
    points = [
        [{name: value for name, value in model.hyperparameters.items() if name in model.search_space}, *model.portfolio]
        for model in families.values()
    ]
    for rank in range(max(map(len, points), default=0)):
        for (family, model), family_points in zip(families.items(), points, strict=True):
            if rank < len(family_points):
                params = {
                    f"{family}.{name}": value
                    for name, value in family_points[rank].items()
                    if model.search_space[name].contains(value)
                }
                study.enqueue_trial({FAMILY: family, **params, **features}, skip_if_exists=True)


def sample(
    trial: optuna.Trial, families: dict[str, ModelConfig], feature_space: dict[str, SearchDimension]
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A family, that family's hyperparameters (named `<family>.<name>` in the study), and the
    feature choices (named `features.<key>`)."""
    family = trial.suggest_categorical(FAMILY, list(families))
    space = families[family].search_space
    params = {name: suggest(trial, f"{family}.{name}", dim) for name, dim in space.items()}
    features = {name: suggest(trial, f"{FEATURES}{name}", dim) for name, dim in feature_space.items()}
    return family, params, features


def params_of(trial: optuna.trial.FrozenTrial) -> tuple[str, dict[str, Any], dict[str, Any]]:
    family = trial.params[FAMILY]
    prefix = f"{family}."
    params = {k.removeprefix(prefix): v for k, v in trial.params.items() if k.startswith(prefix)}
    features = {k.removeprefix(FEATURES): v for k, v in trial.params.items() if k.startswith(FEATURES)}
    return family, params, features


@dataclass
class RunningTrial:
    trial: optuna.Trial
    family: str
    params: dict[str, Any]
    features: dict[str, Any]
    fold_scores: list[float] = field(default_factory=list)  # reported, in fold order
    arrived: dict[int, float] = field(default_factory=dict)  # finished folds not yet reported
    submitted: int = 0
    started: float = field(default_factory=time.monotonic)


def run_study(
    study: optuna.Study,
    families: dict[str, ModelConfig],
    submit_fold: Callable[[str, dict[str, Any], dict[str, Any], int], Future],
    n_folds: int,
    n_trials: int,
    timeout_s: float | None = None,
    parallelism: int = 1,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
    feature_space: dict[str, SearchDimension] | None = None,
    feature_defaults: dict[str, Any] | None = None,
    deadline: Deadline = NO_DEADLINE,
    reserve_s: Callable[[], float] = lambda: 0.0,
    fold_parallelism: int = 1,
) -> int:
    """Run trials until the study holds `n_trials` finished ones (or the timeout stops new ones);
    returns how many finished now.

    Optuna stays on this side: it asks for a trial, and each of the trial's folds is one task,
    `submit_fold(family, params, features, fold)`, a future of the fold's score (larger is better),
    on whatever engine the backend runs. The running mean is reported fold by fold, in fold order,
    so the pruner stops hopeless trials between folds. Up to `fold_parallelism` folds of a trial
    run at once; since reports and pruning still follow the fold order, this changes nothing but
    the time (a fold started ahead of a pruning decision is wasted work, not a different result).
    With `parallelism` 1 the trials run one after another, exactly as in-process; more trials in
    flight make results depend on timing. A trial whose task fails (a bad combination of settings,
    a lost worker) is marked failed and not counted.

    With a bounded `deadline` the search has until `reserve_s()` (the time the steps after it
    need) before the deadline: no trial starts after that, a trial whose remaining folds would run
    past it is pruned, and the trials still running then are marked failed (the caller stops their
    processes).
    """
    feature_space = feature_space or {}
    if not study.trials:
        enqueue_defaults(study, families, feature_space, feature_defaults or {})
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    remaining = max(0, n_trials - len([t for t in study.trials if t.state in done]))
    timeout_at = None if timeout_s is None else time.monotonic() + timeout_s
    finished = failed = 0
    first_number = len(study.trials)  # the trials this call creates are numbered from here
    trials: list[RunningTrial] = []
    tasks: dict[Future, tuple[RunningTrial, int]] = {}

    def submit_folds(current: RunningTrial) -> None:
        in_flight = sum(1 for owner, _ in tasks.values() if owner is current)
        while current.submitted < n_folds and in_flight < fold_parallelism:
            future = submit_fold(current.family, current.params, current.features, current.submitted)
            tasks[future] = (current, current.submitted)
            current.submitted += 1
            in_flight += 1

    def start_trial() -> None:
        trial = study.ask()
        try:
            family, params, features = sample(trial, families, feature_space)
            trials.append(RunningTrial(trial, family, params, features))
            submit_folds(trials[-1])
        except BaseException:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)  # not left RUNNING in the storage
            if trials and trials[-1].trial is trial:
                trials.pop()
            raise

    def end(current: RunningTrial, **outcome: Any) -> optuna.trial.FrozenTrial:
        trials.remove(current)
        for future in [f for f, (owner, _) in tasks.items() if owner is current]:
            future.cancel()  # folds started ahead of a decision that ended the trial: not needed
            del tasks[future]
        return study.tell(current.trial, **outcome)

    def searching_left() -> float:
        # `reserve_s` reads the stored trials (a database query): only asked with a budget.
        return deadline.left() - reserve_s() if deadline.bounded else math.inf

    def within_budget() -> bool:
        return (
            finished + len(trials) < remaining
            and (timeout_at is None or time.monotonic() < timeout_at)
            and searching_left() > 0
        )

    def report(current: RunningTrial) -> optuna.trial.FrozenTrial | None:
        """Report the folds that arrived in order; the trial's end, if that decided it."""
        while len(current.fold_scores) in current.arrived:
            fold = len(current.fold_scores)
            current.fold_scores.append(current.arrived.pop(fold))
            current.trial.report(float(np.mean(current.fold_scores)), fold)
            per_fold = (time.monotonic() - current.started) / (fold + 1) / fold_parallelism
            # The time after the search (`reserve_s`) is not the trials' to use: one that would eat into it stops.
            if current.trial.should_prune() or per_fold * (n_folds - fold - 1) > searching_left():
                return end(current, state=optuna.trial.TrialState.PRUNED)
            if fold + 1 == n_folds:
                return end(current, values=round(float(np.mean(current.fold_scores)), 6))
        return None

    try:
        while True:
            while len(trials) < parallelism and within_budget():
                start_trial()
            if not trials:
                return finished
            completed, _ = wait(tasks, timeout=max(searching_left(), 0) if deadline.bounded else None,
                                return_when=FIRST_COMPLETED)  # fmt: skip
            if not completed:  # the search's time is up: what is still running will not be finished
                for current in list(trials):
                    end(current, state=optuna.trial.TrialState.FAIL)
                return finished
            for future in sorted(completed, key=lambda f: (tasks[f][0].trial.number, tasks[f][1])):
                if future not in tasks:  # its trial ended while this batch was being handled
                    continue
                current, fold = tasks.pop(future)
                try:
                    current.arrived[fold] = float(future.result())
                except Exception as error:  # any failure of one trial's task fails that trial
                    end(current, state=optuna.trial.TrialState.FAIL)
                    failed += 1
                    print(f"tune: trial {current.trial.number} ({current.family}) failed: "
                          f"{type(error).__name__}: {error}", file=sys.stderr)  # fmt: skip
                    if failed > max(remaining, 10):
                        raise UserError(
                            f"tune: {failed} trials failed, the last with {type(error).__name__}: {error}; "
                            "check the search spaces in conf/model/ and tune.feature_space"
                        ) from error
                    continue
                frozen = report(current)
                if frozen is None:
                    submit_folds(current)
                    continue
                finished += 1
                if on_trial is not None:
                    on_trial(study, frozen)
    except BaseException:
        # Interrupted: what was running is not finished. That includes a trial the interrupt caught
        # inside `study.ask()`, stored as running but never handed back (seen on a busy machine).
        # If the storage itself was interrupted mid-write, `open_study` fails the trial on resume.
        with contextlib.suppress(Exception):
            for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
                if trial.number >= first_number:
                    study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        raise


def first_trials(study: optuna.Study, n_trials: int) -> optuna.Study:
    """The study as a run with a budget of `n_trials` sees it: its trials up to the `n_trials`-th
    finished one, in memory. A stored study outlives its budget: raising `tune.n_trials` continues
    it, and lowering it chooses among the trials a run with the lower budget would have had."""
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    kept, finished = [], 0
    for trial in study.trials:
        if finished == n_trials:
            break
        kept.append(trial)
        finished += trial.state in done
    view = optuna.create_study(direction="maximize")
    view.add_trials(kept)
    return view


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value and parameters (`params_*`); no times, so it reproduces."""
    return study.trials_dataframe(attrs=("number", "state", "value", "params"))


def history_table(study: optuna.Study, sign: int) -> pd.DataFrame:
    """The optimisation history: each finished trial's value and the best so far (metric's sign)."""
    rows, best = [], None
    for t in study.trials:
        if t.state != optuna.trial.TrialState.COMPLETE:
            continue
        best = t.value if best is None else max(best, t.value)
        rows.append({"trial": t.number, "value": sign * t.value, "best": sign * best})
    return pd.DataFrame(rows, columns=["trial", "value", "best"]).round(6)


def importance_table(study: optuna.Study, seed: int) -> pd.DataFrame:
    """Parameter importances (fANOVA, seeded) over the parameters every complete trial shares."""
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 3:
        return pd.DataFrame(columns=["parameter", "importance"])
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
        importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError):  # e.g. a single distinct value: nothing to attribute
        return pd.DataFrame(columns=["parameter", "importance"])
    return pd.DataFrame({"parameter": list(importances), "importance": list(importances.values())}).round(6)
