"""params.yaml is the committed composition of conf/, and every shipped option composes and builds."""

import filecmp
import os
from pathlib import Path

import pytest
import yaml

from autotab.cli import compose_params
from autotab.config import parse_config
from autotab.models import build_estimator
from tests.conftest import REPO

GROUPS = sorted(p.name for p in (REPO / "conf").iterdir() if p.is_dir())


@pytest.fixture(autouse=True)
def in_repo():
    old = Path.cwd()
    os.chdir(REPO)
    yield
    os.chdir(old)


def test_params_yaml_equals_the_composition_of_conf(tmp_path):
    composed = tmp_path / "params.yaml"
    compose_params(composed)
    assert filecmp.cmp(composed, REPO / "params.yaml", shallow=False), (
        "params.yaml is stale: run `make params` and commit it"
    )


@pytest.mark.parametrize(
    "group,option",
    [(g, p.stem) for g in GROUPS for p in sorted((REPO / "conf" / g).glob("*.yaml"))],
)
def test_every_shipped_option_composes_and_validates(tmp_path, group, option):
    composed = tmp_path / "params.yaml"
    compose_params(composed, [f"{group}={option}"])
    params = yaml.safe_load(composed.read_text())
    config = parse_config(params)
    if group == "model":
        model = config.model
        tasks = ["regression"] if option == "ridge" else ["binary", "multiclass"]
        if option in ("random_forest", "hist_gradient_boosting"):
            tasks.append("regression")
        for task in tasks:
            build_estimator(model, task, seed=0)
