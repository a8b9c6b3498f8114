"""package: the served Pipeline (the refit stage's) into BentoML, a Bento built offline, exported for DVC to track."""

import hashlib
import json
from functools import partial
from pathlib import Path

from autotab import paths
from autotab.config import load_config
from autotab.data.contract import DataContract
from autotab.errors import run_stage
from autotab.explaining.explainer import background_positions
from autotab.reporting import lineage, quality_gate
from autotab.serving import bento_build
from autotab.serving.run_check import check_same_run
from autotab.tables import read_json, read_parquet_rows, write_json

BENTOFILE = Path("bentofile.yaml")
BUILD_CONTEXT = Path("src")


def main() -> None:
    config = load_config()
    serve = config.serve
    contract_path = paths.contract(config.data.name)
    chosen, served = read_json(paths.BEST_PARAMS), read_json(paths.SERVED_REPORT)
    check_same_run(paths.SERVED_MODEL, served.get("contract_sha256"), contract_path)
    print(f"package: {quality_gate.judge(read_json(paths.TUNING_SUMMARY), read_json(paths.METRICS), config.package)}")
    bento_build.use_store(paths.BENTOML_HOME)
    contract = DataContract.read(contract_path)
    # What GET /metadata shows: small, JSON-safe facts about the model. The contract (its digest
    # here) is pickled beside the model: as YAML text in the model's metadata, a 2,000-column
    # contract (1.2 MB of YAML) took BentoML 2.4 s to parse on every read of the model's information.
    metadata = {
        "contract_sha256": served["contract_sha256"],
        "holdout_metrics": read_json(paths.METRICS),
        "params": chosen,
        "served": served,
        "data_hash": "sha256:" + hashlib.sha256(paths.CLEAN_TRAIN.read_bytes()).hexdigest(),
        # The served model learnt from the holdout rows too (the refit stage): they are its data as well.
        **({"holdout_data_hash": "sha256:" + hashlib.sha256(paths.CLEAN_TEST.read_bytes()).hexdigest()}
           if served["holdout_rows_included"] else {}),
    }  # fmt: skip
    # The training rows POST /explain draws absent columns' values from: the evaluate stage's sample.
    background = read_parquet_rows(paths.CLEAN_TRAIN, partial(background_positions, seed=config.data.seed),
                                   exclude=(contract.target,))  # fmt: skip
    explanation = {"background": background, "seed": config.data.seed}
    version = bento_build.content_version(
        paths.SERVED_MODEL.read_bytes(),
        str(config.data.seed).encode(),  # with the training rows (data_hash), what the background is drawn from
        json.dumps(metadata, sort_keys=True).encode(),
        json.dumps(contract.to_json(), sort_keys=True).encode(),
        bento_build.source_bytes(BUILD_CONTEXT / "autotab"),
        BENTOFILE.read_bytes(),
        serve.model_dump_json().encode(),
    )
    # Lineage goes on the model, not into its version: the tag stays a content hash of what is served.
    origin = lineage.lineage(read_json(paths.RAW_SCHEMA))
    model_tag = bento_build.save_model(
        paths.SERVED_MODEL,
        version,
        {**metadata, "lineage": origin},
        labels=origin,
        custom_objects={"explanation": explanation, "contract": contract.to_json()},
    )
    # The service reads its whole `serve` config from the build arguments baked into the Bento.
    bento_tag = bento_build.build_bento(
        BENTOFILE, BUILD_CONTEXT, version, {"model_tag": model_tag, "serve": serve.model_dump_json()}
    )
    bento_build.export_bento(bento_tag, paths.BENTO_ARCHIVE)
    write_json(
        {
            "tag": bento_tag,
            "model_tag": model_tag,
            "host": serve.host,
            "port": serve.port,
            "contract_sha256": served["contract_sha256"],
        },  # fmt: skip
        paths.BENTO_INFO,
    )
    print(f"package: Bento {bento_tag} (model {model_tag}) exported to {paths.BENTO_ARCHIVE}")


if __name__ == "__main__":
    run_stage("package", main)
