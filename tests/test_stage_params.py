"""Each dvc.yaml stage's `params` cover every param the stage reads, so that changing one reruns it.

A stage lists exactly the keys it reads (dvc.yaml's header), by hand; a key it reads but does not list
would change nothing in `dvc status`, and a committed `dvc.lock` would describe outputs the current
params would not produce. Computed from the source, as test_stage_deps.py computes modules: every
chain of attributes read from the loaded config (`config.train.folds`), through the names it is bound
to (`data = config.data`), the package's functions it is passed to (followed into their bodies) and
the config's own methods (`config.family(name)`). A part of the config handed to anything else (a
class, a library) counts as read whole, so the analysis errs towards asking for more params.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import pytest

from tests.test_stage_deps import STAGES, module_file, stage_module

# Read on purpose without being a param of the stage: where trials run must not change what they find
# (README, the Dask backend), so pointing at another cluster reruns nothing.
UNTRACKED = {"backend.name", "backend.address"}


def declared(stage: dict) -> set[str] | None:
    """The params a stage lists, and those its deps' paths interpolate; None: all of params.yaml."""
    keys = set()
    for entry in stage.get("params", []):
        if isinstance(entry, dict):  # `params.yaml:` with no keys: the whole file
            return None
        keys.add(entry)
    return keys | set(re.findall(r"\$\{([\w.]+)\}", " ".join(map(str, stage.get("deps", [])))))


def covered(read: str, keys: set[str]) -> bool:
    return any(read == key or read.startswith(key + ".") for key in keys | UNTRACKED)


@dataclass
class Module:
    name: str
    tree: ast.Module
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # local name -> (module, attribute)

    @classmethod
    def load(cls, name: str) -> Module:
        module = cls(name, ast.parse(module_file(name).read_text()))
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("autotab"):
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    local = alias.asname or alias.name
                    module.imports[local] = (submodule, None) if module_file(submodule) else (node.module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("autotab") and alias.asname:
                        module.imports[alias.asname] = (alias.name, None)
        return module

    def function(self, name: str) -> ast.FunctionDef | None:
        """A top-level function, or a method as `Class.method`."""
        owner, _, method = name.rpartition(".")
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef) and not owner and node.name == name:
                return node
            if isinstance(node, ast.ClassDef) and node.name == owner:
                return next((f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == method), None)
        return None


class Reads:
    """The dotted params a stage's code reads from its config."""

    def __init__(self) -> None:
        self.modules: dict[str, Module] = {}
        self.visited: set[tuple] = set()
        self.where: dict[str, str] = {}  # each read's first place, for the failure message

    def module(self, name: str) -> Module:
        if name not in self.modules:
            self.modules[name] = Module.load(name)
        return self.modules[name]

    def chain(self, node: ast.AST, roots: dict[str, str]) -> str | None:
        """The dotted param `node` stands for ("" for the whole config), or None if it is not one."""
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):  # `backend or BackendConfig()`
            node = node.values[0]
        names = []
        while isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in roots:
            base = roots[node.id]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "load_config":
            base = ""
        else:
            return None
        return ".".join(filter(None, [base, *reversed(names)]))

    def callee(self, module: Module, func: ast.AST) -> tuple[Module, ast.FunctionDef] | None:
        """The package's function a call runs: `f(...)` of an imported name, or `module.f(...)`."""
        if isinstance(func, ast.Name):
            target = module.function(func.id)
            if target is not None:
                return module, target
            source, attribute = module.imports.get(func.id, (None, None))
            if source and attribute:
                found = self.module(source).function(attribute)
                return (self.module(source), found) if found else None
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            source, attribute = module.imports.get(func.value.id, (None, None))
            if source and attribute is None:
                found = self.module(source).function(func.attr)
                return (self.module(source), found) if found else None
        return None

    def config_method(self, node: ast.AST, roots: dict[str, str]) -> bool:
        """Whether `node` is a method of the config itself (`config.family`); if so, follows it."""
        if not (isinstance(node, ast.Attribute) and self.chain(node.value, roots) == ""):
            return False
        config = self.module("autotab.config")
        target = config.function(f"Config.{node.attr}")
        if target is not None:
            self.follow(config, target, {"self": ""})
        return target is not None

    def follow(self, module: Module, function: ast.AST, roots: dict[str, str]) -> None:
        key = (module.name, id(function), tuple(sorted(roots.items())))
        if key in self.visited:
            return
        self.visited.add(key)
        roots, bindings_only = dict(roots), set()
        for node in ast.walk(function):  # names bound to parts of the config: a binding is not a read
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    pairs = (
                        zip(target.elts, node.value.elts, strict=False)
                        if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                        else [(target, node.value)]
                    )
                    for name, value in pairs:
                        bound = self.chain(value, roots)
                        if isinstance(name, ast.Name) and bound is not None:
                            roots[name.id] = bound
                            bindings_only |= {id(value), *(id(v) for v in getattr(value, "values", [])[:1])}
        skipped = set(bindings_only)  # and what a followed function reads, it reads there
        for node in ast.walk(function):
            if not isinstance(node, ast.Call):
                continue
            if self.config_method(node.func, roots):  # what the config's own method reads of `self`
                skipped.add(id(node.func))
                continue
            found = self.callee(module, node.func)
            if found is None:
                continue
            callee_module, target = found
            parameters = [a.arg for a in target.args.posonlyargs + target.args.args]
            passed = [(parameters[i], a) for i, a in enumerate(node.args) if i < len(parameters)]
            passed += [(k.arg, k.value) for k in node.keywords if k.arg]
            bindings = {}
            for parameter, argument in passed:
                bound = self.chain(argument, roots)
                if self.config_method(argument, roots):  # passed to be called: `zoo=config.family`
                    skipped.add(id(argument))
                elif bound is not None:
                    bindings[parameter] = bound
                    skipped.add(id(argument))
            if bindings:
                self.follow(callee_module, target, bindings)
        parents = {id(child): node for node in ast.walk(function) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(function):  # every outermost chain: `config.data.seed`, not `config.data`
            if not isinstance(node, (ast.Attribute, ast.Name)) or id(node) in skipped:
                continue
            if isinstance(node.ctx, ast.Store) or isinstance(parents.get(id(node)), ast.Attribute):
                continue
            bound = self.chain(node, roots)
            if bound:
                self.where.setdefault(bound, f"{module.name}:{node.lineno}")


def stage_reads(stage: str) -> dict[str, str]:
    """Every param the stage reads, with the first place (module:line) it does."""
    reads = Reads()
    module = reads.module(stage_module(stage))
    reads.follow(module, module.function("main"), {})
    return reads.where


TRACKED = [name for name, stage in STAGES.items() if declared(stage) is not None]


@pytest.mark.parametrize("stage", TRACKED)
def test_each_stage_lists_every_param_it_reads(stage):
    reads = stage_reads(stage)
    assert reads, f"found no param that stage {stage!r} reads: the analysis lost track of its config"
    lacking = {read: where for read, where in sorted(reads.items()) if not covered(read, declared(STAGES[stage]))}
    assert not lacking, f"dvc.yaml: stage {stage!r} reads {lacking} but does not list them in its params"


def test_a_param_read_but_not_listed_is_named():
    """The evaluate stage reads `train.folds` in the model card it writes, two calls down; a budget the
    train stage reads and the tune stage's parallelism would go unnoticed as well."""
    for stage, key in (("evaluate", "train.folds"), ("train", "budget_s"), ("tune", "backend.parallelism")):
        keys = declared(STAGES[stage]) - {key}
        assert [read for read in stage_reads(stage) if not covered(read, keys)] == [key], stage
