"""`autotab add-data`: bring your own table. Check it reads as ingest will read it, copy it under
data/raw/, track it with DVC, and write its conf/data/ option from the template.

Everything is checked before anything is written; the copy and the config are written atomically,
and the copy is removed again if `dvc add` fails.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml
from pydantic import ValidationError

from autotab.config import DataConfig, load_config
from autotab.data import leakage
from autotab.data.row_cleaning import min_class_rows
from autotab.errors import UserError
from autotab.tables import atomic_path, read_table, table_suffix, write_atomic

RAW_DIR = Path("data/raw")
DATA_CONF_DIR = Path("conf/data")
TEMPLATE = DATA_CONF_DIR / "template.yaml.example"
# A Hydra option name and a file name on every system: no dots, dashes or spaces.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")


def default_name(path: Path) -> str:
    """The file's name without its extension as a safe name: `Sales Data 2024.csv.gz` -> `sales_data_2024`."""
    suffix = table_suffix(path)
    stem = Path(path).name[: -len(suffix)] if suffix else Path(path).name
    name = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")
    return name if name[:1].isalpha() else f"data_{name}".rstrip("_")


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise UserError(
            f"--name {name!r}: use lowercase letters, digits and _ only, starting with a letter (e.g. sales_2024)"
        )
    return name


def check_target(columns: list[str], target: str, path: Path) -> None:
    if target in columns:
        return
    close = difflib.get_close_matches(target, columns, n=3, cutoff=0.6)
    close += [c for c in columns if c.lower() == target.lower() and c not in close]
    hint = f"did you mean {', '.join(map(repr, close))}?" if close else f"columns: {', '.join(columns[:20])}"
    if not close and len(columns) > 20:
        hint += f", ... ({len(columns)} in all)"
    raise UserError(f"{path}: no column {target!r} for --target; {hint}")


def render_config(template: str, values: dict[str, str]) -> str:
    """The template with `key: value` lines replaced for `values`, comments kept.

    Values are written as JSON strings (valid YAML), so a column name with spaces, colons or quotes
    survives; the result is parsed back and checked against the data schema.
    """
    pattern = re.compile(r"^(?P<key>[a-z_]+):(?P<value>[^#\n]*?)(?P<comment>\s+#.*)?$")
    lines, seen = [], set()
    for line in template.splitlines():
        match = pattern.match(line)
        if match and match["key"] in values:
            key = match["key"]
            seen.add(key)
            line = f"{key}: {json.dumps(values[key])}{match['comment'] or ''}"
        lines.append(line)
    missing = set(values) - seen
    if missing:
        raise UserError(f"{TEMPLATE}: no line for {', '.join(sorted(missing))}; restore it from git")
    text = "\n".join(lines) + "\n"
    loaded = yaml.safe_load(text)
    try:
        DataConfig(**loaded)
    except ValidationError as error:
        first = error.errors()[0]
        raise UserError(f"{TEMPLATE}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    assert all(loaded[k] == v for k, v in values.items()), "the template rendered other values than asked"
    return text


@dataclass(frozen=True)
class Plan:
    """What add-data will do, decided before it writes anything."""

    source: Path
    data: Path  # under data/raw/, relative to the repository root
    config: Path
    config_text: str
    move: bool
    table: pd.DataFrame  # as ingest will read it

    @property
    def copies(self) -> bool:
        return self.source.resolve() != self.data.resolve()


def tracked_by_git(path: Path) -> bool:
    result = subprocess.run(["git", "ls-files", "--error-unmatch", str(path)], capture_output=True)
    return result.returncode == 0


def plan(source: Path, target: str, name: str | None, task: str, move: bool, force: bool) -> Plan:
    source = Path(source)
    if not source.is_file():
        raise UserError(f"{source}: file not found")
    name = check_name(name if name is not None else default_name(source))
    frame = read_table(source)  # the ingest stage's reader: the same errors, before anything is copied
    check_target(list(frame.columns), target, source)
    data = RAW_DIR / f"{name}{table_suffix(source)}"  # the extension tells ingest the format
    config = DATA_CONF_DIR / f"{name}.yaml"
    if tracked_by_git(data):
        raise UserError(f"{data} is committed to git, so DVC cannot track it: choose another --name")
    if not force:
        if data.exists() and data.resolve() != source.resolve():
            raise UserError(f"{data} already exists: choose another --name, or --force to replace it")
        if config.exists():
            raise UserError(f"{config} already exists: choose another --name, or --force to replace it")
    values = {"name": name, "path": data.as_posix(), "target": target, "task": task}
    return Plan(source, data, config, render_config(TEMPLATE.read_text(), values), move, frame)


def dvc_add(path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "dvc", "add", "--quiet", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        raise UserError(f"dvc add {path} failed: {lines[-1] if lines else f'exit code {result.returncode}'}")


def apply(step: Plan) -> None:
    if step.copies:
        existed = step.data.exists()
        with atomic_path(step.data) as tmp:
            shutil.copyfile(step.source, tmp)
        try:
            dvc_add(step.data)
        except UserError:
            if not existed:
                step.data.unlink(missing_ok=True)
            raise
        if step.move:
            step.source.unlink()
    else:
        dvc_add(step.data)
    write_atomic(step.config, lambda tmp: tmp.write_text(step.config_text))


def add_data(source: Path, target: str, name: str | None, task: str, move: bool, force: bool) -> None:
    if not (Path("dvc.yaml").is_file() and TEMPLATE.is_file()):
        raise UserError("run `autotab add-data` from the root of the autotab repository (where dvc.yaml is)")
    step = plan(source, target, name, task, move, force)
    apply(step)
    option = step.config.stem
    dvc_file = step.data.with_name(step.data.name + ".dvc")
    done = ("moved" if step.move else "copied") if step.copies else "in place"
    print(f"{step.data}: {done} from {step.source}, tracked by DVC ({dvc_file})")
    print(f"{step.config}: written (target {target!r}, task {task}); review drop, group and positive_label")
    print(leakage_preview(step))
    print("Next:")
    print(f"  git add {dvc_file} {step.data.parent / '.gitignore'} {step.config}")
    print(f"  dvc exp run -S data={option}")
    print(f"  git add contracts/{option}.json   # written by the first run: the data contract, committed")


def leakage_preview(step: Plan) -> str:
    """The clean stage's leakage checks on the new table, with the new option's data settings and
    the current clean and train settings: what to fix in its config before the first run."""
    try:
        config = load_config()
        data = DataConfig(**yaml.safe_load(step.config_text))
        report = leakage.check_table(step.table, data=data, clean=config.clean, n_folds=config.train.folds)
    except UserError as error:  # the first run says the same, and stops there
        return f"leakage checks: not run on this table yet: {error}"
    lines = [leakage.summary(report).replace("  leakage checks (reports/leakage.json)", "leakage checks", 1)]
    if report["classes_dropped"]:
        rare = ", ".join(f"{label!r} ({n})" for label, n in report["classes_dropped"].items())
        _, setting = min_class_rows(config.clean, test_size=data.test_size, n_folds=config.train.folds)
        lines.append(f"  the first run will drop rare classes (fewer than {setting}; the model will never "
                     f"predict them; clean.rare_classes): {rare}")  # fmt: skip
    if report["positive"] is not None and data.positive_label is None:
        lines.append(f"  positive class: {report['positive']!r}, the last of the two in sorted order: ROC AUC, "
                     f"PR AUC and F1 score it; set positive_label in {step.config} if the class to find "
                     "is the other")  # fmt: skip
    if report["shortcut_columns"]:
        lines.append(f"  the first run will stop on {', '.join(report['shortcut_columns'])} unless "
                     "clean.allow_leaks is true or data.drop lists it")  # fmt: skip
    return "\n".join(lines)
