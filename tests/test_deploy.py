"""The monitoring files a team deploys with the service (deploy/, docker-compose.yml): they parse,
they point at files that exist, and their queries are PromQL over metric names (that the running
service exports those names is checked in test_serving, which scrapes it)."""

from __future__ import annotations

import json
import re

import yaml

from tests.conftest import REPO

DEPLOY = REPO / "deploy"
ALERTS = DEPLOY / "prometheus/alerts.yml"
DASHBOARD = DEPLOY / "grafana/dashboards/autotab.json"
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                "offset", "inf", "nan"}  # fmt: skip
PROMETHEUS_OWN = {"up"}  # written by Prometheus for each target, not by the service


def monitoring_queries() -> dict[str, str]:
    """Every PromQL expression of the alert rules and the dashboard, by where it is."""
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    queries = {f"alert {rule['alert']}": rule["expr"] for rule in rules}
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel["targets"]:
            queries[f"panel {panel['title']!r} {target['refId']}"] = target["expr"]
    return queries


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions (followed by
    a parenthesis), keywords, label names (inside braces or after by/without) or numbers."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    names = re.findall(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text)
    return {name for name in names if name.lower() not in PROMQL_WORDS}


def test_the_queries_parse_into_the_metric_names_they_read():
    query = 'sum by (le) (rate(x_bucket{endpoint="/a(b)"}[5m])) / scalar(sum(rate(y_total[5m]))) > 0.01'
    assert metric_names(query) == {"x_bucket", "y_total"}
    assert metric_names("max by (field) (autotab_input_psi) > 0.2") == {"autotab_input_psi"}
    queries = monitoring_queries()
    assert len(queries) >= 15 and all(metric_names(query) for query in queries.values())


def test_the_alert_rules_cover_errors_latency_rejections_drift_and_out_of_range():
    rules = {rule["alert"]: rule for rule in yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]}
    assert {"AutotabServerErrors", "AutotabSlowPredictions", "AutotabRejectedRequests", "AutotabInputDrift",
            "AutotabOutOfRangeValues", "AutotabUnseenCategories"} <= set(rules)  # fmt: skip
    for name, rule in rules.items():
        assert rule["for"] and rule["labels"]["severity"] in {"page", "ticket"} and rule["annotations"]["summary"], name
    read = set().union(*(metric_names(rule["expr"]) for rule in rules.values()))
    assert {"autotab_input_psi", "autotab_rejected_requests_total", "autotab_out_of_range_values_total",
            "bentoml_service_request_duration_seconds_bucket"} <= read  # fmt: skip


def test_compose_runs_the_service_with_prometheus_and_grafana_on_files_that_exist():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"autotab", "prometheus", "grafana"}
    assert services["autotab"]["command"][:3] == ["serve", "--host", "0.0.0.0"]  # reachable from the others
    for service in services.values():
        for volume in service.get("volumes", []):
            assert (REPO / volume.split(":")[0]).exists(), volume
    scrape = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())["scrape_configs"][0]
    assert scrape["job_name"] == "autotab" and scrape["static_configs"][0]["targets"] == ["autotab:3000"]
    source = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uids = {panel["datasource"]["uid"] for panel in json.loads(DASHBOARD.read_text())["panels"]}
    assert uids == {source["datasources"][0]["uid"]}
