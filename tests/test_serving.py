"""The exported Bento served for real on a free loopback port: metadata, counters, limits, batching,
a schemathesis fuzzing run against its OpenAPI document, its Swagger page in headless Chromium, and
the `serve` config flowing from conf/ through dvc into the Bento.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import psutil
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from autotab.config import load_config
from autotab.modeling import ensemble
from autotab.modeling.zoo import build_estimator
from autotab.reporting import lineage
from tests.serving_support import get, holdout_records
from tests.support import (
    CHROMIUM,
    SERVERS,
    built_clone,
    built_repository,
    chromium,
    free_port,
    post,
    require,
    run,
    served_bento,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return built_repository(tmp_path_factory)


@pytest.fixture(scope="module")
def serve_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="module")
def server(repo, serve_dir):
    with served_bento(repo, serve_dir) as base:
        yield base


def metric_values(base: str) -> dict[str, float]:
    """Every sample on /metrics, keyed by its name and labels as printed."""
    _, text = get(f"{base}/metrics")
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples


def counter(samples: dict[str, float], name: str, **labels: str) -> float:
    """The sum of a counter's samples whose labels include `labels` (workers may add their own)."""
    total = 0.0
    for key, value in samples.items():
        named = key.startswith(name + "{") or key == name
        if named and all(f'{k}="{v}"' in key for k, v in labels.items()):
            total += value
    return total


def test_metadata_describes_the_served_model(repo, server):
    status, body = get(f"{server}/metadata")
    assert status == 200
    meta = json.loads(body)
    bento = json.loads((repo / "models/bento.json").read_text())
    contract = json.loads((repo / "contracts/breast_biopsy.json").read_text())
    assert f"{meta['bento']['name']}:{meta['bento']['version']}" == bento["tag"]
    assert meta["model"]["tag"] == bento["model_tag"] == f"{meta['model']['name']}:{meta['model']['version']}"
    assert meta["holdout_metrics"] == json.loads((repo / "reports/metrics.json").read_text())
    assert meta["params"] == json.loads((repo / "reports/tuning/best_params.json").read_text())
    train_hash = hashlib.sha256((repo / "data/clean/train.parquet").read_bytes()).hexdigest()
    assert meta["data_hash"] == f"sha256:{train_hash}"
    # The served model learnt from the holdout rows too (the refit stage): they are part of its lineage.
    assert meta["served"] == json.loads((repo / "reports/served.json").read_text())
    assert meta["served"]["holdout_rows_included"]
    holdout_hash = hashlib.sha256((repo / "data/clean/test.parquet").read_bytes()).hexdigest()
    assert meta["holdout_data_hash"] == f"sha256:{holdout_hash}"
    assert meta["feature_schema"]["fields"] == contract["input"]
    assert meta["task"] == "binary" and meta["classes"] == contract["classes"]
    assert meta["contract"] == contract
    # Whatever packaging stores with the model's information is shown as stored, its lineage included.
    contract_sha256 = hashlib.sha256((repo / "contracts/breast_biopsy.json").read_bytes()).hexdigest()
    assert meta["model_metadata"]["contract_sha256"] == contract_sha256
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    (raw,) = [dep for dep in lock["stages"]["ingest"]["deps"] if dep["path"].startswith("data/raw/")]
    params_md5 = hashlib.md5((repo / "params.yaml").read_bytes()).hexdigest()
    code = lineage.code_digest(repo / "src/autotab", repo / "bentofile.yaml")
    origin = {"data_md5": raw["md5"], "params_md5": params_md5, "code_sha256": code}
    assert origin.items() <= meta["model_labels"].items()
    assert origin.items() <= meta["model_metadata"]["lineage"].items()


def test_counters_count_predictions_per_class_and_rejections(repo, server):
    records, _ = holdout_records(repo)
    before = metric_values(server)
    status, body = post(f"{server}/predict", json.dumps({"records": records}).encode())
    assert status == 200, body
    labels = [answer["label"] for answer in json.loads(body)]
    assert post(f"{server}/predict", json.dumps({"records": []}).encode())[0] == 400
    assert post(f"{server}/predict", b"{}", "text/plain")[0] == 415
    after = metric_values(server)
    for label in set(labels):
        gained = counter(after, "autotab_predictions_total", label=label) - counter(
            before, "autotab_predictions_total", label=label
        )
        assert gained == labels.count(label), label
    for reason, status in (("invalid_request", "400"), ("not_json", "415")):
        gained = counter(after, "autotab_rejected_requests_total", reason=reason, status=status) - counter(
            before, "autotab_rejected_requests_total", reason=reason, status=status
        )
        assert gained == 1, reason
    assert counter(after, "bentoml_service_request_total") > 0  # BentoML's own metrics are still there
    for health in ("livez", "readyz"):
        assert get(f"{server}/{health}")[0] == 200


def psi_gauges(samples: dict[str, float]) -> dict[str, float]:
    prefix = 'autotab_input_psi{field="'
    return {key[len(prefix) : -2]: value for key, value in samples.items() if key.startswith(prefix)}


def test_each_inputs_drift_over_recent_records_is_a_gauge(repo, server):
    """Records like the training rows keep every input's PSI low; a batch with one input shifted
    raises that input's, and only that one's, past the usual alert level (0.2)."""
    contract = json.loads((repo / "contracts/breast_biopsy.json").read_text())
    training = pd.read_parquet(repo / "data/clean/train.parquet").drop(columns=[contract["target"]])
    calm = training.sample(1200, replace=True, random_state=0)
    shifted = calm.assign(clump_thickness=(calm["clump_thickness"] + 3).clip(upper=10))

    def send(frame: pd.DataFrame) -> dict[str, float]:
        records = json.loads(frame.to_json(orient="records"))
        for start in range(0, len(records), 100):  # requests of 100: both workers get some
            status, body = post(f"{server}/predict", json.dumps({"records": records[start : start + 100]}).encode())
            assert status == 200, body
        return psi_gauges(metric_values(server))

    fields = {column["name"] for column in contract["cleaned"]}
    before = send(calm)
    assert set(before) == fields and max(before.values()) < 0.2, before  # a window filled: every input exported
    after = send(shifted)
    assert after["clump_thickness"] > 1, after
    assert max(value for field, value in after.items() if field != "clump_thickness") < 0.2, after
    assert 0 < counter(metric_values(server), "autotab_drift_window_records") <= 2 * 500  # bounded: two workers


def test_a_body_over_the_size_limit_gets_a_413_with_or_without_a_length(repo, server):
    record = holdout_records(repo)[0][0]
    limit = json.loads(get(f"{server}/metadata")[1])["limits"]["max_request_bytes"]
    body = json.dumps({"records": [record], "padding": "x" * limit}).encode()
    status, text = post(f"{server}/predict", body)
    assert status == 413 and "serve.max_request_bytes" in text, text
    address = urllib.parse.urlparse(server)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))  # chunked: no Content-Length
    connection.request("POST", "/predict", chunks, {"Content-Type": "application/json"}, encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 413, response.read()
    connection.close()


def test_a_declared_length_over_the_limit_is_answered_before_the_body_is_sent(server):
    address = urllib.parse.urlparse(server)
    with socket.create_connection((address.hostname, address.port), timeout=15) as sock:
        head = "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
        sock.sendall(head.encode() + b'{"records": [')  # and nothing more of the 50 MB it announced
        answer = b""
        while b"serve.max_request_bytes" not in answer and (chunk := sock.recv(65536)):
            answer += chunk  # the head and the body may come in separate segments
    assert answer.startswith(b"HTTP/1.1 413") and b"serve.max_request_bytes" in answer, answer


def test_a_body_shorter_than_its_length_gets_a_prompt_408_and_a_vanished_client_no_server_error(server, serve_dir):
    address = urllib.parse.urlparse(server)
    head = "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    before = metric_values(server)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(head.encode() + b'{"records": [')  # and never the rest: serve.timeout_s would say 504
        answer = b""
        while b"body_timeout_s" not in answer and (chunk := sock.recv(65536)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408") and b"serve.body_timeout_s" in answer, answer
    for _ in range(3):  # clients that go away mid-body
        with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
            sock.sendall(head.encode() + b'{"records": [')
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        after = metric_values(server)
        gone = counter(after, "autotab_rejected_requests_total", reason="client_disconnected", status="499")
        if gone >= counter(before, "autotab_rejected_requests_total", reason="client_disconnected") + 3:
            break
        time.sleep(0.2)
    for name, labels, more in (
        ("autotab_rejected_requests_total", {"reason": "client_disconnected"}, 3),
        ("autotab_rejected_requests_total", {"reason": "body_timeout", "status": "408"}, 1),
        ("autotab_rejected_requests_total", {"reason": "server_error"}, 0),
        ("bentoml_service_request_total", {"http_response_code": "500"}, 0),
    ):
        assert counter(after, name, **labels) == counter(before, name, **labels) + more, (name, labels)
    log = (serve_dir / "cwd" / "serve.log").read_text()
    assert "ClientDisconnect" not in log and "Traceback" not in log, log[-3000:]


def test_a_value_far_outside_the_training_range_is_scored_flagged_and_counted(repo, server):
    record = holdout_records(repo)[0][0]
    before = metric_values(server)
    far = [{**record, "mitoses": 1234567890}, record, {**record, "mitoses": 10**15, "clump_thickness": -5}]
    status, body = post(f"{server}/predict", json.dumps({"records": far}).encode())
    assert status == 200, body
    answers = json.loads(body)
    assert [answer.get("out_of_range") for answer in answers] == [["mitoses"], None, ["clump_thickness", "mitoses"]]
    assert all("probabilities" in answer for answer in answers)  # flag (the default) still answers
    after = metric_values(server)
    for field, more in (("mitoses", 2), ("clump_thickness", 1), ("bland_chromatin", 0)):
        name = "autotab_out_of_range_values_total"
        assert counter(after, name, field=field) == counter(before, name, field=field) + more, field
    assert json.loads(get(f"{server}/metadata")[1])["limits"]["out_of_range"] == "flag"


def test_explain_answers_why_by_the_columns_sent_and_adds_up_to_the_served_probability(repo, server):
    """POST /explain: the same records as /predict, the same answers, plus each raw column's
    contribution; the base value plus the contributions is the probability /predict serves."""
    records = holdout_records(repo)[0][:5]
    body = json.dumps({"records": records}).encode()
    predicted = json.loads(post(f"{server}/predict", body)[1])
    before = metric_values(server)
    status, answer = post(f"{server}/explain", body)
    assert status == 200, answer
    explained = json.loads(answer)
    used = [f["name"] for f in json.loads(get(f"{server}/metadata")[1])["feature_schema"]["fields"] if f["used"]]
    for prediction, record in zip(predicted, explained, strict=True):
        why = record.pop("explanation")
        assert record == prediction
        assert why["output"] == "probability" and why["explained_class"] == "malignant"  # the positive class
        assert sorted(why["contributions"]) == sorted(used)
        total = why["base_value"] + sum(why["contributions"].values())
        assert total == pytest.approx(prediction["probabilities"]["malignant"], abs=1e-6)
    # An analysis, not traffic: the prediction counters and the drift window watch /predict only.
    after = metric_values(server)
    assert counter(after, "autotab_predictions_total", label="benign") == counter(
        before, "autotab_predictions_total", label="benign"
    )
    status, answer = post(f"{server}/explain", json.dumps({"records": [{**records[0], "mitoses": "x"}]}).encode())
    assert status == 400 and "mitoses" in answer  # the same request contract, the same gate
    assert post(f"{server}/explain", b"{}", content_type="text/plain")[0] == 415


def test_every_dashboard_and_alert_query_reads_metrics_the_service_exports(repo, server):
    """By now the module's tests have sent predictions, rejected requests, values out of range and
    enough records to fill the drift windows: every metric the monitoring files read is on /metrics.
    The one exception is a counter of unseen categories, which a table without categorical inputs
    (the built-in one) never increments, so Prometheus' client never writes it."""
    from tests.test_deploy import PROMETHEUS_OWN, metric_names, monitoring_queries

    _, text = get(f"{server}/metrics")
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    contract = json.loads((repo / "contracts/breast_biopsy.json").read_text())
    categorical = any(field["used"] and field["kind"] == "categorical" for field in contract["input"])
    never_written = set() if categorical else {"autotab_unseen_categories_total"}
    for where, query in monitoring_queries().items():
        unknown = metric_names(query) - exported - PROMETHEUS_OWN - never_written
        assert not unknown, f"{where} reads {unknown}, which the service does not export"


def test_a_key_twice_in_a_record_gets_a_400_naming_it(repo, server):
    record = holdout_records(repo)[0][0]
    name = next(iter(record))
    # The same field again, first with a value it cannot take: a JSON parser would keep the last one.
    body = '{"records": [{' + json.dumps(name) + ': "x", ' + json.dumps(record)[1:] + "]}"
    status, text = post(f"{server}/predict", body.encode())
    assert status == 400 and json.dumps(name) in json.loads(text)["error"] and "twice" in text, text
    status, _ = post(f"{server}/predict", json.dumps({"records": [record]}).encode())
    assert status == 200


def test_a_compressed_body_gets_a_415_that_says_so(repo, server):
    body = gzip.compress(json.dumps({"records": holdout_records(repo)[0][:2]}).encode())
    request = urllib.request.Request(
        f"{server}/predict", data=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=30)
    assert answer.value.code == 415 and "uncompressed" in answer.value.read().decode()


def test_a_line_break_in_a_field_name_cannot_forge_a_log_line(repo, server, serve_dir):
    forged = "2026-01-01T00:00:00+0000 [ERROR] [fake] injected line"
    record = {**holdout_records(repo)[0][0], f"x\n{forged}": 1}
    status, _ = post(f"{server}/predict", json.dumps({"records": [record]}).encode())
    assert status == 400
    log = serve_dir / "cwd" / "serve.log"
    deadline = time.monotonic() + 10
    while "injected line" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = log.read_text().splitlines()
    assert any("injected line" in line for line in lines)  # logged, escaped, on the 400's own line
    assert not any(line.startswith(forged[:24]) for line in lines), "a client wrote its own log line"


def test_concurrent_single_record_requests_are_coalesced_and_answered_each_their_own(repo, server):
    records, X = holdout_records(repo)
    pipeline = joblib.load(repo / "models/served.joblib")
    expected = list(pipeline.predict(X))

    def ask(position: int) -> str:
        status, body = post(f"{server}/predict", json.dumps({"records": [records[position]]}).encode())
        assert status == 200, body
        return json.loads(body)[0]["label"]

    before = metric_values(server)
    with ThreadPoolExecutor(16) as pool:
        for _ in range(3):  # BentoML's dispatcher calls one at a time while it learns the model's speed
            assert list(pool.map(ask, range(len(records)))) == expected
    after = metric_values(server)
    name = "bentoml_service_adaptive_batch_size"
    calls = counter(after, f"{name}_count") - counter(before, f"{name}_count")
    rows = counter(after, f"{name}_sum") - counter(before, f"{name}_sum")
    assert rows == 3 * len(records) and calls < rows, (calls, rows)  # some calls carried several requests


def test_fuzzing_the_openapi_document_finds_no_server_error(server):
    """A few hundred schemathesis cases, valid and invalid by the schema, against POST /predict."""
    schema = schemathesis.openapi.from_url(f"{server}/docs.json")
    operation = schema["/predict"]["POST"]
    strategy = operation.as_strategy(schemathesis.GenerationMode.POSITIVE) | operation.as_strategy(
        schemathesis.GenerationMode.NEGATIVE
    )
    seen: dict[int, int] = {}

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def no_server_error(case):
        response = case.call(base_url=server, timeout=30)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (case.body, response.status_code, response.text)

    no_server_error()
    assert sum(seen.values()) >= 200 and 200 in seen and 400 in seen, seen


def test_the_swagger_page_lists_predict_in_headless_chromium(server, tmp_path):
    require(CHROMIUM, "install Debian's chromium (`apt-get install chromium`; .ci/run does)")
    page = get(f"{server}/")[1]
    assert "/predict" not in page  # so finding it below means Swagger UI rendered the OpenAPI document
    # Offline: its assets come from the server on loopback, which the browser's closed proxy lets through.
    dom = chromium("--dump-dom", f"{server}/", profile=tmp_path / "profile").stdout
    paths = re.findall(r'class="opblock-summary-path"[^>]*data-path="([^"]+)"', dom)
    assert "/predict" in paths, dom[-2000:]


DEV_TOOLS = ("pytest", "ruff", "hypothesis", "schemathesis", "httpx", "dvc", "optuna", "hydra")


def test_a_killed_worker_is_replaced_while_the_other_answers(repo, server):
    """With the default two workers, the kernel's OOM killer taking one (SIGKILL) costs only what it
    had in flight: the other answers every request meanwhile (one worker alone meant about 12 s of
    waiting for its restart, bench/worker_kill.py), and the server starts a new one."""
    body = json.dumps({"records": holdout_records(repo)[0][:1]}).encode()
    arbiter = psutil.Process(SERVERS[server].pid)

    def http_workers() -> list[psutil.Process]:
        return [p for p in arbiter.children(recursive=True) if "worker" in " ".join(p.cmdline())]

    workers = http_workers()
    assert len(workers) == 2, [p.cmdline() for p in workers]
    workers[0].kill()
    workers[0].wait(timeout=10)
    # A request the restart would hold up waits for it; the other worker answers in milliseconds.
    answered = [post(f"{server}/predict", body, timeout=5)[0] for _ in range(20)]
    assert answered == [200] * 20
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and {p.pid for p in http_workers()} in ({workers[1].pid}, set()):
        time.sleep(0.5)
    replaced = {p.pid for p in http_workers()}
    assert len(replaced) == 2 and workers[1].pid in replaced and workers[0].pid not in replaced


def test_the_bentos_image_installs_only_runtime_packages(repo):
    bento = json.loads((repo / "models/bento.json").read_text())
    name, version = bento["tag"].split(":")
    env = repo / ".bentoml/bentos" / name / version / "env"
    requirements = (env / "python/requirements.txt").read_text().split()
    packages = {re.split(r"[=<>]", line)[0].lower() for line in requirements}
    assert {"bentoml", "scikit-learn", "pandas"} <= packages and not packages & set(DEV_TOOLS), packages
    dockerfile = (env / "docker/Dockerfile").read_text()
    assert "env/python/requirements.txt" in dockerfile
    assert not [tool for tool in DEV_TOOLS if re.search(rf"\b{tool}\b", dockerfile)]


def test_the_three_boosting_families_are_served_inside_the_one_pipeline(tmp_path_factory, tmp_path):
    """A soft vote of LightGBM, XGBoost and CatBoost (their conf/model defaults) in place of the tuned
    model, behind the same cleaner and features, packaged by the package stage and served for real:
    the server answers what the Pipeline predicts in process."""
    boosted = built_clone(tmp_path_factory, "boosted")
    served = joblib.load(boosted / "models/served.joblib")
    recipe = Pipeline(served.estimator.steps[:-1])
    config = load_config(boosted / "params.yaml")
    families = ("lightgbm", "xgboost", "catboost")
    members = {name: (recipe, build_estimator(config.family(name), "binary", config.data.seed)) for name in families}
    model = clone(served).set_params(estimator=ensemble.soft_vote(members, dict.fromkeys(families, 1), "binary"))
    contract = json.loads((boosted / "contracts/breast_biopsy.json").read_text())
    rows = pd.read_parquet(boosted / "data/clean/train.parquet")
    model.fit(rows.drop(columns=[contract["target"]]), rows[contract["target"]])
    # In place of the served model (its reports/served.json, which the Bento's metadata copies, still
    # describes the refit it replaces: this test is about serving the three libraries, not lineage).
    joblib.dump(model, boosted / "models/served.joblib")
    run(["dvc", "repro", "--single-item", "package"], boosted)

    records, X = holdout_records(boosted)
    with served_bento(boosted, tmp_path / "serve") as base:
        status, body = post(f"{base}/predict", json.dumps({"records": records}).encode())
    assert status == 200, body
    answers, expected = json.loads(body), model.predict_proba(X)
    assert [answer["label"] for answer in answers] == list(model.predict(X))
    for answer, row in zip(answers, expected, strict=True):
        for label, p in zip(model.classes_, row, strict=True):
            assert abs(answer["probabilities"][label] - p) < 1e-6
    assert len(set(np.round(expected[:, 0], 6))) > 10  # the boosted vote, not a constant


def test_the_serve_config_flows_from_conf_through_dvc_into_the_bento(tmp_path_factory, tmp_path):
    """A `serve` override reruns only the package stage; the Bento then serves as configured, no flags."""
    repo = built_clone(tmp_path_factory, "serve_config")
    port = free_port()
    overrides = ["-S", f"serve.port={port}", "-S", "serve.max_records=2", "-S", "serve.batching.enabled=false"]
    overrides += ["-S", "serve.out_of_range=reject"]
    # The quality gate: the built-in model closes 99.6% of the gap to a perfect holdout ROC AUC, so a
    # gate of 99.9% stops the run at package, in one line; overruled, the Bento is built, and the
    # stage says what it let through.
    gate = ["-S", "package.min_skill=0.999"]
    refused = run(["dvc", "exp", "run", *overrides, *gate], repo, check=False)
    errors = [line for line in (refused.stdout + refused.stderr).splitlines() if "autotab" in line and "error:" in line]
    assert refused.returncode != 0 and "Traceback" not in refused.stderr and len(errors) == 1, errors
    assert errors[0].startswith("autotab package: error: the model does not clearly beat the trivial baseline")
    overrides += [*gate, "-S", "package.allow_weak_model=true"]
    result = run(["dvc", "exp", "run", *overrides], repo)
    # Only package: evaluate reads no serving or gate setting, so the same model is not evaluated again.
    assert "Running stage 'package'" in result.stdout
    assert "Running stage 'tune'" not in result.stdout and "Running stage 'evaluate'" not in result.stdout
    assert "WARNING: packaging a model that does not clearly beat the trivial baseline" in result.stdout
    with served_bento(repo, tmp_path, configured_port=port) as base:
        record = holdout_records(repo)[0][0]
        assert post(f"{base}/predict", json.dumps({"records": [record] * 2}).encode())[0] == 200
        status, body = post(f"{base}/predict", json.dumps({"records": [record] * 3}).encode())
        assert status == 400 and "records" in body, body
        assert json.loads(get(f"{base}/metadata")[1])["limits"]["max_records"] == 2
        before = metric_values(base)
        status, body = post(f"{base}/predict", json.dumps({"records": [{**record, "mitoses": 11}]}).encode())
        assert status == 400 and "mitoses" in body and "training range [1, 10]" in body, body
        name = "autotab_out_of_range_values_total"  # a refused value is counted too
        assert counter(metric_values(base), name, field="mitoses") == counter(before, name, field="mitoses") + 1
        assert f"127.0.0.1:{port}" in (tmp_path / "cwd/serve.log").read_text()
