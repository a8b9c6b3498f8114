"""The quality gate before packaging: a model no better than the trivial baseline is not served.

On a table whose target the columns do not predict (random labels, say), the search still chooses
a model, and its scores look like numbers: a cross-validated ROC AUC of 0.41 was once packaged. The
gate compares the chosen model with the trivial baseline (the class priors, or the training mean):

- out of fold, on the search's folds: the gain must exceed `package.min_gain_se` standard errors
  (a paired bootstrap over the rows, written by the tune stage), so that luck rarely passes;
- on the holdout: the model must close more than `package.min_skill` of the gap between the
  baseline's score and a perfect one (`autotab.metrics.skill`, one scale for every metric).

A model that fails either stops the run, unless `package.allow_weak_model` says to package it anyway.
"""

from __future__ import annotations

from typing import Any

from autotab.config import PackageConfig
from autotab.errors import UserError
from autotab.metrics import maximisable, skill


def judge(tuning_summary: dict[str, Any], holdout: dict[str, Any], package: PackageConfig) -> str:
    """One line on how the model compares with the trivial baseline; raises `UserError` if it does
    not clear the gate and `package.allow_weak_model` is false."""
    metric = holdout["primary_metric"]
    model, baseline = tuning_summary["oof_chosen"], tuning_summary["oof_baseline"]
    gain, se = maximisable(model, metric) - maximisable(baseline, metric), tuning_summary["oof_gain_over_baseline_se"]
    held, held_baseline = holdout[metric], holdout["baseline"][metric]
    held_skill = skill(held, held_baseline, metric)
    said = (
        f"out of fold {metric} {model:.4f} against the trivial baseline's {baseline:.4f} "
        f"(gain {gain:+.4f}, {gain / se if se else float('inf'):+.1f} standard errors); "
        f"holdout {held:.4f} against {held_baseline:.4f} (skill {held_skill:+.3f})"
    )
    if gain > package.min_gain_se * se and gain > 0 and held_skill > package.min_skill:
        return f"the model beats the trivial baseline: {said}"
    if package.allow_weak_model:
        return f"WARNING: packaging a model that does not clearly beat the trivial baseline (allowed): {said}"
    raise UserError(
        f"the model does not clearly beat the trivial baseline: {said}; the gate needs more than "
        f"package.min_gain_se ({package.min_gain_se:g}) standard errors out of fold and a holdout skill above "
        f"package.min_skill ({package.min_skill:g}). The columns may not predict the target, or there are too "
        "few rows: see reports/leaderboard.md and reports/model_card.md. To package it anyway: "
        "-S package.allow_weak_model=true"
    )
