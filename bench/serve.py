"""What does serving cost over calling the same fitted Pipeline in-process?

The floor is the Pipeline from models/model.joblib called in this process the way the service calls
it (one raw record -> DataFrame -> probabilities and labels). Against it: the service served by
`bentoml serve` on 127.0.0.1 with the configured `serve` settings and the packaged model, once with
adaptive batching on and once off. It is served from src/ (the code the Bento carries) with the
settings given by --arg-file, because a built Bento's own arguments take precedence over --arg-file,
so one Bento cannot be served both ways. The framework's floor is bench/constant_service.py, a
BentoML API taking the same bodies and answering each record with a constant. The load generator
is this process (threads with keep-alive connections) on the same machine, so it competes with the
server for the CPU; the figures are what a client next to the server sees.

    make run && .venv/bin/python bench/serve.py [--seconds 10] [--out bench/results/serve.md]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import joblib
import pandas as pd
import psutil
import yaml

from autotab.explaining.explainer import Explainer, background_sample
from autotab.serving.predictor import classify, labelled_answers

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"p50_ms": 3.0, "rps_c1": 300.0, "batching_ratio_c8": 1.5, "rows1000_ratio": 3.0}
LOWER_IS_BETTER = {"p50_ms", "p99_ms", "after_burst_p50_ms", "rows1000_ms", "peak_rss_mb", "rows1000_ratio"}
EXPLAINED_RECORDS = 100  # per /explain request of many: each sampled record costs thousands of model rows


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served(serve: dict, store: Path, model_tag: str):
    """`bentoml serve` of the service with these serve settings; yields (port, server process)."""
    with tempfile.TemporaryDirectory() as tmp:
        args = Path(tmp) / "args.yaml"
        args.write_text(yaml.safe_dump({"model_tag": model_tag, "serve": json.dumps(serve)}))
        with bentoml_serve(
            "autotab.serving.service:AutotabService", ROOT / "src", store, ["--arg-file", str(args)]
        ) as server:
            yield server


@contextmanager
def bentoml_serve(service: str, directory: Path, store: Path, extra: list[str]):
    """`bentoml serve SERVICE` from `directory` on a free loopback port; yields (port, server process)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BENTOML_HOME": str(store), "BENTOML_DO_NOT_TRACK": "true"}
        command = ["bentoml", "serve", service, "--host", "127.0.0.1", "--port", str(port), *extra]
        log = open(Path(tmp) / "serve.log", "w")  # noqa: SIM115 (closed below)
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=directory)
        try:
            deadline = time.monotonic() + 90
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((Path(tmp) / "serve.log").read_text())
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                        break
                except OSError:
                    time.sleep(0.3)
            yield port, process
        finally:
            process.terminate()
            process.wait(timeout=30)
            log.close()


def peak_rss_mb(process: subprocess.Popen) -> float:
    """The sum of the peak resident memory (VmHWM) of the server and its worker processes."""
    total = 0
    for proc in [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


def load(
    port: int, bodies: list[bytes], concurrency: int, seconds: float, path: str = "/predict"
) -> tuple[list[float], float]:
    """Send the bodies round-robin from `concurrency` threads for `seconds` to `path`; latencies and wall time."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, i = [], offset
        while time.perf_counter() < stop:
            start = time.perf_counter()
            connection.request("POST", path, bodies[i % len(bodies)], {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")
            mine.append(time.perf_counter() - start)
            i += concurrency
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - began


def livez_p50_ms(port: int, n: int = 500) -> float:
    """BentoML's HTTP stack alone: a keep-alive GET /livez at concurrency 1."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        connection.request("GET", "/livez")
        connection.getresponse().read()
        latencies.append(time.perf_counter() - start)
    connection.close()
    return statistics.median(latencies) * 1e3


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def in_process(pipeline, frame: pd.DataFrame) -> None:
    classify(pipeline, frame)  # what the service's predict calls: probabilities, labels from them


def mean_batch_size(port: int) -> float:
    """Records per Pipeline call so far, from BentoML's adaptive batch size histogram on /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    total = {"sum": 0.0, "count": 0.0}
    for line in text.splitlines():
        for part in total:
            if line.startswith(f"bentoml_service_adaptive_batch_size_{part}"):
                total[part] += float(line.rsplit(" ", 1)[1])
    return total["sum"] / total["count"] if total["count"] else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per load run")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here (markdown)")
    args = parser.parse_args()
    os.chdir(ROOT)
    bento = json.loads(Path("models/bento.json").read_text())
    params = yaml.safe_load(Path("params.yaml").read_text())
    serve = params["serve"]
    contract = json.loads(Path(f"contracts/{params['data']['name']}.json").read_text())
    holdout = pd.read_parquet("data/clean/test.parquet").drop(columns=[contract["target"]])
    records = json.loads(holdout.to_json(orient="records"))
    columns = [f["name"] for f in contract["input"]]
    singles = [json.dumps({"records": [r]}).encode() for r in records]
    thousand = (records * (1000 // len(records) + 1))[:1000]
    big = [json.dumps({"records": thousand}).encode()]
    hundred = [json.dumps({"records": thousand[:EXPLAINED_RECORDS]}).encode()]
    store = (ROOT / ".bentoml").resolve()

    # The floor: the same Pipeline in this process, called as the service calls it.
    pipeline = joblib.load("models/model.joblib")
    one = []
    for i in range(2000):
        start = time.perf_counter()
        in_process(pipeline, pd.DataFrame([records[i % len(records)]], columns=columns))
        one.append(time.perf_counter() - start)
    frame_1000 = pd.DataFrame(thousand, columns=columns)
    rows_1000 = min(timed(lambda: in_process(pipeline, frame_1000)) for _ in range(20))
    train = pd.read_parquet("data/clean/train.parquet").drop(columns=[contract["target"]])
    explainer = Explainer(pipeline, background_sample(train, params["data"]["seed"]), params["data"]["seed"])
    explain_one = [timed(lambda i=i: explainer.explain(frame_1000.iloc[[i]])) for i in range(200)]

    # The framework's floor: BentoML answering the same bodies with a constant.
    with bentoml_serve("constant_service:ConstantService", ROOT / "bench", store, []) as (port, _):
        load(port, singles, 1, 2.0)
        c1, wall1 = load(port, singles, 1, args.seconds)
        large, _ = load(port, big, 1, args.seconds)
        constant = {
            "p50_ms": percentile(c1, 50) * 1e3, "rps_c1": len(c1) / wall1, "rows1000_ms": statistics.median(large) * 1e3
        }  # fmt: skip

    served_on: dict[bool, dict[str, float]] = {}
    for batching in (True, False):
        variant = {**serve, "batching": {**serve["batching"], "enabled": batching}}
        with served(variant, store, bento["model_tag"]) as (port, process):
            load(port, singles, 1, 3.0)  # warm up (and let the batching dispatcher learn the model's speed)
            c1, wall1 = load(port, singles, 1, args.seconds)
            large, _ = load(port, big, 1, args.seconds)
            c8, wall8 = load(port, singles, 8, args.seconds)
            mean_batch = mean_batch_size(port)
            # BentoML's dispatcher waits for company as long as requests recently waited in its queue,
            # which they did at c=8: single requests pay for it until that memory fades (seconds).
            after_burst, _ = load(port, singles, 1, 3.0)
            served_on[batching] = {
                "p50_ms": percentile(c1, 50) * 1e3,
                "p99_ms": percentile(c1, 99) * 1e3,
                "rps_c1": len(c1) / wall1,
                "rows1000_ms": statistics.median(large) * 1e3,
                "rps_c8": len(c8) / wall8,
                "mean_batch": mean_batch,
                "after_burst_p50_ms": percentile(after_burst, 50) * 1e3,
                "livez_ms": livez_p50_ms(port),
                "peak_rss_mb": peak_rss_mb(process),
            }
            if not batching:  # /explain is not batched: measured once, on the same server as /predict
                load(port, singles, 1, 1.0, path="/explain")
                explained, _ = load(port, singles, 1, args.seconds, path="/explain")
                explained_100, _ = load(port, hundred, 1, args.seconds, path="/explain")
                served_on[batching]["explain_p50_ms"] = percentile(explained, 50) * 1e3
                served_on[batching]["explain_p99_ms"] = percentile(explained, 99) * 1e3
                served_on[batching]["explain100_ms"] = statistics.median(explained_100) * 1e3
    on, off = served_on[True], served_on[False]
    method = explainer.explain(frame_1000.iloc[:1]).method
    floor = {"p50_ms": percentile(one, 50) * 1e3, "p99_ms": percentile(one, 99) * 1e3}
    floor["rps_c1"] = 1 / statistics.mean(one)
    floor["rows1000_ms"] = rows_1000 * 1e3
    floor["explain_p50_ms"] = statistics.median(explain_one) * 1e3
    best = {key: (min if key in LOWER_IS_BETTER else max)(on[key], off[key]) for key in on}
    ratios = {
        "batching_ratio_c8": on["rps_c8"] / off["rps_c8"],
        "rows1000_ratio": best["rows1000_ms"] / floor["rows1000_ms"],
    }

    def verdict(key: str, value: float) -> str:
        goal, lower = TARGETS[key], key in LOWER_IS_BETTER
        met = value <= goal if lower else value >= goal
        return f"{'met' if met else 'NOT met'} ({'≤' if lower else '≥'} {goal:g})"

    def each(key: str) -> str:
        return f"batching on: {verdict(key, on[key])}; off: {verdict(key, off[key])}"

    def row(name: str, key: str, unit: str, digits: int, target: str = "") -> str:
        cells = [f"{values[key]:.{digits}f}{unit}" if key in values else "" for values in (floor, on, off)]
        return f"| {name} | {' | '.join(cells)} | {target} |"

    access = "on" if serve["access_log"] else "off"
    lines = [
        f"Holdout records of `{params['data']['name']}`, model `{bento['model_tag']}`, {serve['workers']} worker(s), "
        f"access log {access}, {args.seconds:g} s per load run; the client runs on the same "
        f"{psutil.cpu_count()}-core machine as the server.",
        "",
        "| measure | in-process floor | served, batching on | served, batching off | target |",
        "|---|---|---|---|---|",
        row("single record p50, c=1", "p50_ms", " ms", 2, each("p50_ms")),
        row("single record p99, c=1", "p99_ms", " ms", 2),
        row("single record p50, c=1, in the 3 s after the c=8 run", "after_burst_p50_ms", " ms", 2),
        row("GET /livez p50, c=1 (the HTTP stack alone)", "livez_ms", " ms", 2),
        f"| single record p50 and requests/s, c=1, of a BentoML API answering a constant (the framework's floor) "
        f"| | {constant['p50_ms']:.2f} ms, {constant['rps_c1']:.0f}/s | | |",
        f"| one 1000-record request to that constant API | | {constant['rows1000_ms']:.1f} ms | | |",
        row("requests/s, c=1", "rps_c1", "", 0, each("rps_c1")),
        row("requests/s, c=8", "rps_c8", "", 0),
        row("records per Pipeline call, c=8", "mean_batch", "", 1),
        f"| batching on / off, c=8 | | {ratios['batching_ratio_c8']:.2f}× | | "
        f"{verdict('batching_ratio_c8', ratios['batching_ratio_c8'])} |",
        row("one 1000-record request", "rows1000_ms", " ms", 1),
        f"| 1000-record request / in-process | | | | {ratios['rows1000_ratio']:.2f}×: "
        f"{verdict('rows1000_ratio', ratios['rows1000_ratio'])} |",
        row("peak memory (server + workers, VmHWM)", "peak_rss_mb", " MB", 0),
        row(
            "POST /explain, single record p50, c=1",
            "explain_p50_ms",
            " ms",
            2,
            f"{off['explain_p50_ms'] / off['p50_ms']:.1f}× /predict's p50 ({explainer.output}, {method})",
        ),
        row("POST /explain, single record p99, c=1", "explain_p99_ms", " ms", 2),
        row(f"POST /explain, one {EXPLAINED_RECORDS}-record request", "explain100_ms", " ms", 1),
        "",
        "Where a request's time goes in the service's own code, called in-process (median of 200):",
        "",
        "| step | 1 record | 1000 records |",
        "|---|---|---|",
        *[f"| {step} | {one_ms:.3f} ms | {many_ms:.2f} ms |" for step, one_ms, many_ms in breakdown(records, contract)],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


def breakdown(records: list[dict], contract: dict) -> list[tuple[str, float, float]]:
    """The service's steps for one request: parse and validate the JSON body, build the frame, run the
    Pipeline, build the answers, serialise them."""
    from pydantic import TypeAdapter

    from autotab.data.contract import DataContract
    from autotab.serving.request_schema import record_model, records_frame, request_model

    typed = DataContract.from_json(contract, "the data contract")
    fields = typed.input
    request = request_model(record_model(fields), 1000, fields, list(typed.missing_markers))
    pipeline = joblib.load("models/model.joblib")
    output = TypeAdapter(list[dict])

    def steps_for(size: int) -> dict[str, float]:
        body = json.dumps({"records": (records * (size // len(records) + 1))[:size]})
        parsed = request.model_validate_json(body)
        frame = records_frame(parsed.records, fields)
        labels, proba = classify(pipeline, frame)
        answers = labelled_answers(labels, proba, pipeline.classes_)
        actions = {
            "parse + validate JSON": lambda: request.model_validate_json(body),
            "records -> DataFrame": lambda: records_frame(parsed.records, fields),
            "Pipeline (probabilities, labels)": lambda: classify(pipeline, frame),
            "build answers": lambda: labelled_answers(labels, proba, pipeline.classes_),
            "serialise answers": lambda: output.dump_json(output.validate_python(answers)),
        }
        return {step: statistics.median(timed(action) for _ in range(200)) * 1e3 for step, action in actions.items()}

    one, many = steps_for(1), steps_for(1000)
    return [(step, one[step], many[step]) for step in one]


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
