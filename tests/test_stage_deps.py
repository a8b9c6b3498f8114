"""Each dvc.yaml stage's deps cover every module of the package that the stage runs: what its stage
script imports, directly or through other modules, and, for a stage that loads a pickle (a `.joblib`
dep), every module defining an estimator in the stage that wrote it, with what those import.

Computed from the source (every import statement, inside functions too), so a new import without its
dep fails here, naming the stage and the module; editing a module DVC does not know about would
otherwise rerun nothing and leave a committed dvc.lock describing a model the code no longer makes.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest
import yaml
from sklearn.base import BaseEstimator

from tests.support import REPO

SRC = REPO / "src"
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def module_file(name: str) -> Path | None:
    path = SRC / Path(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """The package's modules that a file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("autotab")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("autotab"):
            for alias in node.names:  # `from autotab import paths` names a module; `from autotab.x import f` does not
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if module_file(submodule) else node.module)
    return {name for name in found if module_file(name)}


def closure(roots: set[str]) -> set[str]:
    seen, todo = set(), set(roots)
    while todo:
        name = todo.pop()
        seen.add(name)
        todo |= imported_modules(module_file(name)) - seen
    return seen


def stage_module(stage: str) -> str:
    return STAGES[stage]["cmd"].split(" -m ", 1)[1].split()[0]


def estimator_modules(stage: str) -> set[str]:
    """The modules, among those a stage runs, that define a scikit-learn estimator: what its pickles can hold."""
    return {
        name
        for name in closure({stage_module(stage)})
        if any(
            issubclass(cls, BaseEstimator) and cls.__module__ == name
            for _, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass)
        )
    }


def writer(output: str) -> str:
    """The stage whose outs hold `output`."""
    return next(name for name, stage in STAGES.items() if output in map(str, stage.get("outs", [])))


def required_files(stage: str) -> set[Path]:
    roots = {stage_module(stage)}
    for dep in map(str, STAGES[stage]["deps"]):
        if dep.endswith(".joblib"):  # a pickle holds the estimators of the stage that wrote it
            roots |= estimator_modules(writer(dep))
    modules = closure(roots)
    # Importing `autotab.data.contract` runs `autotab/__init__.py` and `autotab/data/__init__.py` first.
    packages = {".".join(name.split(".")[:depth]) for name in modules for depth in range(1, name.count(".") + 1)}
    return {module_file(name) for name in modules | packages}


def missing(deps: list[str], required: set[Path]) -> list[str]:
    """The required files no dep covers (a dep covers its own file, or everything under its folder)."""
    covered = [(REPO / str(dep).split()[0]).resolve() for dep in deps]
    return sorted(
        str(path.relative_to(REPO))
        for path in required
        if not any(path == dep or dep in path.parents for dep in covered)
    )


@pytest.mark.parametrize("stage", [name for name in STAGES if STAGES[name]["cmd"].startswith("python -m autotab.")])
def test_each_stage_depends_on_every_module_it_runs(stage):
    required = required_files(stage)
    lacking = missing(STAGES[stage]["deps"], required)
    assert not lacking, f"dvc.yaml: stage {stage!r} runs {lacking} but does not list them in its deps"
    twice = sorted({dep for dep in STAGES[stage]["deps"] if STAGES[stage]["deps"].count(dep) > 1})
    assert not twice, f"dvc.yaml: stage {stage!r} lists {twice} more than once"
    # A module listed one by one that the stage no longer runs would rerun it for nothing.
    run = {str(path.relative_to(REPO)) for path in required}
    stale = [dep for dep in map(str, STAGES[stage]["deps"]) if dep.endswith(".py") and dep not in run]
    assert not stale, f"dvc.yaml: stage {stage!r} lists {stale} in its deps but does not run them"


def test_a_dropped_dep_is_named():
    deps = [dep for dep in STAGES["train"]["deps"] if dep != "src/autotab/modeling/leaderboard.py"]
    assert missing(deps, required_files("train")) == ["src/autotab/modeling/leaderboard.py"]
    # Modules reached only through the pickle it loads count too: the preprocessor's column groups.
    assert "src/autotab/estimators/column_groups.py" in {str(p.relative_to(REPO)) for p in required_files("train")}


def test_the_package_inits_import_nothing():
    """The package inits are deps, but their imports are not followed: right while they import nothing of ours."""
    for init in SRC.glob("autotab/**/__init__.py"):
        assert not imported_modules(init), init
