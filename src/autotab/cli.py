"""The `autotab` command: compose params, summarise a run, compare experiments, add data, score a file,
measure a file's drift from the training data, serve the packaged model or write its deployment."""

from __future__ import annotations

import argparse
import filecmp
import itertools
import os
import socket
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

from autotab import paths
from autotab.errors import UserError, run_stage
from autotab.tables import read_json

CONF_DIR = Path("conf")


def compose_params(output: Path, overrides: list[str] | None = None) -> None:
    """Compose conf/ exactly as `dvc exp run` does (DVC's own function), into `output`."""
    import yaml
    from dvc.utils.hydra import compose_and_dump
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        compose_and_dump(output, str(CONF_DIR.resolve()), None, "config", "", overrides or [])
    except (HydraException, OmegaConfBaseException, yaml.YAMLError) as error:
        message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        raise UserError(f"{CONF_DIR}/ does not compose: {message or type(error).__name__}") from None


def params_command(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        composed = Path(tmp) / "params.yaml"
        compose_params(composed)
        if paths.PARAMS.exists() and filecmp.cmp(composed, paths.PARAMS, shallow=False):
            print(f"{paths.PARAMS} is up to date with conf/")
            return
        if args.check:
            raise UserError(f"{paths.PARAMS} differs from the composition of conf/: run `make params`")
        os.replace(composed, paths.PARAMS)
        print(f"{paths.PARAMS} composed from conf/")


def contract_command(args: argparse.Namespace) -> None:
    from autotab.config import load_config

    path = paths.contract(load_config().data.name)
    if not args.reset:
        print(path.read_text() if path.exists() else f"{path} does not exist yet: run the pipeline")
        return
    path.unlink(missing_ok=True)
    print(f"{path} removed: the next `dvc repro` (or `make run`) records a new contract")


def summary_command(args: argparse.Namespace) -> None:
    if not paths.METRICS.exists():
        raise UserError(f"{paths.METRICS} not found: run the pipeline first (`make run`)")
    metrics = read_json(paths.METRICS)
    print("Holdout metrics (" + str(paths.METRICS) + "):")
    for name, value in metrics.items():
        print(f"  {name:>18}: {value}")
    if paths.BENTO_INFO.exists():
        bento = read_json(paths.BENTO_INFO)
        print(f"Packaged: {paths.BENTO_ARCHIVE} (Bento {bento['tag']})")
        print("Serve it with:\n  make serve")
        print(f"or:\n  {' '.join(serve_command(bento))}")


def serve_command(bento: dict) -> list[str]:
    # The bentoml of this environment, by its path: a bare `bentoml` works only with the venv active.
    bentoml = Path(sys.executable).with_name("bentoml")
    shown = os.path.relpath(bentoml) if bentoml.is_relative_to(Path.cwd()) else str(bentoml)
    return [
        f"BENTOML_HOME={paths.BENTOML_HOME.resolve()}",
        shown,
        "serve",
        bento["tag"],
        "--host",
        bento["host"],
        "--port",
        str(bento["port"]),
    ]


def compare_command(args: argparse.Namespace) -> None:
    from autotab.reporting.comparison import write_report

    index, revisions = write_report()
    print(f"{index}: {len(revisions)} revision(s) compared: {', '.join(revisions)}")


def serve(args: argparse.Namespace) -> None:
    """Import the exported Bento into the local store if needed, then `bentoml serve` it."""
    from autotab.config import load_config
    from autotab.serving.run_check import check_same_run

    if not paths.BENTO_INFO.exists():
        raise UserError(f"{paths.BENTO_INFO} not found: run the pipeline first (`make run`)")
    bento = read_json(paths.BENTO_INFO)
    port = args.port or bento["port"]
    with socket.socket() as probe:  # BentoML would report a busy port with a traceback
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as BentoML binds: TIME_WAIT is not busy
        try:
            probe.bind((bento["host"], port))
        except OSError as error:
            raise UserError(
                f"cannot serve on {bento['host']}:{port}: {error.strerror}; "
                "stop what is using it, or pick another port: `autotab serve --port N` (or serve.port)"
            ) from None
    check_same_run(paths.BENTO_ARCHIVE, bento.get("contract_sha256"), paths.contract(load_config().data.name))
    env = {**os.environ, "BENTOML_HOME": str(paths.BENTOML_HOME.resolve())}
    bentoml = [sys.executable, "-m", "bentoml"]
    have = subprocess.run([*bentoml, "get", bento["tag"]], env=env, capture_output=True)
    if have.returncode != 0:
        subprocess.run([*bentoml, "import", str(paths.BENTO_ARCHIVE.resolve())], env=env, check=True)
    command = [*bentoml, "serve", bento["tag"], "--host", bento["host"], "--port", str(port)]
    print(" ".join(command), flush=True)
    os.execve(sys.executable, command, env)


def add_data_command(args: argparse.Namespace) -> None:
    from autotab.data.add_data import add_data

    add_data(args.path, args.target, args.name, args.task, move=args.move, force=args.force)


def trained_run():
    """The data settings and the contract path of the last complete run, whose model
    (models/served.joblib) was trained against that contract; else one line saying what to do."""
    from autotab.config import load_config
    from autotab.serving.run_check import check_same_run

    data = load_config().data
    contract_path = paths.contract(data.name)
    for path in (paths.SERVED_MODEL, paths.SERVED_REPORT, contract_path):
        if not path.exists():
            raise UserError(f"{path} not found: run the pipeline first (`make run`)")
    check_same_run(paths.SERVED_MODEL, read_json(paths.SERVED_REPORT).get("contract_sha256"), contract_path)
    return data, contract_path


def predict_command(args: argparse.Namespace) -> None:
    """Score a CSV or Parquet file of raw records with the served Pipeline (models/served.joblib);
    `autotab explain` adds each record's explanation (against the training rows' background)."""
    from autotab.data.contract import DataContract
    from autotab.serving.batch_predict import predict_file, rejected_path

    data, contract_path = trained_run()
    import joblib

    model, contract = joblib.load(paths.SERVED_MODEL), DataContract.read(contract_path)
    explainer = None
    if args.explain:
        from autotab.explaining.explainer import Explainer, background_positions
        from autotab.tables import read_parquet_rows

        background = read_parquet_rows(paths.CLEAN_TRAIN, partial(background_positions, seed=data.seed),
                                       exclude=(contract.target,))  # fmt: skip
        explainer = Explainer(model, background, data.seed)

    rejected = args.rejected or rejected_path(args.output)
    # A default the user never typed is named for what it is: OUTPUT's file of rejected rows.
    named = {"INPUT": args.input, "OUTPUT": args.output,
             "--rejected" if args.rejected else "the rejected rows' file (default for OUTPUT)": rejected}  # fmt: skip
    for (first, a), (second, b) in itertools.combinations(named.items(), 2):
        if Path(a).resolve() == Path(b).resolve():
            raise UserError(f"{first} and {second} are the same file ({a}): name different files")
    counts = predict_file(
        args.input,
        args.output,
        rejected,
        model,
        contract,
        data.group,
        chunk_rows=args.chunk_rows,
        delimiter=data.delimiter,
        encoding=data.encoding,
        explainer=explainer,
    )
    print(
        f"{args.command}: {counts.rows} rows read, {counts.predicted} "
        f"{'explained' if args.explain else 'predicted'} -> {args.output}, "
        f"{counts.rejected} rejected -> {rejected}"
    )


# `autotab drift`'s exit code when a column drifted: not an error (2), a finding a scheduled job acts on.
EXIT_DRIFTED = 1


def drift_command(args: argparse.Namespace) -> None:
    """Compare a batch of new raw records with the training data the model was fitted on."""
    import joblib

    from autotab.data.contract import DataContract
    from autotab.reporting import drift
    from autotab.serving.predictor import Predictor
    from autotab.tables import read_table, write_atomic, write_json

    data, contract_path = trained_run()
    if not args.input.is_file():
        raise UserError(f"{args.input}: file not found")
    contract = DataContract.read(contract_path)
    if not any(column.profile for column in contract.cleaned):
        raise UserError(f"{contract_path} has no training profile (an older contract): rerun the pipeline")
    frame = read_table(args.input, "auto", data.delimiter, data.encoding)
    missing = [field.name for field in contract.used_fields if field.name not in frame.columns]
    if missing:
        raise UserError(f"{args.input}: the columns the model uses are missing: {', '.join(missing)}")
    cleaner = Predictor(joblib.load(paths.SERVED_MODEL)).cleaner
    report = drift.compare(cleaner.transform(frame), contract, psi_alert=args.psi_alert, sources=cleaner.sources())
    write_json(report, args.output)
    write_atomic(args.html, lambda tmp: tmp.write_text(drift.page(report, str(args.input))))
    shown = ", ".join(f"{name} (PSI {report['columns'][name]['psi']:.3f})" for name in report["drifted"])
    alert, total = f"{args.psi_alert:g}", len(report["columns"])
    found = f"{len(report['drifted'])} of {total} columns drifted (PSI >= {alert}): {shown}" if shown else (
        f"no column drifted (PSI < {alert})")  # fmt: skip
    print(f"drift: {report['rows']} rows of {args.input} against {report['reference_rows']} training rows: "
          f"{found} -> {args.output}, {args.html}")  # fmt: skip
    if report["drifted"]:
        raise SystemExit(EXIT_DRIFTED)


def deploy_k8s_command(args: argparse.Namespace) -> None:
    """Kubernetes manifests for the packaged Bento (`autotab.serving.kubernetes`)."""
    import joblib
    import yaml

    from autotab.config import load_config
    from autotab.explaining.attributions import SHAP_LIBRARY_MB, loads_shap
    from autotab.serving.kubernetes import manifests, memory_request_mb
    from autotab.tables import write_atomic

    for path in (paths.BENTO_INFO, paths.SERVED_MODEL):
        if not path.exists():
            raise UserError(f"{path} not found: run the pipeline first (`make run`)")
    if args.max_replicas < args.replicas:
        raise UserError(f"--max-replicas {args.max_replicas} is below --replicas {args.replicas}")
    serve = load_config().serve
    bento = read_json(paths.BENTO_INFO)
    name, version = bento["tag"].split(":")
    model_mb = paths.SERVED_MODEL.stat().st_size / 2**20
    libraries_mb = SHAP_LIBRARY_MB if loads_shap(joblib.load(paths.SERVED_MODEL)) else 0.0
    documents = manifests(
        name=name, image=args.image or f"{name}:{version}", serve=serve, model_mb=model_mb,
        replicas=args.replicas, max_replicas=args.max_replicas, labels={"app.kubernetes.io/version": version},
        libraries_mb=libraries_mb,
    )  # fmt: skip
    text = yaml.safe_dump_all(documents, sort_keys=False)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.output, lambda tmp: tmp.write_text(text))
    print(f"deploy: {args.output}: Deployment, Service, HorizontalPodAutoscaler and PodDisruptionBudget for "
          f"{bento['tag']} (image {args.image or f'{name}:{version}'}, {serve.workers} workers, "
          f"{memory_request_mb(serve.workers, model_mb, libraries_mb)} MiB requested); "
          f"kubectl apply -f {args.output}")  # fmt: skip


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def port_number(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise ValueError(text)
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="autotab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    params = commands.add_parser("params", help="compose conf/ into params.yaml")
    params.add_argument("--check", action="store_true", help="fail if params.yaml is stale")
    params.set_defaults(run=params_command)
    contract = commands.add_parser("contract", help="show the data contract, or --reset it")
    contract.add_argument("--reset", action="store_true", help="delete it so the next run records a new one")
    contract.set_defaults(run=contract_command)
    commands.add_parser("summary", help="print the holdout metrics and how to serve").set_defaults(run=summary_command)
    commands.add_parser(
        "compare", help="write the offline HTML comparison of all experiments to reports/compare/"
    ).set_defaults(run=compare_command)
    serve_parser = commands.add_parser("serve", help="serve the packaged model on 127.0.0.1")
    serve_parser.add_argument("--port", type=port_number, default=None)
    serve_parser.set_defaults(run=serve)
    add = commands.add_parser("add-data", help="check a CSV or Parquet file, track it with DVC, write its conf/data/")
    add.add_argument("path", type=Path, help="the table (it is copied under data/raw/; the original is kept)")
    add.add_argument("--target", required=True, help="the column to predict, as named in the file")
    add.add_argument("--name", default=None, help="the data option's name (default: from the file name)")
    add.add_argument("--task", choices=("auto", "binary", "multiclass", "regression"), default="auto")
    add.add_argument("--move", action="store_true", help="move the file instead of copying it")
    add.add_argument("--force", action="store_true", help="replace an existing data/raw/ file and conf/data/ option")
    add.set_defaults(run=add_data_command)
    scoring = {
        "predict": ("score a CSV or Parquet file of raw records", "predictions"),
        "explain": ("score a file of raw records and explain each by its columns' contributions",
                    "predictions, base values and each column's contribution"),
    }  # fmt: skip
    for name, (what, written) in scoring.items():
        predict = commands.add_parser(name, help=what)
        predict.add_argument("input", type=Path, help="raw records, in the training file's format")
        predict.add_argument("output", type=Path, help=f"{written} (.csv or .parquet)")
        predict.add_argument("--rejected", type=Path, default=None, help="rows refused, with the reason "
                             "(default: OUTPUT's name with .rejected before the extension)")  # fmt: skip
        predict.add_argument("--chunk-rows", type=positive_int, default=50_000, help="rows read and scored at a time")
        predict.set_defaults(run=predict_command, explain=name == "explain")
    drift = commands.add_parser("drift", help="compare new raw records with the training data, column by column")
    drift.add_argument("input", type=Path, help="new raw records (.csv or .parquet), the target column optional")
    drift.add_argument("--psi-alert", type=positive_float, default=0.2,
                       help=f"a column whose population stability index reaches this has drifted, and the command "
                       f"exits {EXIT_DRIFTED} (default 0.2)")  # fmt: skip
    drift.add_argument("--output", type=Path, default=paths.DRIFT_REPORT, help="the JSON report")
    drift.add_argument("--html", type=Path, default=paths.DRIFT_PAGE, help="the self-contained HTML page")
    drift.set_defaults(run=drift_command)
    deploy = commands.add_parser("deploy", help="write deployment manifests for the packaged model")
    targets = deploy.add_subparsers(dest="target", required=True)
    k8s = targets.add_parser("k8s", help="Kubernetes: a Deployment, Service, autoscaler and disruption budget")
    k8s.add_argument("--image", default=None, help="the image `bentoml containerize` built (default: the Bento's tag)")
    k8s.add_argument("--replicas", type=positive_int, default=2, help="pods at least (default 2)")
    k8s.add_argument("--max-replicas", type=positive_int, default=10, help="pods at most, scaled on CPU (default 10)")
    k8s.add_argument("--output", type=Path, default=paths.K8S_MANIFESTS, help="the manifests (one YAML file)")
    k8s.set_defaults(run=deploy_k8s_command)
    args = parser.parse_args(argv)
    run_stage(args.command, lambda: args.run(args))


if __name__ == "__main__":
    main()
