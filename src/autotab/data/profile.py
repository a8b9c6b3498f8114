"""The training distribution of each cleaned column, kept in the data contract as the reference that
new data is compared with (`autotab drift`, `autotab.reporting.drift`).

A numeric column keeps the cut points of its deciles (fewer when values repeat) and the share of
training values in each bin; a categorical one the share of each level (the most frequent
`MAX_LEVELS`, the rest together as `OTHER`); both the share of missing values. That is what the
population stability index and a chi-squared test of new data against it need, at a few numbers
per column, whatever the number of training rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

BINS = 10
MAX_LEVELS = 50
OTHER = "(other)"  # the levels past the most frequent MAX_LEVELS, together
UNSEEN = "(unseen)"  # a level never seen in training (when every training level is listed)
MISSING = "(missing)"
PSI_FLOOR = 1e-4  # a share never seen on one side counts as this much, so its term stays finite


class ColumnProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rows: int  # training rows
    missing: float  # their share with no value
    edges: tuple[float, ...] | None = None  # numeric: the inner cut points of its bins
    shares: tuple[float, ...] | None = None  # numeric: the share of the present values in each bin
    levels: dict[str, float] | None = None  # categorical: the share of the present values per level


def numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def level_shares(values: pd.Series) -> pd.Series:
    """The share of each present value, as text (the cleaned categories are text)."""
    present = values.dropna().astype(str)
    return present.value_counts(normalize=True, sort=False) if len(present) else pd.Series(dtype=float)


def column_profile(values: pd.Series) -> ColumnProfile:
    missing = round(float(values.isna().mean()), 6) if len(values) else 0.0
    if numeric(values):
        present = values.dropna().to_numpy(dtype=float)
        if not len(present):
            return ColumnProfile(rows=len(values), missing=missing, edges=(), shares=(0.0,))
        cuts = np.quantile(present, np.linspace(0, 1, BINS + 1)[1:-1], method="inverted_cdf")
        edges = tuple(float(edge) for edge in np.unique(cuts) if edge < present.max())
        in_bins = shares_of(np.searchsorted(np.asarray(edges, dtype=float), present, side="left"), len(edges) + 1)
        shares = tuple(round(float(share), 6) for share in in_bins)
        return ColumnProfile(rows=len(values), missing=missing, edges=edges, shares=shares)
    # The most frequent first, ties in name order: the same profile from the same values.
    shares = level_shares(values).sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    kept = {str(level): round(float(share), 6) for level, share in shares.head(MAX_LEVELS).items()}
    if len(shares) > MAX_LEVELS:
        kept[OTHER] = round(float(shares.iloc[MAX_LEVELS:].sum()), 6)
    return ColumnProfile(rows=len(values), missing=missing, levels=kept)


def bin_names(profile: ColumnProfile) -> list[str]:
    """The bins a column's values fall in: its value bins or levels, then missing values."""
    if profile.edges is not None:
        return [f"bin {i}" for i in range(len(profile.edges) + 1)] + [MISSING]
    return [*profile.levels, *([] if OTHER in profile.levels else [UNSEEN]), MISSING]


def reference_shares(profile: ColumnProfile) -> np.ndarray:
    """The training rows' share in each of `bin_names`."""
    present = profile.shares if profile.edges is not None else tuple(profile.levels.values())
    unseen = () if profile.edges is not None or OTHER in profile.levels else (0.0,)
    return np.array([*(share * (1 - profile.missing) for share in present), *unseen, profile.missing])


def bin_codes(values: pd.Series, profile: ColumnProfile) -> np.ndarray:
    """Each value's bin, an index into `bin_names` (NumPy throughout: the service bins every record).
    Bin i of a numeric column holds the values in (edges[i-1], edges[i]]."""
    missing_bin = len(bin_names(profile)) - 1
    if profile.edges is not None:
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        codes = np.searchsorted(np.asarray(profile.edges, dtype=float), numbers, side="left")
        codes[np.isnan(numbers)] = missing_bin
        return codes
    index = {level: position for position, level in enumerate(profile.levels)}
    fallback = index.get(OTHER, len(profile.levels))  # pooled with the rare levels, or unseen
    objects = values.to_numpy(dtype=object, na_value=None)
    return np.fromiter(
        (missing_bin if value is None else index.get(str(value), fallback) for value in objects),
        dtype=np.int64, count=len(objects),
    )  # fmt: skip


def shares_of(codes: np.ndarray, n_bins: int) -> np.ndarray:
    return np.bincount(codes, minlength=n_bins) / len(codes) if len(codes) else np.zeros(n_bins)


def psi(reference: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The population stability index of two distributions over the same bins (shares, along the
    last axis; one index per row of 2-D arrays): the sum of (new - reference) * ln(new / reference)."""
    reference, new = np.maximum(reference, PSI_FLOOR), np.maximum(new, PSI_FLOOR)
    return np.sum((new - reference) * np.log(new / reference), axis=-1)
