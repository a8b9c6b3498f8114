"""What a killed worker costs with `serve.workers` 1 and 2: the outage, the lost requests, the memory.

The service from src/ with the packaged model (as bench/serve.py serves it), `workers` set per run.
Client threads on this machine send single-record /predict requests without pause (a new connection
after any error, as a client with a retry-free connection pool would). After a few seconds one HTTP
worker process gets SIGKILL (as the kernel's OOM killer would send it); the run goes on until the
arbiter has restarted it and the service has answered for a while again. Measured per setting:

- outage: the longest stretch in which no request succeeded;
- failed: requests answered with an error or whose connection broke;
- memory: the resident memory of the server and its workers before the kill.

    make run && .venv/bin/python bench/worker_kill.py [--repeats 3] [--out bench/results/worker_kill.md]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.serve import served  # noqa: E402


def rss_mb(pid: int) -> float:
    processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return sum(p.memory_info().rss for p in processes) / 2**20


def http_workers(pid: int) -> list[psutil.Process]:
    return [p for p in psutil.Process(pid).children(recursive=True) if "worker" in " ".join(p.cmdline())]


def hammer(port: int, body: bytes, threads: int, seconds: float, kill_at: float, kill) -> dict:
    """Requests from `threads` threads for `seconds`; `kill()` runs `kill_at` seconds in."""
    events: list[tuple[float, bool]] = []
    lock = threading.Lock()
    began = time.monotonic()
    stop = began + seconds

    def client() -> None:
        connection = None
        while time.monotonic() < stop:
            connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
            if not ok:
                connection.close()
                connection = None
            with lock:
                events.append((time.monotonic() - began, ok))

    pool = [threading.Thread(target=client) for _ in range(threads)]
    for thread in pool:
        thread.start()
    time.sleep(kill_at)
    kill()
    for thread in pool:
        thread.join()
    events.sort()
    successes = [t for t, ok in events if ok]
    gaps = [b - a for a, b in zip([0.0, *successes], successes, strict=False)]
    return {"requests": len(events), "failed": sum(not ok for _, ok in events), "outage_s": max(gaps)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.chdir(ROOT)
    params = yaml.safe_load(Path("params.yaml").read_text())
    contract = json.loads(Path(f"contracts/{params['data']['name']}.json").read_text())
    rows = pd.read_parquet("data/clean/test.parquet").drop(columns=[contract["target"]]).head(1)
    body = json.dumps({"records": json.loads(rows.to_json(orient="records"))}).encode()
    model_tag = json.loads(Path("models/bento.json").read_text())["model_tag"]
    store = (ROOT / ".bentoml").resolve()
    results = []
    for repeat in range(args.repeats):
        for workers in (1, 2):  # side by side, alternating: the machine's load hits both alike
            serve = {**params["serve"], "workers": workers}
            with served(serve, store, model_tag) as (port, process):
                time.sleep(2)  # settled
                memory = rss_mb(process.pid)
                victims = http_workers(process.pid)

                def kill(victims=victims) -> None:
                    os.kill(victims[0].pid, signal.SIGKILL)

                outcome = hammer(port, body, args.threads, args.seconds, kill_at=3.0, kill=kill)
            results.append({"workers": workers, "repeat": repeat, "rss_mb": round(memory), **outcome})
            print(results[-1], flush=True)
    table = pd.DataFrame(results).groupby("workers")[["rss_mb", "requests", "failed", "outage_s"]].median()
    text = (
        f"# A killed worker, `serve.workers` 1 and 2 (medians of {args.repeats} runs, {args.threads} client "
        f"threads, {args.seconds:g} s each, SIGKILL at 3 s)\n\n" + table.round(2).to_markdown() + "\n"
    )
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
