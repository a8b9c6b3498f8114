"""The package's parts import one way: stages and the CLI -> library parts -> the base modules.

Each module of `src/autotab` belongs to a part (its subpackage; the top-level modules other than the
CLI are the base). A part may import only the parts listed for it below, so that, for instance, the
served code never pulls in the search, and a pickle's classes never depend on anything but
libraries. Computed from every import statement in the source, those inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import REPO

BASE = "base"  # config, errors, paths, tables, metrics: what every part may use
ALLOWED = {
    BASE: {BASE},
    "estimators": {"estimators"},  # everything a pickle holds: nothing of autotab but itself
    "explaining": {"explaining", "estimators"},  # served too: fitted models and libraries only
    "data": {BASE, "data", "estimators"},
    "modeling": {BASE, "data", "estimators", "modeling"},
    "reporting": {BASE, "data", "estimators", "explaining", "reporting"},
    "serving": {BASE, "data", "estimators", "explaining", "serving"},  # never modelling, reporting or stages
    "stages": {
        BASE,
        "data",
        "estimators",
        "explaining",
        "modeling",
        "reporting",
        "serving",
    },  # never another stage's shell
    "cli": {BASE, "data", "estimators", "explaining", "modeling", "reporting", "serving"},
}


def part(module: str) -> str:
    """`autotab.modeling.search` -> modeling; `autotab.config` -> base; `autotab.cli` -> cli."""
    names = module.split(".")
    if len(names) == 1:  # the package itself
        return BASE
    if names[1] == "cli":
        return "cli"
    return names[1] if names[1] in ALLOWED else BASE


def module_name(path: Path, src: Path) -> str:
    relative = path.relative_to(src).with_suffix("")
    names = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(names)


def imports_of(path: Path, src: Path) -> set[str]:
    """The autotab modules a file imports (`from autotab.x import y` names `autotab.x.y` if it is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "autotab"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "autotab":
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                is_module = (src / Path(*submodule.split("."))).with_suffix(".py").is_file() or (
                    src / Path(*submodule.split(".")) / "__init__.py"
                ).is_file()
                found.add(submodule if is_module else node.module)
    return found


def violations(src: Path) -> list[str]:
    """Every import in the package under `src` that goes against ALLOWED, as `importer -> imported`."""
    found = []
    for path in sorted((src / "autotab").rglob("*.py")):
        importer = module_name(path, src)
        for imported in sorted(imports_of(path, src)):
            if imported == importer:
                continue
            stage_to_stage = part(importer) == part(imported) == "stages"
            if part(imported) not in ALLOWED[part(importer)] or stage_to_stage:
                found.append(f"{importer} ({part(importer)}) -> {imported} ({part(imported)})")
    return found


def test_the_package_imports_one_way():
    assert violations(REPO / "src") == []


def test_every_module_belongs_to_a_part_the_readme_names():
    readme = (REPO / "README.md").read_text()
    for folder in (REPO / "src/autotab").iterdir():
        if folder.is_dir() and (folder / "__init__.py").is_file():
            assert f"`{folder.name}/`" in readme, f"README: the architecture table lacks {folder.name}/"


def test_a_wrong_way_import_is_named(tmp_path):
    """A deliberate break: serving importing the search, an estimator importing config."""
    package = tmp_path / "autotab"
    for folder in ("serving", "modeling", "estimators"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text("")
    (package / "modeling" / "search.py").write_text("from autotab.config import x\n")
    (package / "serving" / "service.py").write_text("def answer():\n    from autotab.modeling import search\n")
    (package / "estimators" / "cleaner.py").write_text("import autotab.config\n")
    assert violations(tmp_path) == [
        "autotab.estimators.cleaner (estimators) -> autotab.config (base)",
        "autotab.serving.service (serving) -> autotab.modeling.search (modeling)",
    ]
