"""clean: rows with a target and no duplicates, a seeded train/holdout split, the data contract.

Column-level cleaning is not applied here: it is `TableCleaner`, the first step of the Pipeline,
learned on training rows only. This stage saves its unfitted recipe and fits it once on the
training split to write the contract and the report.
"""

import pandas as pd
from sklearn.base import clone

from autotab import paths
from autotab.cleaning import TableCleaner, clean_rows, infer_task, split_rows
from autotab.config import load_config
from autotab.errors import UserError, run_stage
from autotab.evaluation import positive_class
from autotab.tables import write_joblib, write_json, write_parquet


def main() -> None:
    config = load_config()
    data, clean = config.data, config.clean
    raw = pd.read_parquet(paths.RAW_TABLE)
    unknown = [name for name in data.drop if name not in raw.columns]
    if unknown:
        raise UserError(
            f"data.drop names columns that are not in the table: {', '.join(unknown)}; "
            f"its columns are: {', '.join(map(str, raw.columns))}"
        )

    rows, dropped_rows = clean_rows(raw, data.target, clean.missing_markers, clean.drop_duplicates)
    task, task_reason = infer_task(rows[data.target], data.task, clean.max_classes)
    train, test = split_rows(rows, data.target, task, data.test_size, data.seed)

    recipe = TableCleaner(
        drop=tuple(data.drop),
        missing_markers=tuple(clean.missing_markers),
        id_unique_ratio=clean.id_unique_ratio,
    )
    fitted = clone(recipe).fit(train.drop(columns=[data.target]))
    cleaned_train = fitted.transform(train)

    contract = {"target": data.target, "task": task, "task_reason": task_reason}
    if task != "regression":
        classes = sorted(rows[data.target].unique())
        contract["classes"] = [str(c) for c in classes]
        if task == "binary":
            contract["positive_label"] = str(
                positive_class(pd.Series(classes).to_numpy(), data.positive_label)
            )
    contract["input"] = fitted.input_schema()
    contract["cleaned"] = dict(fitted.kinds_)

    report = {
        "rows_in": len(raw),
        "rows_out": len(rows),
        "rows_dropped": dropped_rows,
        "train_rows": len(train),
        "test_rows": len(test),
        "columns_in": raw.shape[1] - 1,
        "columns_out": len(fitted.kinds_),
        "columns_dropped": fitted.dropped_,
        "missing_cells_train": {name: int(n) for name, n in cleaned_train.isna().sum().items() if n},
        "task": task,
        "task_reason": task_reason,
    }

    write_parquet(train, paths.CLEAN_TRAIN)
    write_parquet(test, paths.CLEAN_TEST)
    write_joblib(recipe, paths.CLEANER_RECIPE)
    write_json(contract, paths.DATA_CONTRACT)
    write_json(report, paths.CLEAN_REPORT)
    dropped_columns = ", ".join(f"{k} ({v})" for k, v in fitted.dropped_.items()) or "none"
    print(
        f"clean: {len(raw)} rows in, {len(rows)} out "
        f"({dropped_rows['missing_target']} without target, {dropped_rows['duplicate']} duplicates); "
        f"task {task} ({task_reason}); train {len(train)}, holdout {len(test)}; "
        f"columns dropped: {dropped_columns}"
    )


if __name__ == "__main__":
    run_stage("clean", main)
