"""features: the preprocessing recipe, and the transformed tables it gives when fit on train.

The recipe saved here is unfitted: train and tune fit a clone inside every fold, so nothing is
learned from rows a fold scores. The transformed tables and the report are for inspection.
"""

import joblib
import pandas as pd
from sklearn.base import clone

from autotab import paths
from autotab.config import load_config
from autotab.data.contract import DataContract, check_cleaned
from autotab.errors import UserError, run_stage
from autotab.modeling.features import build_preprocessor, describe
from autotab.tables import write_joblib, write_json, write_parquet

SHOWN_COLUMNS = 5


def main() -> None:
    config = load_config()
    contract = DataContract.read(paths.contract(config.data.name))
    target = contract.target
    cleaner = joblib.load(paths.CLEANER_RECIPE)
    recipe = build_preprocessor(cleaner, config.features, contract.task, config.data.seed)

    # Each split is read, cleaned and transformed once, and each step's input let go once it is
    # used: on a large table every extra copy of a split costs as much memory as the split
    # (`bench/scale.py`). The target is copied out, so that no view keeps the read frame alive.
    train = pd.read_parquet(paths.CLEAN_TRAIN)
    X_train, y_train = train.drop(columns=[target]), train[target].to_numpy(copy=True)
    del train
    # Fitted step by step as Pipeline.fit_transform does it, so that the cleaned training split and
    # its features are made once: the cleaned split is kept for the checks, and the features are
    # those the model is fitted on (a target encoder's cross-fitted values included).
    fitted = clone(recipe)
    cleaned, after_cleaning = fitted.named_steps["clean"], fitted[1:]
    try:
        cleaned_train = cleaned.fit_transform(X_train, y_train)
        del X_train
        encoded_train = after_cleaning.fit_transform(cleaned_train, y_train)
    except ValueError as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise UserError(f"features: the recipe cannot be fitted on this data: {first_line}") from None
    names = [str(n) for n in fitted.get_feature_names_out()]

    def frame(encoded, target_values) -> pd.DataFrame:
        out = pd.DataFrame(encoded, columns=names, copy=False)  # pandas would copy the array by default
        out[target] = target_values
        return out

    check_cleaned(cleaned_train, contract, "the cleaned training split")
    del cleaned_train
    features_train = frame(encoded_train, y_train)
    del encoded_train
    test = pd.read_parquet(paths.CLEAN_TEST)
    cleaned_test = cleaned.transform(test.drop(columns=[target]))
    # The holdout's values outside the training range (the contract's) are
    # counted, not refused: a model meets such values in use too, and the count says how often.
    out_of_range = check_cleaned(cleaned_test, contract, "the cleaned holdout split")
    features_test = frame(after_cleaning.transform(cleaned_test), test[target].to_numpy())

    report = {
        "n_cleaned_columns": len(contract.cleaned),
        "n_model_features": len(names),
        **describe(fitted),
        "dropped_columns": contract.dropped_columns,
        "holdout_out_of_training_range": out_of_range,
    }
    # Written once every check has passed: a failed check leaves no output half-written.
    write_joblib(recipe, paths.PREPROCESSOR_RECIPE)
    write_parquet(features_train, paths.FEATURES_TRAIN)
    write_parquet(features_test, paths.FEATURES_TEST)
    write_json(report, paths.FEATURES_REPORT)
    extra = ""
    if report["dropped_by_selection"]:
        extra += f"; selection dropped {len(report['dropped_by_selection'])}"
    if report["dropped_by_budget"]:
        kept, budget = len(report["selected_features"]), config.features.max_columns
        rule = f"features.max_columns={budget}"
        if kept < budget:  # the sure screening size on a table with more columns than rows
            rule = f"n / ln(n) of the {len(features_train):,} training rows, features.sure_screening"
        extra += f"; the column budget kept the {kept} most related to the target ({rule})"
    if "pca_components" in report:
        extra += f"; PCA kept {report['pca_components']} components ({report['pca_explained_variance_total']:.1%})"
    if out_of_range:
        # The first few columns: a wide table can have thousands (all of them are in the report).
        shown = ", ".join(f"{name}: {n}" for name, n in list(out_of_range.items())[:SHOWN_COLUMNS])
        more = f", and {len(out_of_range) - SHOWN_COLUMNS} more columns" if len(out_of_range) > SHOWN_COLUMNS else ""
        extra += f"; holdout values outside the training range: {shown}{more} ({paths.FEATURES_REPORT})"
    print(f"features: {len(contract.cleaned)} cleaned columns -> {len(names)} model features{extra}")


if __name__ == "__main__":
    run_stage("features", main)
