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

    train = pd.read_parquet(paths.CLEAN_TRAIN)
    test = pd.read_parquet(paths.CLEAN_TEST)
    try:
        fitted = clone(recipe).fit(train.drop(columns=[target]), train[target])
    except ValueError as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise UserError(f"features: the recipe cannot be fitted on this data: {first_line}") from None
    cleaned = fitted.named_steps["clean"]
    check_cleaned(cleaned.transform(train.drop(columns=[target])), contract, "the cleaned training split")
    # The holdout's values outside the training range (the contract's, checked with pandera) are
    # counted, not refused: a model meets such values in use too, and the count says how often.
    out_of_range = check_cleaned(cleaned.transform(test.drop(columns=[target])), contract, "the cleaned holdout split")
    names = [str(n) for n in fitted.get_feature_names_out()]

    def transformed(frame: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(fitted.transform(frame.drop(columns=[target])), columns=names)
        out[target] = frame[target].to_numpy()
        return out

    report = {
        "n_cleaned_columns": len(contract.cleaned),
        "n_model_features": len(names),
        **describe(fitted),
        "dropped_columns": contract.dropped_columns,
        "holdout_out_of_training_range": out_of_range,
    }
    write_joblib(recipe, paths.PREPROCESSOR_RECIPE)
    write_parquet(transformed(train), paths.FEATURES_TRAIN)
    write_parquet(transformed(test), paths.FEATURES_TEST)
    write_json(report, paths.FEATURES_REPORT)
    extra = ""
    if report["dropped_by_selection"]:
        extra += f"; selection dropped {len(report['dropped_by_selection'])}"
    if report["dropped_by_budget"]:
        budget = config.features.max_columns
        extra += f"; the column budget (features.max_columns={budget}) kept the {budget} most related to the target"
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
