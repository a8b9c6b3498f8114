"""Kubernetes manifests for the packaged Bento: a Deployment of the image `bentoml containerize`
builds, a Service, a HorizontalPodAutoscaler, a PodDisruptionBudget, and Prometheus scraping by pod
annotations (the convention of Prometheus' `kubernetes_sd` example configuration and of most charts).

Memory requests and limits come from measurement (`bench/worker_kill.py`, bench/results/worker_kill.md):
the server with one worker held 502 MB, with two 759 MB, serving the built-in model. A larger model
costs its own size again in every worker, so that is added per worker, and so is the explanation
library a forest's explanations load (`libraries_mb`).
"""

from __future__ import annotations

import math
from typing import Any

from autotab.config import ServeConfig

MEASURED_ONE_WORKER_MB = 502  # the server and one worker (bench/results/worker_kill.md)
MEASURED_PER_WORKER_MB = 759 - 502  # each further worker
MEASURED_MODEL_MB = 0.11  # the model file those figures were taken with (models/model.joblib)
LIMIT_HEADROOM = 1.5  # the limit over the request: room for a large batch before the OOM killer
BENTOML_UID = 1034  # the user BentoML's Dockerfile runs the server as


def memory_request_mb(workers: int, model_mb: float, libraries_mb: float = 0.0) -> int:
    """The memory one pod asks for: the measured server, plus what a larger model and the libraries
    its explanations load (the built-in model loads none) add per worker."""
    measured = MEASURED_ONE_WORKER_MB + MEASURED_PER_WORKER_MB * (workers - 1)
    return math.ceil(measured + workers * (max(model_mb - MEASURED_MODEL_MB, 0) + libraries_mb))


def manifests(*, name: str, image: str, serve: ServeConfig, model_mb: float, replicas: int, max_replicas: int,
              labels: dict[str, str], libraries_mb: float = 0.0) -> list[dict[str, Any]]:  # fmt: skip
    """The resources, in the order `kubectl apply` should create them."""
    selector = {"app.kubernetes.io/name": name}
    memory = memory_request_mb(serve.workers, model_mb, libraries_mb)
    port = serve.port
    probe = {"periodSeconds": 10, "timeoutSeconds": 3}
    container = {
        "name": name,
        "image": image,
        # The image's entrypoint runs `bentoml serve` with these: every interface, not the Bento's 127.0.0.1.
        "args": ["--host", "0.0.0.0", "--port", str(port)],
        "ports": [{"name": "http", "containerPort": port}],
        "env": [{"name": "BENTOML_DO_NOT_TRACK", "value": "true"}],
        "resources": {
            "requests": {"cpu": str(serve.workers), "memory": f"{memory}Mi"},
            "limits": {"memory": f"{math.ceil(memory * LIMIT_HEADROOM)}Mi"},
        },
        # Loading the model takes seconds: traffic only once /readyz says so; restarted if /livez stops.
        "startupProbe": {**probe, "httpGet": {"path": "/livez", "port": "http"}, "failureThreshold": 30},
        "livenessProbe": {**probe, "httpGet": {"path": "/livez", "port": "http"}, "failureThreshold": 3},
        "readinessProbe": {**probe, "httpGet": {"path": "/readyz", "port": "http"}, "failureThreshold": 2},
        # Graceful shutdown: out of the Service's endpoints first, then SIGTERM lets requests in flight finish.
        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
        # The image runs as the user `bentoml` (UID 1034 in BentoML's Dockerfile); a name cannot prove
        # to the kubelet that it is not root, the number can.
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": BENTOML_UID},
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": {**selector, **labels}},
            # No `replicas`: the autoscaler owns the count (from `replicas` up), and an apply of a
            # new version would otherwise reset it to the minimum under load.
            "spec": {
                "selector": {"matchLabels": selector},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {
                    "metadata": {
                        "labels": {**selector, **labels},
                        "annotations": {
                            "prometheus.io/scrape": "true",
                            "prometheus.io/port": str(port),
                            "prometheus.io/path": "/metrics",
                        },  # fmt: skip
                    },
                    "spec": {
                        "terminationGracePeriodSeconds": math.ceil(serve.timeout_s) + 10,
                        "containers": [container],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": selector},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "labels": selector},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": replicas,
                "maxReplicas": max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                    }
                ],  # fmt: skip
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "labels": selector},
            # One pod at a time through a node drain, whatever the replica count (minAvailable: 1 would
            # block every drain of a single-replica deployment).
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
        },
    ]
