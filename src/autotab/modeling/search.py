"""The search behind the tune stage: a study over the chosen families, then three choices, each
stepping up from the simpler model only when it pays (`autotab.modeling.selection`): the anchor (linear)
defaults or the best family's defaults, then the best tuned configuration (each by more than
`min_gain_se` standard errors), then a greedy ensemble (any gain of its cross-fitted blend). With a
metric that scores probabilities, each side is judged as it would be served, and the choice is
served temperature-scaled on its out-of-fold predictions when that pays (`autotab.estimators.calibration`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import joblib
import numpy as np
import optuna
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import BaseCrossValidator, FixedThresholdClassifier
from sklearn.pipeline import Pipeline

from autotab.config import BackendConfig, FeaturesConfig, ModelConfig, TuneConfig
from autotab.data.splits import scored_rows
from autotab.errors import UserError
from autotab.estimators.calibration import TemperatureScaled, fit_temperature, soften
from autotab.metrics import PROBABILISTIC, best_threshold, maximisable
from autotab.modeling import ensemble
from autotab.modeling.backends import trial_runner
from autotab.modeling.budget import NO_DEADLINE, Deadline
from autotab.modeling.features import build_preprocessor
from autotab.modeling.leaderboard import ALMOST_EVERY_ROW, screening_sample
from autotab.modeling.selection import Referee, Step
from autotab.modeling.training import (
    CrossValidation,
    cross_validate_pipeline,
    fit_and_score_fold,
    reseeded,
    to_plain,
    whole_pipeline,
)
from autotab.modeling.tuning import first_trials, open_study, params_of, run_study
from autotab.modeling.zoo import build_estimator

LINEAR = {"binary": "logistic_regression", "multiclass": "logistic_regression", "regression": "ridge"}


@dataclass
class Problem:
    """The training data and how it is scored: what every candidate and trial shares."""

    X: pd.DataFrame
    y: pd.Series
    task: str
    metric: str
    folds: BaseCrossValidator
    preprocessor: Pipeline  # the features stage's recipe
    seed: int
    groups: pd.Series | None = None
    positive: Any = None
    class_weight: str | None = None
    # The features preset the recipe was built from; searched feature choices change some of it.
    feature_settings: dict | None = None
    n_jobs: int = 1  # folds fitted side by side (processes); the results do not depend on it

    def recipe(self, features: dict) -> Pipeline:
        if not features or self.feature_settings is None:
            return self.preprocessor
        settings = FeaturesConfig.model_validate({**self.feature_settings, **features})
        return build_preprocessor(self.preprocessor.named_steps["clean"], settings, self.task, self.seed)

    def estimator(self, family: ModelConfig, params: dict):
        return build_estimator(family, self.task, self.seed, params, class_weight=self.class_weight)

    def pipeline(self, family: ModelConfig, params: dict, features: dict) -> Pipeline:
        return whole_pipeline(self.recipe(features), self.estimator(family, params))

    def cross_validate(self, family: ModelConfig, params: dict, features: dict) -> CrossValidation:
        pipeline = self.pipeline(family, params, features)
        return cross_validate_pipeline(
            pipeline, self.X, self.y, self.task, self.folds, self.groups, self.positive, n_jobs=self.n_jobs
        )

    @cached_property
    def fold_rows(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return list(self.folds.split(self.X, self.y, self.groups))

    @cached_property
    def scored_y(self) -> pd.Series:
        """The target of the rows the folds score, in the order of every out-of-fold prediction:
        all of y, but for forward-chaining folds (`splits.scored_rows`)."""
        return self.y.iloc[scored_rows(self.fold_rows, len(self.y))].reset_index(drop=True)

    @property
    def reshuffles(self) -> bool:
        """Whether fresh folds differ from these: K-fold splits reshuffle; forward chaining is fixed."""
        return bool(getattr(self.folds, "shuffle", False))

    def fold_score(self, family: ModelConfig, params: dict, features: dict, fold: int) -> float:
        """One fold of one configuration: the primary metric on its held-out rows, larger is better."""
        train_rows, test_rows = self.fold_rows[fold]
        classes = np.unique(self.y) if self.task != "regression" else None
        pipeline = self.pipeline(family, params, features)
        result = fit_and_score_fold(pipeline, self.X, self.y, self.task, classes, train_rows, test_rows, self.positive)
        return maximisable(result.scores[self.metric], self.metric)

    def sample(self, rows: int | None) -> Problem:
        """The problem on a seeded sample of about `rows` of its rows (stratified, or whole groups),
        cross-validated the same way; itself when it has no more rows than that."""
        if rows is None or len(self.y) <= rows:
            return self
        kept = screening_sample(self.y, self.groups, task=self.task, rows=rows, seed=self.seed)
        groups = None if self.groups is None else self.groups.iloc[kept]
        return replace(self, X=self.X.iloc[kept], y=self.y.iloc[kept], groups=groups)

    def fresh_oof(self, family: ModelConfig, params: dict, features: dict, repeats: int) -> list[np.ndarray]:
        """Out-of-fold predictions of one configuration on `repeats` fresh K-fold splits of the
        training rows (reshuffled with other seeds): the best of many trials looks better on the
        folds it was picked on than it is, and on fresh folds that fold luck is gone."""
        return [
            replace(self, folds=reseeded(self.folds, self.seed + repeat)).cross_validate(family, params, features).oof
            for repeat in range(1, repeats + 1)
        ]


@dataclass
class Outcome:
    model: Pipeline  # unfitted
    study: optuna.Study
    ran: int
    single: str
    single_params: dict
    single_features: dict
    source: str
    summary: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    oof: np.ndarray | None = None  # the final model's out-of-fold predictions (calibrated as it is)

    def servable(self, problem: Problem) -> tuple[BaseEstimator, float | None]:
        """The model to fit on every training row and serve, and its decision threshold: a binary
        classifier labels a record positive from the probability cut that maximises F1 out of fold
        (kept with the model, used by evaluate and the service); other tasks have none."""
        if problem.task != "binary":
            return self.model, None
        p_positive = self.oof[:, list(np.unique(problem.y)).index(problem.positive)]
        threshold = best_threshold(problem.scored_y, p_positive, problem.positive)
        wrapped = FixedThresholdClassifier(
            self.model, threshold=threshold, pos_label=problem.positive, response_method="predict_proba"
        )
        return wrapped, threshold

    def calibrate(self, evidence: list[np.ndarray], referee: Referee) -> Step:
        """Temperature-scale the model if that pays (`Referee.calibration`). `evidence` holds
        its out-of-fold predictions (on fresh folds where there are some: the search's own folds
        flatter the best trial); the temperature is fitted on all of them."""
        step, _ = referee.calibration(evidence)
        y = pd.concat([referee.y] * len(evidence))
        temperature = fit_temperature(np.vstack(evidence), y, referee.classes) if step.replaced else 1.0
        self.summary["temperature"] = temperature
        if step.replaced:
            *steps, (name, model) = self.model.steps
            self.model = Pipeline([*steps, (name, TemperatureScaled(model, temperature))])
            self.oof = soften(self.oof, temperature)
        return step


# How many of the leaderboard's best defaults a budgeted search keeps time to refit for the ensemble.
ENSEMBLE_RESERVE_MEMBERS = 4


def check_same_rows(oof: pd.DataFrame, problem: Problem) -> None:
    """The leaderboard's out-of-fold predictions (`oof`, with its `target` column) must be of the
    rows the choices are made on, in their order: else a blend would pair one row's prediction with
    another's target. Raises `UserError` naming what to rerun."""
    written, expected = oof["target"], problem.scored_y
    if len(written) == len(expected):
        if pd.api.types.is_numeric_dtype(written) and pd.api.types.is_numeric_dtype(expected):
            # The written target is rounded to 8 places (`leaderboard.oof_frame`).
            same = np.allclose(written.to_numpy(float), expected.to_numpy(float), rtol=1e-7, atol=1e-7)
        else:
            same = bool((written.astype(str).to_numpy() == expected.astype(str).to_numpy()).all())
        if same:
            return
    raise UserError(
        f"tune: the leaderboard's out-of-fold predictions ({len(written)} rows) are not of the {len(expected)} rows "
        "tune chooses on: the train stage's outputs are stale; rerun it (`dvc repro train`)"
    )


# A budgeted refit on a sample grows the sample to fill this share of the time left (a fit's time
# grows a little faster than its rows: a tree sorts them); the rest is the stage's margin.
REFIT_SHARE = 0.8


def refit(model: BaseEstimator, problem: Problem, selection: Problem, deadline: Deadline = NO_DEADLINE) -> int:
    """Fit the chosen `model` for serving on every training row of `problem`; returns how many rows
    it saw. With a bounded `deadline` and the choice made on a sample of the rows (`selection`, a
    budgeted leaderboard's), the refit is first timed on that sample; if every row would not fit in
    what is left, the model is fitted on the largest seeded sample that does, never fewer rows than
    the selection's (as FLAML's `retrain_full="budget"`)."""
    if not deadline.bounded or selection is problem:
        model.fit(problem.X, problem.y)
        return len(problem.y)
    started = time.monotonic()
    model.fit(selection.X, selection.y)
    per_row = (time.monotonic() - started) / len(selection.y)
    affordable = int(REFIT_SHARE * max(deadline.left(), 0) / per_row) if per_row > 0 else len(problem.y)
    rows = min(len(problem.y), max(len(selection.y), affordable))
    if rows >= ALMOST_EVERY_ROW * len(problem.y):  # a stratified sample needs rows left out
        rows = len(problem.y)
    if rows == len(selection.y):
        return rows  # fitted on it already
    fitted_on = problem.sample(rows)
    model.fit(fitted_on.X, fitted_on.y)
    return len(fitted_on.y)


def oof_of(oof: pd.DataFrame, name: str, classes: np.ndarray | None) -> np.ndarray:
    """A leaderboard model's out-of-fold predictions (a column, or one per class) from `oof`."""
    return oof[[name] if classes is None else [f"{name}__{c}" for c in classes]].to_numpy().squeeze()


def selection_seconds(problem: Problem, board: pd.DataFrame, oof: pd.DataFrame, tune: TuneConfig) -> float:
    """How long one greedy ensemble selection over the leaderboard's out-of-fold predictions takes."""
    classes = np.unique(problem.y) if problem.task != "regression" else None
    predictions = {name: oof_of(oof, name, classes) for name in board["model"]}
    started = time.monotonic()
    ensemble.greedy_selection(
        predictions, problem.scored_y, problem.task, problem.metric, classes, problem.positive, tune.ensemble_rounds,
        tune.ensemble_bags, problem.seed,
    )  # fmt: skip
    return time.monotonic() - started


def refit_seconds(
    models, fit_seconds: dict[str, float] | None, n_folds: int, rows_ratio: float = 1.0
) -> dict[str, float]:
    """Each leaderboard model's estimated refit on all rows, in the leaderboard's order: its K fold
    fits (`fit_seconds`, each on (K-1)/K of the rows it ranked on) took about K-1 refits, and the
    refit's rows are `rows_ratio` times those (linear in rows). Unknown: infinite."""
    return {name: rows_ratio * (fit_seconds or {}).get(name, np.inf) / (n_folds - 1) for name in models}


def ensemble_pool(refits: dict[str, float], seconds: float, *, single: str, single_is_default: bool) -> list[str]:
    """The leaderboard defaults a budgeted blend may take, best first, whose refits on every row fit
    in `seconds` together with the chosen `single` family's (refit whatever the blend: its cost is
    counted first, a tuned one's by its family's defaults). A default that does not fit is passed
    over for cheaper ones ranked after it. `single_is_default`: the single is that family's
    defaults, so it is in the pool at no further cost."""
    chosen = [single] if single_is_default and single in refits else []
    total = refits.get(single, 0.0)
    for name, cost in refits.items():
        if name not in chosen and total + cost <= seconds:
            chosen.append(name)
            total += cost
    return chosen


# A budgeted search passes over a family it could not afford this many trials of beside the better
# ranked ones it searches: a handful of an expensive family's trials tune nothing, and crowd out
# the cheap families' (FLAML's cost-frugal order: cheap learners first, an expensive one only when
# the time allows). Ten is about where a TPE sampler starts to model a space rather than draw at
# random. The family's defaults stay on the leaderboard, for the ensemble.
MIN_SEARCH_TRIALS = 10


def trial_seconds(
    fit_seconds: dict[str, float], predict_seconds: dict[str, float], *, problem: Problem, screen_rows: int | None
) -> dict[str, float]:
    """Each leaderboard family's estimated trial, from its defaults' fits and predictions over the
    folds on the `problem`'s rows: the trials run on its screening sample (`screen_rows`), a
    trial's folds `problem.n_jobs` at a time (as `search` runs them)."""
    n_folds = problem.folds.get_n_splits()
    rounds = math.ceil(n_folds / max(problem.n_jobs, 1))
    rows_ratio = min(screen_rows or len(problem.y), len(problem.y)) / len(problem.y)
    return {
        name: (seconds + predict_seconds.get(name, 0.0)) / n_folds * rounds * rows_ratio
        for name, seconds in fit_seconds.items()
    }


def searched_families(
    ranked: list[str], *, keep: int, trial_s: dict[str, float], seconds: float
) -> tuple[list[str], list[str]]:
    """The families a budgeted search takes, and those it passes over for their cost. Best first
    (`ranked`), up to `keep` of them whose trials, `MIN_SEARCH_TRIALS` of each, fit together in
    `seconds` (a trial's cost: `trial_s`; unknown, free); a family that does not fit while there is
    room is passed over for cheaper ones ranked after it. None fits: the cheapest of the best
    `keep`, alone, the others of them passed over."""
    chosen: list[str] = []
    passed_over: list[str] = []
    total = 0.0
    for name in ranked:
        if len(chosen) == keep:
            break
        cost = trial_s.get(name, 0.0) * MIN_SEARCH_TRIALS
        if total + cost <= seconds:
            chosen.append(name)
            total += cost
        else:
            passed_over.append(name)
    if not chosen:
        chosen = [min(ranked[:keep], key=lambda name: trial_s.get(name, 0.0))]
        passed_over = [name for name in ranked[:keep] if name not in chosen]
    return chosen, passed_over


def search(
    problem: Problem,
    families: dict[str, ModelConfig],
    zoo: Callable[[str], ModelConfig],
    board: pd.DataFrame,
    oof: pd.DataFrame,
    tune: TuneConfig,
    study_name: str,
    on_trial: Callable | None = None,
    feature_defaults: dict | None = None,
    backend: BackendConfig | None = None,
    deadline: Deadline = NO_DEADLINE,
    fit_seconds: dict[str, float] | None = None,
    pool: ProcessPoolExecutor | None = None,
    screen_rows: int | None = None,
    refit_rows: int | None = None,
) -> Outcome:
    """`board` is the leaderboard's passing rows (best first) and `oof` its out-of-fold predictions:
    the defaults that may join an ensemble; `zoo(name)` gives any family's config, for ensemble
    members outside the searched families.

    With a bounded `deadline` the search stops in time for the steps after it, fresh-fold rechecks
    are as many as the time left affords (none: judged on the search's own folds), and the ensemble
    pool holds only defaults whose refit fits (`fit_seconds`: each leaderboard model's fit time
    over its folds). `pool`: local workers already started (see `backends.trial_runner`).
    With more training rows than `screen_rows`, the trials are cross-validated on the leaderboard's
    screening sample of the rows (`Problem.sample`). `refit_rows`: the rows the chosen model is refit
    on after the search (default: the problem's), whose time a budgeted search reserves."""
    metric = problem.metric
    backend = backend or BackendConfig()
    n_folds = problem.folds.get_n_splits()
    stored = open_study(study_name, tune.storage, problem.seed, tune.pruner)

    # On a large table the trials are cross-validated on the leaderboard's screening sample of its
    # rows: cheap before expensive. What follows the search (the recheck against the defaults, the
    # ensemble) uses every row of the problem (itself a sample, after a budgeted leaderboard's), and
    # the refit every row it can (`refit`).
    searched_on = problem.sample(screen_rows)
    rows_ratio = len(problem.y) / len(searched_on.y)
    # A problem that is a sample of the training rows (a budgeted leaderboard's): the final refit
    # costs more than one of its own, by the ratio of rows.
    refit_ratio = (refit_rows or len(problem.y)) / len(problem.y)

    # A trial's folds run `problem.n_jobs` at a time; after a budgeted search, the stage's own process
    # runs a cross-validation's folds one after another (below): 5 folds 2 at a time take 3 rounds.
    sequential = n_folds / math.ceil(n_folds / max(problem.n_jobs, 1))

    def cv_seconds() -> float:  # one cross-validation of the best trial so far, on the problem's rows
        complete = [t for t in stored.trials if t.state == optuna.trial.TrialState.COMPLETE and t.duration]
        best = max(complete, key=lambda t: t.value).duration.total_seconds() if complete else 0.0
        return rows_ratio * sequential * best

    # With a budget, the search leaves time for the ensemble's refits: the leaderboard's best
    # `ENSEMBLE_RESERVE_MEMBERS` defaults, each refit on all rows (a greedy blend rarely needs more),
    # but never more than half the time tune has: the search gets the other half at least.
    # Judging the blend takes one greedy selection per cross-fitted slice, timed here on the defaults.
    refits = refit_seconds(board["model"], fit_seconds, n_folds, refit_ratio) if deadline.bounded else {}
    ensemble_reserve = judging_s = 0.0
    if deadline.bounded and tune.ensemble:
        judging_s = (ensemble.CROSS_FIT_FOLDS + 1) * selection_seconds(problem, board, oof, tune)
        refit_s = sum(list(refits.values())[:ENSEMBLE_RESERVE_MEMBERS])
        ensemble_reserve = min(refit_s + judging_s, deadline.left() / 2)

    # After the search: one more cross-validation of the best (the recheck), the refit and the
    # ensemble's. On a sample of the rows, the refit (the one counted there) only times the model,
    # which is then fitted on up to every row (`refit`): `refit_ratio` more fits on the problem's
    # rows, a cross-validation being K-1 of them.
    refit_cvs = 2.5 + (refit_ratio / (n_folds - 1) if refit_ratio > 1 else 0.0)

    # Each trial's folds run `problem.n_jobs` at a time, on that many workers per trial in flight.
    workers = backend.parallelism * problem.n_jobs
    with trial_runner(backend, searched_on, families, pool, workers) as submit_fold:
        ran = run_study(
            stored, families, submit_fold, n_folds, tune.n_trials, tune.timeout_s,
            backend.parallelism, on_trial, tune.feature_space, feature_defaults,
            deadline=deadline, reserve_s=lambda: refit_cvs * cv_seconds() + ensemble_reserve,
            fold_parallelism=problem.n_jobs,
        )  # fmt: skip
    study = first_trials(stored, tune.n_trials)
    # Fresh folds of forward-chaining ones would be the same folds: the search's own folds judge it.
    recheck_repeats = tune.recheck_repeats if problem.reshuffles else 0
    if deadline.bounded:
        # In this process from here: starting worker processes for a few fits would cost more than
        # it saves (the tune stage runs them on one thread).
        problem = replace(problem, n_jobs=1)

    configs = {**{name: zoo(name) for name in board["model"]}, **families}
    classes = np.unique(problem.y) if problem.task != "regression" else None
    calibrates = tune.calibrate and classes is not None and metric in PROBABILISTIC
    referee = Referee(
        problem.scored_y, problem.task, metric, classes, problem.positive, tune.min_gain_se, tune.gain_resamples,
        problem.seed, calibrates,
    )  # fmt: skip
    steps: list[Step] = []

    def board_oof(name: str) -> np.ndarray:
        return oof_of(oof, name, classes)

    # Each default's cross-validated score and out-of-fold predictions on the search's folds.
    scores = board.set_index("model")[f"{metric}_mean"]
    defaults = {name: (float(scores[name]), board_oof(name)) for name in board["model"]}

    # 1. The defaults. The incumbent is the anchor: the linear default, the simplest model in the zoo,
    # if the leaderboard has it (a pinned family: that family's own defaults). The best searched
    # family's defaults replace it only if they clearly beat it out of fold: with ~10 families
    # ranked on the same folds, the top one's lead is partly luck.
    on_board = [name for name in board["model"] if name in families]
    searched_default = on_board[0] if on_board else next(iter(families))
    if searched_default not in defaults:  # a pinned family missing from the leaderboard: run its defaults here
        result = problem.cross_validate(configs[searched_default], {}, {})
        defaults[searched_default] = (result.summary[metric]["mean"], result.oof)
    anchor = LINEAR[problem.task] if LINEAR[problem.task] in set(board["model"]) else searched_default
    incumbent = anchor
    if searched_default != anchor:
        challenger_oof, anchor_oof = defaults[searched_default][1], defaults[anchor][1]
        steps.append(referee.judge("defaults", anchor, searched_default, [challenger_oof], [anchor_oof]))
        incumbent = searched_default if steps[-1].replaced else anchor
    default_cv, default_oof = defaults[incumbent]
    if deadline.bounded:
        # Each fresh split costs two cross-validations: the tuned one's, timed by its trial, and the
        # incumbent's, by its leaderboard folds (the defaults of a family can cost several times a
        # tuned configuration: timed by the tuned one alone, the rechecks ate the ensemble's time).
        # Keep time for the refit and the ensemble's.
        tuned_s = cv_seconds()
        per_repeat = tuned_s + (fit_seconds or {}).get(incumbent, tuned_s)
        kept = tuned_s + ensemble_reserve
        affordable = int(max(deadline.left() - kept, 0) // per_repeat) if per_repeat else recheck_repeats
        recheck_repeats = min(recheck_repeats, affordable)

    # 2. The search. Its best trial replaces the defaults only if it clearly beats them on
    # `recheck_repeats` fresh splits of the training rows (0: on the search's own folds).
    finished = any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    if not finished and not deadline.bounded:
        raise UserError("tune: no trial finished (all failed or pruned); check the search spaces in conf/model/")
    # With a budget, the search is judged only if the check fits in the time left; else the defaults stay.
    # The ensemble's time comes first: a blend of defaults pays more often than a tuned single.
    judged = finished and (recheck_repeats > 0 or cv_seconds() < deadline.left() - ensemble_reserve)
    searched_cv = round(maximisable(study.best_value, metric), 6) if finished else None
    tuned_oof, default_fresh = None, [default_oof]
    if judged:
        best_family, best_params, best_features = params_of(study.best_trial)
        if recheck_repeats == 0:
            tuned_oof = problem.cross_validate(configs[best_family], best_params, best_features).oof
            tuned_fresh = [tuned_oof]
        else:
            # The best trial may be the incumbent's own configuration (the search starts from the
            # defaults): its fresh folds would be the incumbent's, to the bit, so the judgement is
            # a tie whatever they hold. They are fitted then only as a calibration's evidence.
            tuned = problem.pipeline(configs[best_family], best_params, best_features)
            same = joblib.hash(tuned) == joblib.hash(problem.pipeline(configs[incumbent], {}, {}))
            if calibrates or not same:
                default_fresh = problem.fresh_oof(configs[incumbent], {}, {}, recheck_repeats)
            tuned_fresh = default_fresh if same else problem.fresh_oof(
                configs[best_family], best_params, best_features, recheck_repeats
            )  # fmt: skip
        steps.append(referee.judge("search", incumbent, f"tuned {best_family}", tuned_fresh, default_fresh))
    if judged and steps[-1].replaced:
        single, single_params, single_cv, source = best_family, best_params, searched_cv, "search"
        if searched_on is not problem:  # its score on the problem's rows, not on the sample it was picked on
            single_cv = round(maximisable(float(np.mean([referee.score(o) for o in tuned_fresh])), metric), 6)
        single_features = best_features
    else:
        single, single_params, single_cv, source = incumbent, {}, default_cv, "defaults"
        single_features = {}
    single_params = {k: to_plain(v) for k, v in single_params.items()}
    single_features = {k: to_plain(v) for k, v in single_features.items()}

    outcome = Outcome(
        problem.pipeline(configs[single], single_params, single_features),
        study, ran, single, single_params, single_features, source, weights={single: 1},
    )  # fmt: skip
    states = pd.Series([t.state.name for t in study.trials]).value_counts().to_dict()
    outcome.summary = {
        "primary_metric": metric, "anchor": anchor, "default_chosen": incumbent, "cv_default_best": default_cv,
        "cv_search_best": searched_cv, "cv_single_chosen": single_cv, "n_trials": len(study.trials),
        "n_pruned": int(states.get("PRUNED", 0)), "search_rows": len(searched_on.y), "ensemble_members": 1,
        "min_gain_se": tune.min_gain_se,
        **({"recheck_repeats": recheck_repeats, "search_judged": judged} if deadline.bounded else {}),
    }  # fmt: skip
    if source == "defaults":
        chosen_oof, evidence = default_oof, default_fresh
    elif tuned_oof is not None:
        chosen_oof, evidence = tuned_oof, tuned_fresh
    else:
        chosen_oof, evidence = problem.cross_validate(configs[single], single_params, single_features).oof, tuned_fresh
    outcome.oof = chosen_oof
    if tune.ensemble:
        # 3. The ensemble, kept only if its cross-fitted blend beats the single chosen above. The tuned
        # configuration joins the pool only if it earned its place above: its OOF score carries the
        # same optimism, which greedy selection would otherwise reward.
        # With a budget, the pool is the leaderboard's best defaults whose refits on every row fit,
        # with the single's, in what is left (a margin kept for the threshold and the stage's writes).
        affordable = list(board["model"])
        if deadline.bounded:  # no time to judge a blend: the single stays
            seconds = 0.8 * (deadline.left() - judging_s)
            affordable = (
                ensemble_pool(refits, seconds, single=single, single_is_default=source == "defaults")
                if deadline.left() > judging_s
                else []
            )
        predictions = {f"default_{name}": defaults[name][1] for name in affordable}
        single_key = f"tuned_{single}" if source == "search" else f"default_{single}"
        predictions[single_key] = chosen_oof
        weights, ensemble_score = ensemble.greedy_selection(
            predictions, problem.scored_y, problem.task, metric, classes, problem.positive, tune.ensemble_rounds,
            tune.ensemble_bags, problem.seed,
        )  # fmt: skip
        single_score = referee.score(chosen_oof)
        sign = 1 if maximisable(1.0, metric) > 0 else -1
        outcome.summary |= {
            "oof_single": round(sign * single_score, 6), "oof_ensemble": round(sign * ensemble_score, 6)
        }  # fmt: skip
        if len(weights) > 1:  # greedy selection returns its best single member alone when no blend beats it
            ordered = dict(sorted(weights.items()))
            blend = sum(predictions[k] * n for k, n in ordered.items()) / sum(ordered.values())
            # Judged on the cross-fitted blend (each slice of rows blended as chosen on the others):
            # the selection's own optimism is gone from its score, so any gain over the single counts.
            honest = ensemble.cross_fitted_blend(
                predictions, problem.scored_y, task=problem.task, metric=metric, classes=classes,
                positive=problem.positive, rounds=tune.ensemble_rounds, bags=tune.ensemble_bags, seed=problem.seed,
            )  # fmt: skip
            steps.append(referee.judge("ensemble", single_key, "ensemble", [honest], [chosen_oof], min_gain_se=0.0))
            if steps[-1].replaced:
                members = {}
                for key in ordered:
                    family, tuned = configs[key.split("_", 1)[1]], key == single_key and source == "search"
                    recipe = problem.recipe(single_features if tuned else {})
                    members[key] = (recipe, problem.estimator(family, single_params if tuned else {}))
                outcome.model = ensemble.soft_vote(members, ordered, problem.task)
                outcome.weights = ordered
                outcome.oof, evidence = blend, [blend]
                outcome.summary["ensemble_members"] = len(ordered)
    if calibrates:
        steps.append(outcome.calibrate(evidence, referee))
    outcome.summary["selection"] = [step.record() for step in steps]
    return outcome
