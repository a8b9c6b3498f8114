"""The model card, `reports/model_card.md`: what the served model is, what it was trained on, how
well it did, and what it does not know. Built from the pipeline's own reports, nothing typed twice."""

from __future__ import annotations

from typing import Any

import pandas as pd

from autotab import paths
from autotab.config import Config
from autotab.data.contract import DataContract
from autotab.explaining.explainer import OUTPUTS
from autotab.tables import file_digest, read_json


def _table(rows: dict[str, Any]) -> str:
    """A two-column Markdown table of names and values, as written (no number parsing)."""
    frame = pd.DataFrame({"": list(rows), " ": [str(value) for value in rows.values()]})
    return frame.to_markdown(index=False, disable_numparse=True)


def _lineage(raw_schema: dict) -> str:
    """The data and the model by the hashes `dvc.lock` records. Not the params' md5: the card would then
    depend on every param, and a change to the serving config would evaluate the model again."""
    return "\n".join([
        _table({
            "data file": f"`{raw_schema['source']}`", "data md5 (as in `dvc.lock`)": f"`{raw_schema['md5']}`",
            "evaluated model md5 (as in `dvc.lock`)": f"`{file_digest(paths.MODEL, 'md5')}`",
        }),
        "",
        "This card is committed with the run, so its commit is the code's and the params' version. The packaged "
        "model carries the data's hashes, the md5 of `params.yaml` and the sha256 of its code in its labels.",
    ])  # fmt: skip


def _explained_rows(explained: int, metrics: dict) -> str:
    holdout = metrics["holdout_rows"]
    return (
        "the holdout" if explained == holdout else f"a seeded sample of {explained:,} of the {holdout:,} holdout rows"
    )


def model_card(
    config: Config,
    contract: DataContract,
    metrics: dict,
    importance: pd.DataFrame,
    contributions: pd.DataFrame,
    explained: str,
    *,
    explained_rows: int,
    served: str,
) -> str:
    """`contributions`: each raw column's mean absolute contribution on `explained_rows` of the
    holdout rows, in the units `explained` names (`autotab.explaining.explainer.OUTPUTS`). `served`:
    what is served, the evaluated model or its recipe refit on more rows (`autotab.modeling.final_fit`)."""
    raw = read_json(paths.RAW_SCHEMA)
    clean = read_json(paths.CLEAN_REPORT)
    chosen = read_json(paths.BEST_PARAMS)
    tuning = read_json(paths.TUNING_SUMMARY)
    metric = metrics["primary_metric"]
    used = [field.name for field in contract.used_fields]
    model = chosen["model"]
    if model == "ensemble":
        model = "soft-voting ensemble of " + ", ".join(f"{k} (×{v})" for k, v in chosen["ensemble_weights"].items())
    holdout = {k: v for k, v in metrics.items() if k in metrics["baseline"]}
    return "\n".join([
        f"# Model card: {config.data.name}",
        "",
        "## Data",
        _table({
            "source": f"`{raw['source']}`", "sha256": f"`{raw['sha256']}`", "rows in the file": raw["rows"],
            "rows after cleaning": clean["rows_out"],
            "training / holdout rows": f"{clean['train_rows']} / {clean['test_rows']}",
            "target": f"`{contract.target}` ({contract.task}: {contract.task_reason})",
            "features used": ", ".join(f"`{n}`" for n in used),
            "columns dropped": "; ".join(f"`{k}`: {v}" for k, v in clean["columns_dropped"].items()) or "none",
        }),
        "",
        "## Model",
        _table({
            "model": model, "chosen from": chosen["chosen_from"], "best single family": chosen["best_single"],
            "hyperparameters": f"`{chosen['params']}`", "features": f"`{chosen['features']}`",
            "decision threshold": metrics.get("decision_threshold", "argmax (not binary)"),
            "seed": config.data.seed, "trials": tuning["n_trials"],
            # Only a budgeted run on a table too large for its budget chooses and fits on samples.
            **({"chosen on": f"a seeded sample of {tuning['selection_rows']:,} training rows (budget_s)"}
               if "selection_rows" in tuning else {}),
            **({"fitted on": f"a seeded sample of {tuning['refit_rows']:,} of the {clean['train_rows']:,} training "
                "rows (budget_s: every row did not fit)"}
               if tuning.get("refit_rows", clean["train_rows"]) < clean["train_rows"] else {}),
            **({"fitted on": f"every training row, on a Dask cluster (train.distributed_fit); the recipe and "
                f"round count on a seeded sample of {tuning['distributed_fit']['recipe_rows']:,}"}
               if "distributed_fit" in tuning else {}),
            "served": served,
        }),
        "",
        "## Performance",
        f"Cross-validated {metric} ({config.train.folds} {'forward-chaining ' if contract.time_column else ''}folds "
        "on the training split): defaults chosen "
        f"({tuning['default_chosen']}, anchor {tuning['anchor']}) {tuning['cv_default_best']:.4f}, best tuned "
        + ("none (no trial finished within the budget)." if tuning["cv_search_best"] is None
           else f"{tuning['cv_search_best']:.4f}."),
        "",
        f"Holdout ({metrics['holdout_rows']} rows, the model fitted on the training split): {metric} "
        f"{metrics[metric]:.4f}, 95% bootstrap interval "
        f"[{metrics[f'{metric}_ci95_low']:.4f}, {metrics[f'{metric}_ci95_high']:.4f}]; a trivial baseline "
        f"(training class frequencies or mean) scores {metrics['baseline'][metric]:.4f}.",
        "",
        _table({name: f"{value:.4f} (baseline {metrics['baseline'][name]:.4f})" for name, value in holdout.items()}),
        "",
        "## What the model relies on",
        "Permutation importance on the holdout (the drop in the score when one raw column is shuffled):",
        "",
        _table({f"`{r.feature}`": f"{r.importance:.4f} ± {r.std:.4f}" for r in importance.head(10).itertuples()}),
        "",
        f"Mean absolute contribution to the {OUTPUTS[explained]} on {_explained_rows(explained_rows, metrics)} "
        "(SHAP values per raw column, what `POST /explain` and `autotab explain` give per record):",
        "",
        _table({f"`{r.feature}`": f"{r.importance:.4f}" for r in contributions.head(10).itertuples()}),
        "",
        "## Leakage checks",
        _leakage(read_json(paths.LEAKAGE_REPORT), config.data.group, contract.time_column),
        "",
        "## Lineage",
        _lineage(raw),
        "",
        "## Known limits",
        "- Trained on the rows above only: values outside the training ranges (see the data contract) are "
        "extrapolated, and categories never seen in training are encoded as unknown.",
        "- The holdout is small; the interval above says how much the metric could move on new data.",
        _probabilities(tuning.get("temperature", 1.0)),
        *(
            [f"- Never predicts the classes dropped as rare (fewer than clean.min_class_count rows; "
             f"clean.rare_classes): {rare}. Their rows are in neither the training rows nor the holdout."]
            if (rare := ", ".join(f"`{label}` ({n} rows)" for label, n in clean["classes_dropped"].items()))
            else []
        ),
        "",
    ])  # fmt: skip


def _leakage(report: dict, group: str | None, time_column: str | None) -> str:
    """What the clean stage's leakage checks found on the training rows (autotab.data.leakage)."""
    metric, shortcuts = report["metric"], report["shortcut_columns"]
    split = f"grouped by `{group}`: no value on both sides" if group else "random rows (no data.group)"
    if time_column is not None:
        split = f"by time (`{time_column}`): the holdout is the latest rows, and the folds chain forward"
    rows = {
        "split": split,
        "best single column": f"`{report['best_single_column']}`: {metric} {report['best_single_column_score']:.4f} "
        f"alone (a probable leak at {report['leak_score']})" if report["best_single_column"] else "none",
        "columns that alone nearly give the target away": ", ".join(
            f"`{name}` ({value:.4f}, allowed by clean.allow_leaks)" for name, value in shortcuts.items()
        ) or "none",
        "id-like columns that predict the target": ", ".join(
            f"`{name}` ({finding['score']:.4f})" for name, finding in report["predictive_id_columns"].items()
        ) or "none",
        "holdout rows repeating a training row's values": f"{report['holdout_rows_repeated_in_training']} "
        f"({report['holdout_rows_repeated_in_training_with_target']} with the same target)",
        "training rows whose values repeat in another fold": report["training_rows_repeated_across_folds"],
        **{f"dated by `{name}`": f"{counts['holdout_rows_older_than_newest_training_row']} of {counts['holdout_rows']} "
           "holdout rows are older than the newest training row: the split mixes past and future"
           for name, counts in report["random_split_mixes_time"].items()},
    }  # fmt: skip
    suggestions = "".join(f"\n- {text}" for text in report["suggestions"])
    return _table(rows) + ("\n\nSuggested:" + suggestions if suggestions else "")


def _probabilities(temperature: float) -> str:
    if temperature == 1.0:
        return "- Probabilities are the model's own; they are not recalibrated after training."
    return (
        f"- Probabilities are temperature-scaled (temperature {temperature:g}, fitted on the out-of-fold "
        "predictions): as confident as the cross-validation supports, for a table like the training one."
    )
