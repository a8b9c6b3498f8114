"""package: the evaluated Pipeline into BentoML, a Bento built offline, exported for DVC to track."""

from pathlib import Path

from autotab import lineage, packaging, paths
from autotab.config import load_config
from autotab.errors import run_stage
from autotab.tables import read_json, write_json

BENTOFILE = Path("bentofile.yaml")
BUILD_CONTEXT = Path("src")


def main() -> None:
    config = load_config()
    serve = config.serve
    packaging.use_store(paths.BENTOML_HOME)
    import joblib

    pipeline = joblib.load(paths.MODEL)
    contract = read_json(paths.contract(config.data.name))
    metrics = read_json(paths.METRICS)
    version = packaging.content_version(
        paths.MODEL.read_bytes(),
        paths.contract(config.data.name).read_bytes(),
        packaging.source_bytes(BUILD_CONTEXT / "autotab"),
        BENTOFILE.read_bytes(),
        serve.model_dump_json().encode(),
    )
    # Lineage goes on the model, not into its version: the tag stays a content hash of what is served.
    origin = lineage.lineage(read_json(paths.RAW_SCHEMA))
    model_tag = packaging.save_model(
        pipeline, version, {"contract": contract, "holdout_metrics": metrics, "lineage": origin}, labels=origin
    )
    bento_tag = packaging.build_bento(
        BENTOFILE,
        BUILD_CONTEXT,
        version,
        {"model_tag": model_tag, "max_records": serve.max_records, "host": serve.host, "port": serve.port},
    )
    packaging.export_bento(bento_tag, paths.BENTO_ARCHIVE)
    write_json(
        {"tag": bento_tag, "model_tag": model_tag, "host": serve.host, "port": serve.port},
        paths.BENTO_INFO,
    )
    print(f"package: Bento {bento_tag} (model {model_tag}) exported to {paths.BENTO_ARCHIVE}")


if __name__ == "__main__":
    run_stage("package", main)
