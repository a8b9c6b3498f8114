"""refit: the model to serve, the evaluated recipe refit on the training and holdout rows
(`package.fit_rows: all`), or the evaluated model itself (`train`); see `autotab.modeling.final_fit`."""

import shutil
import time

import joblib
import pandas as pd

from autotab import paths
from autotab.config import load_config
from autotab.data.contract import DataContract
from autotab.errors import run_stage
from autotab.modeling.final_fit import plan, refit_on_all_rows
from autotab.modeling.training import split_xy
from autotab.serving.run_check import check_same_run
from autotab.tables import read_json, write_atomic, write_joblib, write_json


def main() -> None:
    config = load_config()
    contract_path = paths.contract(config.data.name)
    contract, clean = DataContract.read(contract_path), read_json(paths.CLEAN_REPORT)
    # The evaluated model must be of this run's contract: its digest is then the served model's.
    recorded = read_json(paths.BEST_PARAMS).get("contract_sha256")
    check_same_run(paths.MODEL, recorded, contract_path)
    final = plan(config.package.fit_rows, tuning=read_json(paths.TUNING_SUMMARY), train_rows=clean["train_rows"],
                 holdout_rows=clean["test_rows"], outliers=config.clean.outliers)  # fmt: skip
    started = time.monotonic()
    if final.on_holdout_too:
        rows = pd.concat([pd.read_parquet(paths.CLEAN_TRAIN), pd.read_parquet(paths.CLEAN_TEST)], ignore_index=True)
        X, y = split_xy(rows, contract.target)
        write_joblib(refit_on_all_rows(joblib.load(paths.MODEL), X, y), paths.SERVED_MODEL)
    else:  # the same bytes: what evaluate scored is what is served
        write_atomic(paths.SERVED_MODEL, lambda tmp: shutil.copyfile(paths.MODEL, tmp))
    # The contract the served model was fitted against: its consumers check they are of the same run
    # (a run stopped between tune and here leaves the last run's served model beside a new contract).
    write_json({"fitted_rows": final.rows, "holdout_rows_included": final.on_holdout_too, "served_model": final.why,
                "contract_sha256": recorded}, paths.SERVED_REPORT)  # fmt: skip
    print(f"refit: served model: {final.why} ({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    run_stage("refit", main)
