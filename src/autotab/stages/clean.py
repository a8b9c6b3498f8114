"""clean: valid rows, a seeded train/holdout split, the data contract and the clean report.

Column-level cleaning is not applied to the tables written here: it is `TableCleaner`, the first
step of the Pipeline, learned on training rows inside every fold. This stage saves its unfitted
recipe and fits it once on the training split for the contract and the report.
"""

import numpy as np
import pandas as pd
from sklearn.base import clone

from autotab import paths
from autotab.config import CleanConfig, load_config
from autotab.data import contract as data_contract
from autotab.data import leakage
from autotab.data.row_cleaning import (
    clean_rows,
    cleaner_recipe,
    column_report,
    min_class_rows,
    outlier_rows,
    task_and_classes,
)
from autotab.data.splits import split_rows, time_column_of, time_order
from autotab.errors import UserError, run_stage
from autotab.metrics import positive_class
from autotab.tables import write_joblib, write_json, write_parquet


def main() -> None:
    config = load_config()
    data, clean = config.data, config.clean
    raw = pd.read_parquet(paths.RAW_TABLE)
    unknown = [name for name in [*data.drop, data.group] if name is not None and name not in raw.columns]
    if unknown:
        raise UserError(
            f"data.drop or data.group names columns that are not in the table: {', '.join(unknown)}; "
            f"its columns are: {', '.join(raw.columns)}"
        )

    rows, dropped_rows = clean_rows(raw, data.target, data.task, clean.missing_markers, clean.drop_duplicates)
    rows_in, columns_in = raw.shape
    del raw  # the valid rows are a copy: a table of millions of rows is not held twice from here on
    rows, task, task_reason, classes_dropped = task_and_classes(
        rows, data=data, clean=clean, n_folds=config.train.folds
    )
    dropped_rows["rare_class"] = sum(classes_dropped.values())
    time_column = time_column_of(rows, data)
    train, test = split_rows(rows, data.target, task, data.test_size, data.seed, data.group, time_column)
    classes = sorted(rows[data.target].unique()) if task != "regression" else None
    del rows  # the two splits hold every valid row
    # The column report counts every valid row as split, before any outlier is dropped from train.
    split_train = train

    recipe = cleaner_recipe(data, clean)
    fitted = clone(recipe).fit(train.drop(columns=[data.target]))
    if not fitted.kinds_:
        raise UserError(f"every feature column was dropped: {fitted.dropped_}")
    dropped_rows["outlier"] = 0
    if clean.outliers == "isolation_forest":
        outliers = outlier_rows(fitted.transform(train), clean.outlier_contamination, data.seed)
        train = train[~outliers].reset_index(drop=True)
        dropped_rows["outlier"] = int(outliers.sum())
        fitted = clone(recipe).fit(train.drop(columns=[data.target]))

    target = {"target": data.target, "task": task, "task_reason": task_reason, "time_column": time_column}
    if classes is not None:
        target["classes"] = [str(c) for c in classes]
        if task == "binary":
            target["positive_label"] = str(positive_class(pd.Series(classes).to_numpy(), data.positive_label))
    # The rare-class bar as applied (auto's follows train.folds): a new bar that drops another class
    # regenerates the contract, as any cleaning change does, rather than failing it as other data.
    applied = {"min_class_count": min_class_rows(clean, test_size=data.test_size, n_folds=config.train.folds)[0]}
    fingerprint = data_contract.config_fingerprint(
        {"data": data.fingerprinted(), "clean": clean.model_dump(exclude=CleanConfig.REPORT_ONLY) | applied}
    )
    cleaned_train = fitted.transform(train)
    contract = data_contract.build_contract(fitted, cleaned_train, target, fingerprint)
    contract_path = paths.contract(data.name)
    previous = data_contract.DataContract.read(contract_path) if contract_path.exists() else None
    contract_status = data_contract.enforce(previous, contract, f"({contract_path})")
    # A new version of the same data (same structure, checked above): its training values outside
    # the ranges the contract recorded so far.
    drift = {}
    if previous is not None and previous.config_fingerprint == contract.config_fingerprint:
        drift = data_contract.check_cleaned(cleaned_train, previous, "the cleaned training split")
    if drift and clean.on_range_drift == "fail":
        listed = ", ".join(f"{column}: {count}" for column, count in drift.items())
        raise UserError(
            f"the new data has training values outside the ranges its contract ({contract_path}) recorded "
            f"({listed}), and clean.on_range_drift is fail. If that is expected: -S clean.on_range_drift=report, "
            "or `autotab contract --reset`"
        )

    leaks = leakage.check_split(
        train=train, test=test, fitted=fitted, cleaned_train=cleaned_train, task=task, data=data, clean=clean,
        n_folds=config.train.folds,
    )  # fmt: skip
    del cleaned_train  # as large as the split: not held through the column report's own cleaning
    if leaks["shortcut_columns"] and not clean.allow_leaks:
        named = ", ".join(
            f"{name} ({leaks['metric']} {score:.4f})" for name, score in leaks["shortcut_columns"].items()
        )
        raise UserError(
            f"a column alone nearly gives the target away, a probable leak: {named}. If it is known when "
            f"predicting, set clean.allow_leaks: true; else drop it (data.drop in conf/data/{data.name}.yaml)"
        )
    columns = column_report(fitted, split_train, test)
    del split_train
    report = {
        "rows_in": rows_in,
        "rows_out": len(train) + len(test),
        "rows_dropped": dropped_rows,
        "train_rows": len(train),
        "test_rows": len(test),
        "classes_dropped": classes_dropped,
        "columns_in": columns_in - 1,
        "columns_out": len(fitted.get_feature_names_out()),
        "columns_dropped": fitted.dropped_,
        "columns_renamed": contract.renamed,
        "task": task,
        "task_reason": task_reason,
        "markers_to_missing": sum(c["markers_to_missing"] for c in columns.values()),
        "unreadable_to_missing": sum(c["unreadable_to_missing"] for c in columns.values()),
        "outside_recorded_ranges": drift,
    }

    write_parquet(train, paths.CLEAN_TRAIN)
    write_parquet(test, paths.CLEAN_TEST)
    write_joblib(recipe, paths.CLEANER_RECIPE)
    contract.write(contract_path)
    write_json(columns, paths.CLEAN_COLUMNS)
    write_json(report, paths.CLEAN_REPORT)
    write_json(leaks, paths.LEAKAGE_REPORT)
    print(summary(report, columns, contract_path, contract_status))
    if time_column is not None:
        first = test[time_column].iloc[int(np.argmin(time_order(test[time_column])))]
        print(f"  split: by time (data.split: time): the holdout is the {len(test)} latest rows, from {time_column} "
              f"{first}; train's folds chain forward in time")  # fmt: skip
    print(leakage.summary(leaks))


def summary(report: dict, columns: dict, contract_path, contract_status: str) -> str:
    dropped = ", ".join(f"{n} {reason}" for reason, n in report["rows_dropped"].items() if n) or "none"
    coerced = {name: c["unreadable_to_missing"] for name, c in columns.items() if c["unreadable_to_missing"]}
    dropped_columns = "\n".join(f"    {name}: {why}" for name, why in report["columns_dropped"].items())
    lines = [
        f"clean: {report['rows_in']} rows in, {report['rows_out']} out (dropped: {dropped}); "
        f"train {report['train_rows']}, holdout {report['test_rows']}",
        f"  task: {report['task']} ({report['task_reason']})",
        *(
            [f"  rare classes dropped (clean.rare_classes; the model never predicts them): {rare}"]
            if (rare := ", ".join(f"{label!r} ({n})" for label, n in report["classes_dropped"].items()))
            else []
        ),
        f"  columns: {report['columns_in']} in, {report['columns_out']} features out; dropped:",
        dropped_columns or "    none",
        f"  missing markers turned missing: {report['markers_to_missing']}; "
        f"unreadable values turned missing: {coerced or 0}",
        f"  contract {contract_path}: {contract_status}",
    ]
    if report["outside_recorded_ranges"]:
        drifted = ", ".join(f"{name}: {n}" for name, n in report["outside_recorded_ranges"].items())
        lines.append(f"  training values outside the ranges the contract recorded (clean.on_range_drift): {drifted}")
    return "\n".join(lines)


if __name__ == "__main__":
    run_stage("clean", main)
