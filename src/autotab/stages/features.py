"""features: the preprocessing recipe, and the transformed tables it gives when fit on train.

The recipe saved here is unfitted: train and tune fit a clone inside every fold, so nothing is
learned from rows a fold scores. The transformed tables are for inspection and reports.
"""

import joblib
import pandas as pd
from sklearn.base import clone

from autotab import paths
from autotab.config import load_config
from autotab.contract import check_cleaned
from autotab.errors import run_stage
from autotab.features import build_preprocessor
from autotab.tables import read_json, write_joblib, write_json, write_parquet


def main() -> None:
    config = load_config()
    contract = read_json(paths.contract(config.data.name))
    target = contract["target"]
    recipe = build_preprocessor(joblib.load(paths.CLEANER_RECIPE), config.features)

    train = pd.read_parquet(paths.CLEAN_TRAIN)
    test = pd.read_parquet(paths.CLEAN_TEST)
    fitted = clone(recipe).fit(train.drop(columns=[target]), train[target])
    cleaner = fitted.named_steps["clean"]
    for name, frame in (("the cleaned training split", train), ("the cleaned holdout split", test)):
        check_cleaned(cleaner.transform(frame.drop(columns=[target])), contract, name)
    names = [str(n) for n in fitted.get_feature_names_out()]

    def transformed(frame: pd.DataFrame) -> pd.DataFrame:
        values = fitted.transform(frame.drop(columns=[target]))
        out = pd.DataFrame(values, columns=names)
        out[target] = frame[target].to_numpy()
        return out

    write_joblib(recipe, paths.PREPROCESSOR_RECIPE)
    write_parquet(transformed(train), paths.FEATURES_TRAIN)
    write_parquet(transformed(test), paths.FEATURES_TEST)
    write_json(
        {
            "n_features": len(names),
            "features": names,
            "cleaned_columns": [c["name"] for c in contract["cleaned"]],
            "dropped_columns": contract["dropped_columns"],
        },
        paths.FEATURES_REPORT,
    )
    print(f"features: {len(contract['cleaned'])} cleaned columns -> {len(names)} model features")


if __name__ == "__main__":
    run_stage("features", main)
