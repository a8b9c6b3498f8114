"""The experiment comparison report: one self-contained HTML page that renders with no network.

`dvc exp show --json` lists HEAD, the workspace and every experiment of HEAD with their params and
metrics; the page gets a sortable table of the params that differ and the metrics, best first by the
primary metric. `dvc plots diff` then overlays each plot declared in dvc.yaml across those revisions
through `--html-template`: DVC's own page loads vega from a CDN, this template inlines vega,
vega-lite and vega-embed from the npm packages in `vega/` (installed by `npm ci`, see `make compare`).
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from autotab import paths
from autotab.errors import UserError
from autotab.metrics import LARGER_IS_BETTER

REPORT_DIR = Path("reports/compare")
VEGA_MODULES = Path("vega/node_modules")
# The UMD builds, in load order: each defines a global the next one needs (vega, vegaLite, vegaEmbed).
VEGA_BUILDS = ("vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js", "vega-embed/build/vega-embed.min.js")
SUCCESS = "success"


@dataclass(frozen=True)
class Row:
    """One revision of `dvc exp show`: the workspace, the baseline commit or an experiment."""

    name: str  # what `dvc plots diff` is given and what its legends say
    kind: str  # workspace, baseline or experiment
    state: str  # success, or the queue's state: queued, running, failed...
    params: dict[str, Any] = field(default_factory=dict)  # "model.name" -> value
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # metrics file -> "key.sub" -> value


@dataclass(frozen=True)
class Column:
    label: str
    source: str  # the params or metrics file
    key: str
    is_metric: bool


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys, the way `dvc exp show` names its columns; lists stay values."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _files(results: dict | None) -> dict[str, dict[str, Any]]:
    """{file: {"data": ...}} from exp show, flattened; files that failed to load are left out."""
    return {name: flatten(result["data"]) for name, result in (results or {}).items() if "data" in result}


def _row(state: dict, name: str, kind: str, run_state: str) -> Row:
    data = state.get("data") or {}
    if state.get("error") and run_state == SUCCESS:
        run_state = "failed"
    params = {
        key if source == str(paths.PARAMS) else f"{source}:{key}": value
        for source, flat in _files(data.get("params")).items()
        for key, value in flat.items()
    }
    return Row(name=name, kind=kind, state=run_state, params=params, metrics=_files(data.get("metrics")))


def rows_from_exp_show(shown: list[dict]) -> list[Row]:
    """The revisions `dvc exp show --json` lists: the workspace, each baseline commit, its experiments."""
    rows = []
    for commit in shown:
        if commit["rev"] == "workspace":
            rows.append(_row(commit, "workspace", "workspace", SUCCESS))
            continue
        rows.append(_row(commit, commit.get("name") or commit["rev"][:7], "baseline", SUCCESS))
        for experiment in commit.get("experiments") or []:
            first = experiment["revs"][0]
            executor = experiment.get("executor") or {}
            name = experiment.get("name") or first.get("name") or first["rev"][:7]
            rows.append(_row(first, name, "experiment", executor.get("state") or SUCCESS))
    return rows


def _same_results(a: Row, b: Row) -> bool:
    return a.params == b.params and a.metrics == b.metrics


def compared_rows(rows: list[Row]) -> list[Row]:
    """The rows worth a table line and a plot line: every finished revision, the workspace only
    when it is not a copy of one of them (after `dvc exp run` it holds the last experiment)."""
    finished = [row for row in rows if row.state == SUCCESS and row.kind != "workspace"]
    workspaces = [row for row in rows if row.kind == "workspace" and row.state == SUCCESS]
    fresh = [w for w in workspaces if not any(_same_results(w, row) for row in finished)]
    unfinished = [row for row in rows if row.state != SUCCESS]
    return fresh + finished + unfinished


def plot_revisions(rows: list[Row]) -> list[str]:
    return [row.name for row in rows if row.state == SUCCESS]


def _differs(rows: list[Row], value_of) -> bool:
    return len({json.dumps(value_of(row), sort_keys=True, default=str) for row in rows}) > 1


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def table_columns(rows: list[Row]) -> list[Column]:
    """Every numeric holdout metric (the primary metrics file), the numeric metrics of other files
    where they differ, then the params that differ between the finished rows."""
    finished = [row for row in rows if row.state == SUCCESS]
    columns = []
    sources = sorted({source for row in finished for source in row.metrics}, key=lambda s: s != str(paths.METRICS))
    for source in sources:
        keys = [
            key
            for key in dict.fromkeys(k for row in finished for k in row.metrics.get(source, {}))
            if any(_is_number(row.metrics.get(source, {}).get(key)) for row in finished)
        ]
        holdout = source == str(paths.METRICS)
        for key in keys:
            if holdout or _differs(finished, lambda row, s=source, k=key: row.metrics.get(s, {}).get(k)):
                columns.append(Column(key if holdout else f"{Path(source).stem}.{key}", source, key, True))
    # Shallow keys first: model.name before model.search_space.C.high.
    params = sorted({key for row in finished for key in row.params}, key=lambda key: (key.count("."), key))
    columns += [
        Column(key, str(paths.PARAMS), key, False)
        for key in params
        if _differs(finished, lambda row, key=key: row.params.get(key))
    ]
    return columns


def primary_metric(rows: list[Row]) -> str | None:
    """The primary metric the holdout metrics file names, if the finished rows agree on one."""
    named = {row.metrics.get(str(paths.METRICS), {}).get("primary_metric") for row in rows if row.state == SUCCESS}
    named.discard(None)
    return named.pop() if len(named) == 1 else None


def ranked(rows: list[Row], metric: str | None) -> list[Row]:
    """Best first by the primary metric; rows without it (unfinished ones) keep their order after."""
    if metric is None or metric not in LARGER_IS_BETTER:
        return rows

    def score(row: Row) -> float | None:
        value = row.metrics.get(str(paths.METRICS), {}).get(metric)
        return value if _is_number(value) else None

    scored = [row for row in rows if score(row) is not None]
    scored.sort(key=score, reverse=LARGER_IS_BETTER[metric])
    return scored + [row for row in rows if score(row) is None]


def _cell(value: Any) -> str:
    if value is None:
        return '<td class="missing">–</td>'
    if _is_number(value):
        return f'<td class="number" data-value="{value!r}">{html.escape(f"{value:.6g}")}</td>'
    text = value if isinstance(value, str) else json.dumps(value)
    return f"<td>{html.escape(text)}</td>"


def table_html(rows: list[Row], columns: list[Column], metric: str | None) -> str:
    head = ['<th data-type="text">experiment</th>', '<th data-type="text">state</th>']
    for column in columns:
        kind = "metric" if column.is_metric else "param"
        title = html.escape(f"{column.source}: {column.key}", quote=True)
        label = html.escape(column.label)
        head.append(f'<th class="{kind}" title="{title}">{label}</th>')
    body = []
    for position, row in enumerate(rows):
        best = ' class="best"' if metric and position == 0 and row.state == SUCCESS else ""
        cells = [f"<td>{html.escape(row.name)} <small>{row.kind}</small></td>", f"<td>{html.escape(row.state)}</td>"]
        for column in columns:
            source = row.metrics.get(column.source, {}) if column.is_metric else row.params
            cells.append(_cell(source.get(column.key)))
        body.append(f"<tr{best}>{''.join(cells)}</tr>")
    return f'<table id="experiments"><thead><tr>{"".join(head)}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def vega_scripts(modules: Path = VEGA_MODULES) -> list[str]:
    """The vega builds' code, ready to sit inside <script> tags (no source map to fetch)."""
    scripts = []
    for build in VEGA_BUILDS:
        path = modules / build
        if not path.is_file():
            raise UserError(f"{path} not found: run `make compare` (it installs vega/ with `npm ci`)")
        lines = path.read_text(encoding="utf8").splitlines()
        code = "\n".join(line for line in lines if not line.startswith("//# sourceMappingURL="))
        scripts.append(code.replace("</script", "<\\/script"))
    return scripts


# The page around DVC's plot divs: a template file beside this module (DVC fills {plot_divs}; the
# __NAME__ placeholders are filled here).
PAGE = resources.files("autotab.reporting").joinpath("comparison.html").read_text(encoding="utf-8")


def page_template(table: str, summary: str, revisions: list[str], scripts: list[str]) -> str:
    """The --html-template for `dvc plots diff`: DVC replaces {plot_divs} and nothing else here,
    as the template has no {scripts} placeholder (that one would add the CDN tags)."""
    parts = {
        "__SUMMARY__": html.escape(summary),
        "__TABLE__": table,
        "__METRICS_FILE__": html.escape(str(paths.METRICS)),
        "__REVISIONS__": html.escape(", ".join(revisions)),
        "__SCRIPTS__": "\n".join(f"<script>\n{code}\n</script>" for code in scripts),
    }
    page = PAGE
    for placeholder, value in parts.items():
        page = page.replace(placeholder, value)  # the scripts go in last: nothing is replaced inside them
    return page


def _dvc(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        raise UserError(f"`dvc {' '.join(args)}` failed: {lines[-1] if lines else f'exit {result.returncode}'}")
    return result.stdout


def summary_line(rows: list[Row], metric: str | None) -> str:
    experiments = sum(row.kind == "experiment" for row in rows)
    text = f"{experiments} experiment{'s' if experiments != 1 else ''} of HEAD"
    if experiments == 0:
        text += " yet (run some with `dvc exp run`); the committed results and the workspace"
    if metric:
        best = ranked([row for row in rows if row.state == SUCCESS], metric)
        if best and metric in LARGER_IS_BETTER:
            value = best[0].metrics[str(paths.METRICS)][metric]
            text += f". Best holdout {metric}: {best[0].name} ({value:.6g})"
    return text + "."


def write_report(out_dir: Path = REPORT_DIR, modules: Path = VEGA_MODULES) -> tuple[Path, list[str]]:
    """Write `out_dir/index.html`, replacing it whole; returns it and the revisions compared."""
    scripts = vega_scripts(modules)
    rows = compared_rows(rows_from_exp_show(json.loads(_dvc("exp", "show", "--json"))))
    metric = primary_metric(rows)
    rows = ranked(rows, metric)
    revisions = plot_revisions(rows)
    table = table_html(rows, table_columns(rows), metric)
    template = page_template(table, summary_line(rows, metric), revisions, scripts)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".tmp-") as tmp:
        template_path = Path(tmp).resolve() / "template.html"
        template_path.write_text(template, encoding="utf8")
        plots_dir = Path(tmp).resolve() / "plots"
        # Given one revision, `dvc plots diff` adds the workspace; given it twice, it shows it once.
        compared = revisions * 2 if len(revisions) == 1 else revisions
        _dvc("plots", "diff", *compared, "--html-template", str(template_path), "-o", str(plots_dir))
        index = out_dir / "index.html"
        os.replace(plots_dir / "index.html", index)
    return index, revisions
