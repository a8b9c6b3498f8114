"""params.yaml is the committed composition of conf/, and every shipped option composes, validates
and builds something that fits a small table for each task it declares."""

import filecmp
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from autotab.cli import compose_params
from autotab.config import parse_config
from autotab.estimators.table_cleaner import TableCleaner
from autotab.modeling.features import build_preprocessor
from autotab.modeling.training import whole_pipeline
from autotab.modeling.zoo import FAMILIES, build_estimator, supports
from tests.conftest import REPO

TASKS = ("binary", "multiclass", "regression")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (REPO / "conf" / group).glob("*.yaml"))


@pytest.fixture(autouse=True)
def in_repo():
    old = Path.cwd()
    os.chdir(REPO)
    yield
    os.chdir(old)


def small_table(task: str, n: int = 80) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({
        "x": rng.normal(size=n), "z": rng.normal(size=n), "c": rng.choice(["a", "b", "c"], n),
        "w": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
    })  # fmt: skip
    signal = X["x"] + (X["c"] == "a")
    if task == "regression":
        return X, signal + rng.normal(scale=0.1, size=n)
    bins = [0.5] if task == "binary" else [0.0, 1.0]
    return X, pd.Series(np.digitize(signal, bins)).map(lambda k: f"class_{k}")


def composed(tmp_path, override: str) -> dict:
    path = tmp_path / "params.yaml"
    compose_params(path, [override])
    return yaml.safe_load(path.read_text())


def test_params_yaml_equals_the_composition_of_conf(tmp_path):
    composed_path = tmp_path / "params.yaml"
    compose_params(composed_path)
    assert filecmp.cmp(composed_path, REPO / "params.yaml", shallow=False), (
        "params.yaml is stale: run `make params` and commit it"
    )


@pytest.mark.parametrize(
    "group,option", [(g, o) for g in ("data", "clean", "train", "tune", "serve") for o in options(g)]
)
def test_every_shipped_option_composes_and_validates(tmp_path, group, option):
    parse_config(composed(tmp_path, f"{group}={option}"))


@pytest.mark.parametrize("option", options("features"))
def test_every_features_preset_fits_each_task(tmp_path, option):
    config = parse_config(composed(tmp_path, f"features={option}"))
    for task in TASKS:
        X, y = small_table(task)
        recipe = build_preprocessor(TableCleaner(), config.features, task, seed=0)
        out = recipe.fit(X, y).transform(X)
        assert out.shape[0] == len(X) and np.isfinite(out).all()
        assert len(recipe.get_feature_names_out()) == out.shape[1]


@pytest.mark.parametrize("option", [o for o in options("model") if o != "auto"])
def test_every_model_fits_each_task_it_declares(tmp_path, option):
    config = parse_config(composed(tmp_path, f"model={option}"))
    assert config.model.name == option and option in FAMILIES
    declared = [task for task in TASKS if supports(option, task)]
    assert declared
    for task in declared:
        X, y = small_table(task)
        estimator = build_estimator(config.model, task, seed=0)
        pipeline = whole_pipeline(build_preprocessor(TableCleaner(), config.features, task, 0), estimator)
        pipeline.fit(X, y)
        if task == "regression":
            assert pipeline.predict(X).shape == (len(X),)
        else:
            assert pipeline.predict_proba(X).shape == (len(X), y.nunique())


def test_model_auto_and_the_zoo(tmp_path):
    config = parse_config(composed(tmp_path, "model=auto"))
    assert config.model.name == "auto"
    assert set(config.zoo) == set(FAMILIES) and set(config.train.candidates) <= set(config.zoo)
    pinned = parse_config(composed(tmp_path, "model=random_forest"))
    assert pinned.family("random_forest") is pinned.model
