"""What does serving cost over calling the same fitted Pipeline in-process?

The floor is the Pipeline from models/model.joblib called in this process the way the service calls
it (one raw record -> DataFrame -> predict_proba + predict). Against it: the packaged Bento served by
`bentoml serve` on 127.0.0.1 with the configured `serve` settings, once with adaptive batching on and
once off (the same Bento, its `serve` build argument overridden with --arg-file). The load generator
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

from autotab.scoring import classify

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"p50_ms": 3.0, "rps_c1": 300.0, "batching_ratio_c8": 1.5, "rows1000_ratio": 3.0}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served(tag: str, serve: dict, store: Path, model_tag: str):
    """`bentoml serve` of the Bento with these serve settings; yields (port, server process)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        args = Path(tmp) / "args.yaml"
        args.write_text(yaml.safe_dump({"model_tag": model_tag, "serve": json.dumps(serve)}))
        env = {**os.environ, "BENTOML_HOME": str(store), "BENTOML_DO_NOT_TRACK": "true"}
        command = ["bentoml", "serve", tag, "--host", "127.0.0.1", "--port", str(port), "--arg-file", str(args)]
        log = open(Path(tmp) / "serve.log", "w")  # noqa: SIM115 (closed below)
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
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


def load(port: int, bodies: list[bytes], concurrency: int, seconds: float) -> tuple[list[float], float]:
    """Send the bodies round-robin from `concurrency` threads for `seconds`; latencies and wall time."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, i = [], offset
        while time.perf_counter() < stop:
            start = time.perf_counter()
            connection.request("POST", "/predict", bodies[i % len(bodies)], {"Content-Type": "application/json"})
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

    results: dict[str, float] = {}
    for batching in (True, False):
        variant = {**serve, "batching": {**serve["batching"], "enabled": batching}}
        with served(bento["tag"], variant, store, bento["model_tag"]) as (port, process):
            load(port, singles, 8, 2.0)  # warm up (and let the batching dispatcher learn the model's speed)
            c8, wall8 = load(port, singles, 8, args.seconds)
            results[f"rps_c8_{batching}"] = len(c8) / wall8
            if batching:
                results["mean_batch"] = mean_batch_size(port)
            if batching == serve["batching"]["enabled"]:
                c1, wall1 = load(port, singles, 1, args.seconds)
                results.update(p50_ms=percentile(c1, 50) * 1e3, p99_ms=percentile(c1, 99) * 1e3, rps_c1=len(c1) / wall1)
                large, _ = load(port, big, 1, args.seconds)
                results["rows1000_ms"] = statistics.median(large) * 1e3
                results["peak_rss_mb"] = peak_rss_mb(process)
    results["batching_ratio_c8"] = results["rps_c8_True"] / results["rps_c8_False"]
    results["rows1000_ratio"] = results["rows1000_ms"] / (rows_1000 * 1e3)
    floor = {"p50_ms": percentile(one, 50) * 1e3, "p99_ms": percentile(one, 99) * 1e3}
    floor["rps_c1"] = 1 / statistics.mean(one)

    def verdict(key: str, value: float) -> str:
        goal = TARGETS[key]
        met = value <= goal if key in ("p50_ms", "rows1000_ratio") else value >= goal
        return f"{'met' if met else 'NOT met'} (target {'≤' if key in ('p50_ms', 'rows1000_ratio') else '≥'} {goal:g})"

    access = "on" if serve["access_log"] else "off"
    lines = [
        f"Holdout records of `{params['data']['name']}`, Bento `{bento['tag']}`, {serve['workers']} worker(s), "
        f"access log {access}, {args.seconds:g} s per load run, client and server on the same "
        f"{psutil.cpu_count()}-core machine.",
        "",
        "| measure | in-process floor | served | target |",
        "|---|---|---|---|",
        f"| single record p50, c=1 | {floor['p50_ms']:.2f} ms | {results['p50_ms']:.2f} ms | "
        f"{verdict('p50_ms', results['p50_ms'])} |",
        f"| single record p99, c=1 | {floor['p99_ms']:.2f} ms | {results['p99_ms']:.2f} ms | |",
        f"| requests/s, c=1 | {floor['rps_c1']:.0f} | {results['rps_c1']:.0f} | "
        f"{verdict('rps_c1', results['rps_c1'])} |",
        f"| requests/s, c=8, batching on | | {results['rps_c8_True']:.0f} "
        f"({results['mean_batch']:.1f} records per Pipeline call) | |",
        f"| requests/s, c=8, batching off | | {results['rps_c8_False']:.0f} | |",
        f"| batching on / off, c=8 | | {results['batching_ratio_c8']:.2f}× | "
        f"{verdict('batching_ratio_c8', results['batching_ratio_c8'])} |",
        f"| one 1000-record request | {rows_1000 * 1e3:.1f} ms | {results['rows1000_ms']:.1f} ms "
        f"({1000 / results['rows1000_ms'] * 1e3:.0f} rows/s) | {verdict('rows1000_ratio', results['rows1000_ratio'])}: "
        f"{results['rows1000_ratio']:.2f}× |",
        f"| peak memory (server + workers, VmHWM) | | {results['peak_rss_mb']:.0f} MB | |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
