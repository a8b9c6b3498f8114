"""The comparison report's content from `dvc exp show --json` data: rows, columns, ranking, the page.

The real report (dvc, vega, a browser) is tested in tests/test_compare.py.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from autotab.errors import UserError
from autotab.reporting import comparison
from autotab.reporting.comparison import Row

METRICS = "reports/metrics.json"
SUMMARY = "reports/tuning/summary.json"


def state(rev: str, model: str, roc_auc: float | None, name: str | None = None, error: dict | None = None) -> dict:
    """One revision as `dvc exp show --json` writes it (DVC 3.67's ExpState)."""
    holdout = {"task": "binary", "primary_metric": "roc_auc", "roc_auc": roc_auc, "baseline": {"roc_auc": 0.5}}
    metrics = {
        METRICS: {"data": holdout},
        SUMMARY: {"data": {"n_trials": 3, "cv_search_best": roc_auc}},
    }
    data = {
        "rev": rev,
        "params": {"params.yaml": {"data": {"model": {"name": model, "C": 1.0}, "data": {"seed": 42}}}},
        "metrics": metrics if roc_auc is not None else {},
    }
    return {"rev": rev, "name": name, "data": data, "error": error, "experiments": None}


def exp_show(*experiments: dict, workspace_model: str = "hist_gradient_boosting", workspace_auc: float = 0.99) -> list:
    return [
        state("workspace", workspace_model, workspace_auc),
        {**state("a" * 40, "hist_gradient_boosting", 0.99, name="main"), "experiments": list(experiments)},
    ]


def experiment(name: str, model: str, roc_auc: float | None, executor_state: str | None = "success") -> dict:
    executor = {"state": executor_state, "name": None} if executor_state else None
    return {"revs": [state(name[0] * 40, model, roc_auc, name=name)], "executor": executor, "name": name}


def test_flatten_names_nested_keys_like_exp_show_and_keeps_lists():
    assert comparison.flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x"}) == {"a.b": 1, "a.c": [1, 2], "d": "x"}


def test_rows_are_the_workspace_the_baseline_and_each_experiment_with_its_state():
    shown = exp_show(
        experiment("knn", "knn", 0.98),
        experiment("queued-one", "svm", None, executor_state="queued"),
        experiment("broken", "mlp", None, executor_state="failed"),
        experiment("by-hand", "ridge", 0.97, executor_state=None),  # `dvc exp run` without the queue
    )
    rows = comparison.rows_from_exp_show(shown)
    assert [(r.name, r.kind, r.state) for r in rows] == [
        ("workspace", "workspace", "success"),
        ("main", "baseline", "success"),
        ("knn", "experiment", "success"),
        ("queued-one", "experiment", "queued"),
        ("broken", "experiment", "failed"),
        ("by-hand", "experiment", "success"),
    ]
    knn = rows[2]
    assert knn.params["model.name"] == "knn" and knn.metrics[METRICS]["baseline.roc_auc"] == 0.5


def test_an_experiment_that_recorded_an_error_is_failed():
    broken = experiment("oops", "knn", 0.9)
    broken["revs"][0]["error"] = {"msg": "stage failed", "type": "ReproductionError"}
    assert comparison.rows_from_exp_show(exp_show(broken))[-1].state == "failed"


def test_the_workspace_is_compared_only_when_it_is_not_a_copy_of_a_revision():
    knn = experiment("knn", "knn", 0.98)
    copy = comparison.rows_from_exp_show(exp_show(knn, workspace_model="knn", workspace_auc=0.98))
    assert comparison.plot_revisions(comparison.compared_rows(copy)) == ["main", "knn"]
    edited = comparison.rows_from_exp_show(exp_show(experiment("knn", "knn", 0.98), workspace_auc=0.5))
    assert comparison.plot_revisions(comparison.compared_rows(edited)) == ["workspace", "main", "knn"]


def test_a_workspace_that_does_not_load_is_listed_once_as_failed():
    shown = exp_show(experiment("knn", "knn", 0.98))
    shown[0]["error"] = {"msg": "params.yaml does not parse", "type": "YAMLError"}
    rows = comparison.compared_rows(comparison.rows_from_exp_show(shown))
    assert [(r.name, r.state) for r in rows] == [("main", "success"), ("knn", "success"), ("workspace", "failed")]


def test_unfinished_experiments_are_listed_but_not_plotted():
    shown = exp_show(experiment("knn", "knn", 0.98), experiment("later", "svm", None, executor_state="queued"))
    rows = comparison.compared_rows(comparison.rows_from_exp_show(shown))
    assert [r.name for r in rows] == ["main", "knn", "later"]  # the workspace is a copy of main
    assert comparison.plot_revisions(rows) == ["main", "knn"]


def test_no_experiments_yet_compares_the_committed_results_alone():
    rows = comparison.compared_rows(comparison.rows_from_exp_show(exp_show()))
    assert comparison.plot_revisions(rows) == ["main"]
    assert comparison.summary_line(rows, "roc_auc").startswith("0 experiments of HEAD yet")


def test_columns_are_every_holdout_metric_other_metrics_that_differ_then_params_that_differ():
    rows = comparison.compared_rows(comparison.rows_from_exp_show(exp_show(experiment("knn", "knn", 0.98))))
    labels = [(c.label, c.is_metric) for c in comparison.table_columns(rows)]
    # model.C and data.seed are the same everywhere; task and primary_metric are not numbers;
    # n_trials is the same in both summaries.
    assert labels == [
        ("roc_auc", True),
        ("baseline.roc_auc", True),
        ("summary.cv_search_best", True),
        ("model.name", False),
    ]


def test_ranking_puts_the_best_primary_metric_first_in_its_direction():
    def row(name: str, metric: str, value: float | None) -> Row:
        metrics = {METRICS: {"primary_metric": metric, metric: value}} if value is not None else {}
        return Row(name=name, kind="experiment", state="success" if value is not None else "queued", metrics=metrics)

    auc = [row("low", "roc_auc", 0.9), row("pending", "roc_auc", None), row("high", "roc_auc", 0.99)]
    assert comparison.primary_metric(auc) == "roc_auc"
    assert [r.name for r in comparison.ranked(auc, "roc_auc")] == ["high", "low", "pending"]
    loss = [row("worse", "log_loss", 0.4), row("better", "log_loss", 0.1)]
    assert [r.name for r in comparison.ranked(loss, "log_loss")] == ["better", "worse"]
    mixed = [row("binary", "roc_auc", 0.9), row("multiclass", "log_loss", 0.2)]
    assert comparison.primary_metric(mixed) is None and comparison.ranked(mixed, None) == mixed


def test_the_table_escapes_values_keeps_full_numbers_for_sorting_and_marks_the_best_row():
    rows = [
        Row("best", "experiment", "success", {"model.name": "<b>knn</b>"}, {METRICS: {"roc_auc": 0.98765432}}),
        Row("other", "experiment", "success", {"model.name": "svm"}, {}),
    ]
    columns = comparison.table_columns(rows)
    table = comparison.table_html(rows, columns, "roc_auc")
    assert "<b>knn</b>" not in table and "&lt;b&gt;knn&lt;/b&gt;" in table
    assert 'data-value="0.98765432">0.987654</td>' in table
    assert table.count('<tr class="best">') == 1 and '<tr class="best"><td>best' in table
    assert '<td class="missing">' in table  # "other" has no roc_auc


def test_the_page_inlines_the_scripts_in_order_and_leaves_dvc_only_the_plot_divs(tmp_path):
    bodies = ("var vega = 1;", "var vegaLite = 2;", "var vegaEmbed = 3;")
    for build, body in zip(comparison.VEGA_BUILDS, bodies, strict=True):
        path = tmp_path / build
        path.parent.mkdir(parents=True)
        path.write_text(f"{body}\n//# sourceMappingURL={path.name}.map\n")
    scripts = comparison.vega_scripts(tmp_path)
    assert not any("sourceMappingURL" in code for code in scripts)
    page = comparison.page_template("<table></table>", "2 experiments of HEAD.", ["main", "knn"], scripts)
    assert page.index("var vega = 1") < page.index("var vegaLite = 2") < page.index("var vegaEmbed = 3")
    assert page.index("var vegaEmbed = 3") < page.index("window.vegaEmbed = function")  # the wrapper needs it
    assert page.count("{plot_divs}") == 1 and "{scripts}" not in page  # so DVC adds no CDN tags
    assert not re.search(r"<(script|link)[^>]+(src|href)=", page)  # nothing is fetched


def test_missing_vega_builds_are_one_line_that_says_how_to_install_them(tmp_path):
    with pytest.raises(UserError, match=r"vega\.min\.js not found: run `make compare`"):
        comparison.vega_scripts(tmp_path)


def test_autotab_compare_without_vega_installed_exits_2_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "autotab.cli", "compare"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert result.stderr.startswith("autotab compare: error: vega/node_modules/vega/build/vega.min.js not found")
    assert not (tmp_path / "reports").exists()


def test_params_that_differ_come_shallow_keys_first():
    rows = [
        Row("a", "experiment", "success", {"model.name": "knn", "model.search_space.k.high": 30, "tune.n_trials": 3}),
        Row("b", "experiment", "success", {"model.name": "svm", "model.search_space.C.high": 9, "tune.n_trials": 3}),
    ]
    labels = [column.label for column in comparison.table_columns(rows)]
    assert labels == ["model.name", "model.search_space.C.high", "model.search_space.k.high"]  # n_trials is equal
