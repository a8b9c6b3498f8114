"""`autotab deploy k8s`'s manifests, validated offline against the Kubernetes API schemas
(kubernetes-validate, strict: an unknown field fails too)."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
import yaml

from autotab.config import load_config
from autotab.serving.kubernetes import MEASURED_ONE_WORKER_MB, manifests, memory_request_mb
from tests.conftest import REPO
from tests.support import built_repository, run

KUBERNETES = "1.33"


@pytest.fixture(scope="module")
def documents() -> list[dict]:
    serve = load_config(REPO / "params.yaml").serve
    return manifests(name="autotab", image="registry.example/autotab:0123abcd", serve=serve, model_mb=40.0,
                     replicas=2, max_replicas=6, labels={"app.kubernetes.io/version": "0123abcd"})  # fmt: skip


def test_every_manifest_is_valid_against_the_kubernetes_schemas(documents):
    assert [d["kind"] for d in documents] == ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"]
    for document in documents:
        kubernetes_validate.validate(document, desired_version=KUBERNETES, strict=True)
    broken = {**documents[1], "spec": {**documents[1]["spec"], "portz": []}}
    with pytest.raises(kubernetes_validate.ValidationError):  # the check can fail
        kubernetes_validate.validate(broken, desired_version=KUBERNETES, strict=True)


def test_the_deployment_probes_health_scales_and_is_scraped(documents):
    deployment, service, autoscaler, budget = documents
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["args"][:2] == ["--host", "0.0.0.0"]  # reachable from the Service, not only loopback
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert pod["spec"]["terminationGracePeriodSeconds"] > load_config(REPO / "params.yaml").serve.timeout_s
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"] == budget["spec"]["selector"][
        "matchLabels"]  # fmt: skip
    assert (autoscaler["spec"]["minReplicas"], autoscaler["spec"]["maxReplicas"]) == (2, 6)
    assert "replicas" not in deployment["spec"]  # an apply must not reset what the autoscaler scaled to
    assert budget["spec"] == {"maxUnavailable": 1, "selector": service["spec"] and budget["spec"]["selector"]}


def test_memory_follows_the_measured_server_and_the_model_size(documents):
    (container,) = documents[0]["spec"]["template"]["spec"]["containers"]
    requested = int(container["resources"]["requests"]["memory"].removesuffix("Mi"))
    assert requested == memory_request_mb(2, 40.0) > memory_request_mb(2, 0.1) > memory_request_mb(1, 0.1)
    assert memory_request_mb(1, 0.1) == MEASURED_ONE_WORKER_MB
    assert memory_request_mb(2, 0.1, libraries_mb=100) == memory_request_mb(2, 0.1) + 200  # per worker
    assert int(container["resources"]["limits"]["memory"].removesuffix("Mi")) > requested


@pytest.mark.slow
def test_the_command_writes_them_for_the_packaged_bento(tmp_path_factory, tmp_path):
    """In the session's built repository: the Bento's tag is the image, and a wrong option is one line."""
    repo = built_repository(tmp_path_factory)
    out = tmp_path / "k8s.yaml"
    done = run(["autotab", "deploy", "k8s", "--output", str(out), "--replicas", "3"], repo)
    assert "kubectl apply -f" in done.stdout
    deployment, _, autoscaler, _ = yaml.safe_load_all(out.read_text())
    tag = json.loads((repo / "models/bento.json").read_text())["tag"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == tag
    assert autoscaler["spec"]["minReplicas"] == 3 and "replicas" not in deployment["spec"]  # the autoscaler's
    wrong = run(["autotab", "deploy", "k8s", "--output", str(tmp_path / "no.yaml"), "--replicas", "5",
                 "--max-replicas", "2"], repo, check=False)  # fmt: skip
    assert wrong.returncode == 2 and "--max-replicas 2 is below --replicas 5" in wrong.stderr
    assert not (tmp_path / "no.yaml").exists()
