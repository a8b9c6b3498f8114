"""Explanations of the packaged model: per record, each raw column's contribution to its output.

The served model is a Pipeline (the cleaner, feature steps, a model), perhaps with a tuned
decision threshold around it, a temperature inside it, or a soft vote of several models (some with
their own feature steps). The explainer walks that structure:

- The output explained is the model's margin (log-odds, or softmax scores for several classes)
  when the model is a single one with exact margin attributions (boosted trees, linear); otherwise
  its probability of the class, or the predicted value of a regression. A temperature divides a
  margin, so it divides the margin's contributions too.
- A soft vote is the weighted average of its members' probabilities (or values), so its
  attributions are the weighted average of its members' (each exact where it can be).
- A feature's contribution is its cleaned column's, and a cleaned column's its raw column's (a
  date's parts all come from the date): contributions are reported per raw column the user sent.

The background, the training rows an absent column's values are drawn from, is a seeded sample of
at most `BACKGROUND_ROWS` training rows; the same sample wherever the model is explained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import VotingClassifier, VotingRegressor
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline

from autotab.estimators.calibration import TemperatureScaled
from autotab.explaining.attributions import (
    LINEAR,
    antithetic_orders,
    cheaper_sampled,
    linear_attribution,
    native_output,
    permutation_attribution,
    tree_attribution,
)
from autotab.explaining.provenance import feature_sources, used_columns

BACKGROUND_ROWS = 100
VOTES = (VotingClassifier, VotingRegressor)
PERMUTATION_PAIRS = 2  # 4 permutations: each record's sampled values are within a few % of exact ones
# Rows one record's sampled explanation may run through the model; a wide table draws fewer
# background rows for it (at least MIN_BACKGROUND_ROWS).
ROWS_PER_RECORD = 20_000
MIN_BACKGROUND_ROWS = 10

OUTPUTS = {
    "log_odds": "log-odds of the explained class",
    "softmax_score": "softmax score (log-probability up to a constant per record) of the explained class",
    "probability": "probability of the explained class",
    "target": "predicted value",
}


def background_positions(n_rows: int, seed: int) -> np.ndarray | None:
    """Where, among `n_rows` training rows, the seeded rows explanations draw absent columns' values
    from are, in the table's order (None: all of them). They depend on the number of rows alone, so
    a large table's file can be read for them only (`tables.read_parquet_rows`)."""
    if n_rows <= BACKGROUND_ROWS:
        return None
    return np.sort(pd.RangeIndex(n_rows).to_series().sample(n=BACKGROUND_ROWS, random_state=seed).to_numpy())


def background_sample(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The background rows of a frame of training rows (see `background_positions`)."""
    positions = background_positions(len(frame), seed)
    return frame if positions is None else frame.iloc[positions]


@dataclass(frozen=True)
class Explanation:
    """Per record: base + the sum of its contributions = the model's `output` for `explained`."""

    columns: list[str]  # the raw columns, in the order of `contributions`' columns
    contributions: np.ndarray  # (records, columns)
    base: np.ndarray  # (records,)
    explained: np.ndarray | None  # the class each record's output is of; None for a regression
    output: str  # a key of OUTPUTS
    method: str  # how the attributions were computed: tree_shap, linear, permutation (joined with +)

    @property
    def value(self) -> np.ndarray:
        """The explained output of each record."""
        return self.base + self.contributions.sum(axis=1)

    def frame(self, prefix: str = "contribution_") -> pd.DataFrame:
        """One row per record: the explained class (if any), the base value, each column's contribution."""
        out = pd.DataFrame({"explained_class": self.explained} if self.explained is not None else {})
        out["base_value"] = self.base
        for position, column in enumerate(self.columns):
            out[f"{prefix}{column}"] = self.contributions[:, position]
        return out

    def records(self) -> list[dict[str, Any]]:
        """JSON-ready answers: base value, contributions keyed by column, output and class."""
        answers = []
        explained = self.explained.tolist() if self.explained is not None else [None] * len(self.base)
        for base, row, cls in zip(self.base.tolist(), self.contributions.tolist(), explained, strict=True):
            answer: dict[str, Any] = {"output": self.output, "base_value": base}
            if cls is not None:
                answer["explained_class"] = cls
            answer["contributions"] = dict(zip(self.columns, row, strict=True))
            answers.append(answer)
        return answers


class Explainer:
    """Explains a fitted autotab model (what models/model.joblib and models/served.joblib hold)
    against `background`, raw training rows (see `background_sample`). `seed` draws the permutations
    sampling uses."""

    def __init__(self, model: Any, background: pd.DataFrame, seed: int = 0) -> None:
        self.threshold = model if isinstance(model, FixedThresholdClassifier) else None
        pipeline = model.estimator_ if self.threshold is not None else model
        if not isinstance(pipeline, Pipeline) or pipeline.steps[0][0] != "clean":
            raise TypeError("an autotab model is a Pipeline that starts with its cleaner")
        self.cleaner, self.tail = pipeline.steps[0][1], pipeline.steps[1:]
        self.classes = getattr(pipeline, "classes_", None)
        self.background = self.cleaner.transform(background)
        sources = self.cleaner.sources()
        # Grouped in one pass: a column scan per raw column was 7 s on a 2,000-column table.
        grouped: dict[str, list[str]] = {}
        for column in self.background.columns:
            grouped.setdefault(sources[column], []).append(column)
        self.columns = list(grouped)
        self.player_columns = list(grouped.values())
        self.player_of = {c: i for i, columns in enumerate(self.player_columns) for c in columns}
        self.seed = seed
        # What one record costs where it is sampled, at most (every column a player): rows run through the model.
        self.sampled_rows_per_record = (
            len(self._sampling_background(len(self.columns))) * 2 * PERMUTATION_PAIRS * (len(self.columns) + 1)
        )
        *features, (_, last) = self.tail
        self.output = self._output(features, last)
        # Per model inside: exact or sampled (`_to_players`), the shap library's explainer, a linear
        # model's reference input.
        self._plans: dict[int, np.ndarray | None] = {}
        self._tree_explainers: dict[int, Any] = {}
        self._references: dict[int, np.ndarray] = {}
        self._reads: dict[tuple, list[bool]] = {}  # per sampled group of members: which players count

    # -- what is explained ---------------------------------------------------------------------

    def _output(self, features: list, last: Any) -> str:
        if self.classes is None:
            return "target"
        inner = last.estimator_ if isinstance(last, TemperatureScaled) else last
        if native_output(inner) == "margin" and feature_sources(features) is not None:
            return "log_odds" if len(self.classes) == 2 else "softmax_score"
        return "probability"

    def _positive(self) -> Any:
        return self.threshold.pos_label if self.threshold is not None else self.classes[1]

    # -- attributions per node, over the players (raw columns) -----------------------------------

    def _node(self, features: list, model: Any, cleaned: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, set[str]]:
        """(base (rows, K), phi (rows, players, K)) of `model` after the fitted `features` steps,
        and the methods that computed them."""
        margin = self.output in ("log_odds", "softmax_score")
        if isinstance(model, TemperatureScaled) and margin:
            base, phi, methods = self._node(features, model.estimator_, cleaned)
            return base / model.temperature, phi / model.temperature, methods
        if isinstance(model, VOTES) and not margin:
            weights = np.ones(len(model.estimators_)) if model.weights is None else np.asarray(model.weights, float)
            parts, sampled = [], []
            for weight, member in zip(weights / weights.sum(), model.estimators_, strict=True):
                *own, (_, leaf) = member.steps if isinstance(member, Pipeline) else [("model", member)]
                # Exact members, and a vote within the vote (a group sharing its feature steps), walked into.
                if isinstance(leaf, VOTES) or self._to_players([*features, *own], leaf) is not None:
                    parts.append((weight, *self._node([*features, *own], leaf, cleaned)))
                else:
                    sampled.append((weight, own, leaf))
            if sampled:  # one pass for all of them: sampling is linear in the output it explains
                parts.append((1.0, *self._sampled(features, sampled, cleaned)))
            base = sum(w * b for w, b, _, _ in parts)
            phi = sum(w * p for w, _, p, _ in parts)
            return base, phi, set().union(*(methods for _, _, _, methods in parts))
        if self._to_players(features, model) is not None:
            return self._exact(features, model, cleaned)
        if margin:
            raise ValueError("a margin is explained only where its attributions are exact")
        return self._sampled(features, [(1.0, [], model)], cleaned)

    def _to_players(self, features: list, model: Any) -> np.ndarray | None:
        """For a model explained exactly, the (features x players) matrix that adds its features'
        attributions up per raw column; None for one explained by sampling. Decided once per model:
        it reads every step's feature names and a forest's tree sizes."""
        if id(model) not in self._plans:
            margin = self.output in ("log_odds", "softmax_score")
            wanted = "target" if self.classes is None else ("margin" if margin else "probability")
            sources = feature_sources(features) if native_output(model) == wanted else None
            if sources is None or cheaper_sampled(model, self.sampled_rows_per_record):
                self._plans[id(model)] = None
            else:
                matrix = np.zeros((len(sources), len(self.columns)))
                matrix[np.arange(len(sources)), [self.player_of[c] for c in sources]] = 1.0
                self._plans[id(model)] = matrix
        return self._plans[id(model)]

    def _exact(self, features: list, model: Any, cleaned: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, set[str]]:
        """Exact attributions of a model `_to_players` maps, added up per raw column."""
        Z = np.asarray(self._features(features, cleaned), dtype=np.float64)
        if isinstance(model, LINEAR):
            if id(model) not in self._references:  # the background's mean model input
                inputs = self._features(features, self.background)
                self._references[id(model)] = np.asarray(inputs, dtype=np.float64).mean(axis=0)
            (base, phi), method = linear_attribution(model, Z, self._references[id(model)]), "linear"
        else:
            (base, phi), method = tree_attribution(model, Z, self._tree_explainers), "tree_shap"
        return base, np.einsum("rfk,fp->rpk", phi, self._to_players(features, model)), {method}

    def _sampled(
        self, shared: list, members: list[tuple[float, list, Any]], cleaned: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, set[str]]:
        """Sampled attributions of the weighted sum of `members` (weight, own feature steps, model),
        all after the `shared` feature steps: the same as each member's sampled on its own and
        weighted (the same permutations and background), for one hybrid frame and one pass of
        the shared steps."""
        tails = [(weight, Pipeline([*own, ("model", model)]) if own else model) for weight, own, model in members]

        def output(frame: pd.DataFrame) -> np.ndarray:
            inputs = Pipeline(shared).transform(frame) if shared else frame
            if self.classes is None:
                return sum(weight * tail.predict(inputs)[:, None] for weight, tail in tails)
            return sum(weight * tail.predict_proba(inputs) for weight, tail in tails)

        reads = self._players_read(shared, members)
        active = [i for i, read in enumerate(reads) if read]
        idle = [c for read, columns in zip(reads, self.player_columns, strict=True) if not read for c in columns]
        base, phi = permutation_attribution(
            output, cleaned, self._sampling_background(len(active)), [self.player_columns[i] for i in active],
            antithetic_orders(len(active), PERMUTATION_PAIRS, self.seed), fixed=idle,
        )  # fmt: skip
        every = np.zeros((len(cleaned), len(self.player_columns), phi.shape[2]))
        every[:, active, :] = phi
        return base, every, {"permutation"}

    def _players_read(self, shared: list, members: list[tuple[float, list, Any]]) -> list[bool]:
        """Per player, whether some member can read its columns. Only those are sampled: a column the
        selection or the column budget dropped changes no output, so its share is 0 and sampling it
        (most of a wide table's columns) would only cost; its values are the record's throughout.
        Decided once per group of members: it reads every step's feature names."""
        key = (tuple(id(step) for _, step in shared), tuple(id(model) for _, _, model in members))
        if key not in self._reads:
            used: set[str] | None = set()
            for _, own, _ in members:
                columns = used_columns([*shared, *own])
                used = None if columns is None or used is None else used | columns
            self._reads[key] = [used is None or bool(used.intersection(columns)) for columns in self.player_columns]
        return self._reads[key]

    def _sampling_background(self, players: int) -> pd.DataFrame:
        """The background rows sampling draws from, for `players` players: fewer on a wide table."""
        per_background_row = 2 * PERMUTATION_PAIRS * (players + 1)
        return self.background.iloc[: max(MIN_BACKGROUND_ROWS, ROWS_PER_RECORD // per_background_row)]

    @staticmethod
    def _features(features: list, cleaned: pd.DataFrame) -> Any:
        """The model's input: the cleaned rows through the fitted `features` steps."""
        return Pipeline(features).transform(cleaned) if features else cleaned.to_numpy(dtype=np.float64)

    # -- the public part ---------------------------------------------------------------------------

    def explain(self, frame: pd.DataFrame, labels: np.ndarray | None = None) -> Explanation:
        """Explain raw rows. A classifier's output is that of the positive class for two classes,
        else of each record's predicted class (`labels`, if the caller has them already)."""
        return self.explain_cleaned(self.cleaner.transform(frame), labels)

    def explain_cleaned(self, cleaned: pd.DataFrame, labels: np.ndarray | None = None) -> Explanation:
        """`explain` for rows the model's cleaner has already cleaned."""
        *features, (_, last) = self.tail
        if self.classes is not None and self.output in ("probability", "softmax_score") and len(self.classes) > 2:
            if labels is None:
                pipeline = Pipeline(self.tail)
                labels = self.classes[np.argmax(pipeline.predict_proba(cleaned), axis=1)]
            explained = np.asarray(labels)
        elif self.classes is not None:
            explained = np.full(len(cleaned), self._positive(), dtype=object)
        else:
            explained = None
        base, phi, methods = self._node(features, last, cleaned)
        if explained is None:
            column = np.zeros(len(cleaned), dtype=int)
        elif self.output == "log_odds":  # one margin, of classes_[1]: the other class's is its negative
            column = np.zeros(len(cleaned), dtype=int)
            if self._positive() != self.classes[1]:
                base, phi = -base, -phi
        else:
            column = np.searchsorted(self.classes, explained)
        rows = np.arange(len(cleaned))
        return Explanation(
            columns=self.columns,
            contributions=phi[rows, :, column],
            base=base[rows, column],
            explained=explained,
            output=self.output,
            method="+".join(sorted(methods)),
        )
