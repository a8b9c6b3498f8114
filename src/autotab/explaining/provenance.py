"""Which cleaned column each feature the model sees was made from.

autotab's feature steps work column by column (imputation, transforms, scaling, one-hot or target
encoding), then may drop features (selection, the column budget): every feature comes from exactly
one cleaned column, so a feature's contribution is its column's. The mapping is read from the
fitted steps' own feature names, computed with placeholder input names (`c0`, `c1`...) that no
step can confuse with a category level. A step that mixes columns (PCA) has no such mapping.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (IterativeImputer's import)
from sklearn.feature_selection import SelectorMixin
from sklearn.impute import IterativeImputer, KNNImputer

from autotab.estimators.column_groups import ColumnGroups

# Imputers that fill one column's gaps from the other columns' values: a feature they impute depends
# on more columns than the one it is named after.
MIXING_IMPUTERS = (KNNImputer, IterativeImputer)

# An output name of a per-column step starts with its input's name, an imputer's missing-value
# indicator with "missingindicator_": c3, missingindicator_c3, c3_level, c3_infrequent_sklearn.
PLACEHOLDER = re.compile(r"(?:missingindicator_)?c(\d+)(?![0-9])")


def group_sources(fitted: Any, columns: list[str]) -> np.ndarray | None:
    """The input column of each output feature of one fitted group Pipeline of `ColumnGroups`."""
    placeholders = np.asarray([f"c{i}" for i in range(len(columns))], dtype=object)
    sources = []
    for name in fitted.get_feature_names_out(placeholders):
        found = PLACEHOLDER.match(str(name))
        if found is None:
            return None
        sources.append(columns[int(found.group(1))])
    return np.asarray(sources, dtype=object)


def feature_sources(steps: list[tuple[str, Any]]) -> np.ndarray | None:
    """The cleaned column each model feature comes from, after the fitted feature `steps` (those
    between the cleaner and the model, in order); None when a step mixes or is unknown."""
    sources: np.ndarray | None = None
    for _, step in steps:
        if isinstance(step, ColumnGroups):
            parts = [group_sources(fitted, columns) for _, fitted, columns in step.fitted_groups_]
            if any(part is None for part in parts):
                return None
            sources = np.concatenate(parts) if parts else np.empty(0, dtype=object)
        elif isinstance(step, SelectorMixin) and sources is not None:
            sources = sources[step.get_support()]
        else:
            return None
    return sources


def used_columns(steps: list[tuple[str, Any]]) -> set[str] | None:
    """The cleaned columns the features after the fitted `steps` can depend on at all; None when
    that may be any of them (a step mixes columns, or an imputer fills gaps from other columns).
    A column the selection or the column budget dropped is not among them."""
    sources = feature_sources(steps)
    if sources is None:
        return None
    for _, step in steps:
        if isinstance(step, ColumnGroups):
            for _, fitted, _ in step.fitted_groups_:
                if any(isinstance(part, MIXING_IMPUTERS) for _, part in getattr(fitted, "steps", [])):
                    return None
    return set(sources)
