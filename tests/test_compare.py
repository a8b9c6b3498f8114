"""A queued sweep of two models in a temporary copy of the repository, then the comparison report
opened in headless Chromium with the network off: every plot must render from the inlined vega.

Needs /usr/bin/chromium (Debian's chromium) and vega/node_modules (`make vega`); `.ci/run` installs
both. In CI (CI=true) a missing one fails the tests; elsewhere they are skipped, saying why.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shlex
import struct
import sys
import termios
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from dvc_render.base import Renderer

from tests.conftest import REPO
from tests.support import CHROMIUM, built_clone, chromium, environment, require, run

pytestmark = pytest.mark.slow

SWEEP = ["logistic_regression", "random_forest"]
VEGA_MODULES = REPO / "vega/node_modules"
ARTIFACTS = REPO / "reports/compare"  # kept after the run: CI uploads them
QUEUE_TIMEOUT_S = 1800


def wait_for_queue(repo: Path) -> None:
    """Poll `dvc queue status` until nothing is queued or running; a failed task fails with its log."""
    deadline = time.monotonic() + QUEUE_TIMEOUT_S
    while True:
        status = run(["dvc", "queue", "status"], repo).stdout
        tasks = [line for line in status.splitlines()[1:] if line.strip() and not line.startswith("Worker")]
        states = [line.split()[-1] for line in tasks]
        if "Failed" in states:
            name = next(line.split()[1] for line in status.splitlines() if line.endswith("Failed"))
            raise AssertionError(f"{status}\n{run(['dvc', 'queue', 'logs', name], repo, check=False).stdout}")
        if states and not {"Queued", "Running"} & set(states):
            return
        if time.monotonic() > deadline:
            worker_logs = "\n".join(p.read_text() for p in (repo / ".dvc/tmp/exps/celery").glob("*.out"))
            raise AssertionError(f"the queue did not finish in {QUEUE_TIMEOUT_S} s:\n{status}\n{worker_logs}")
        time.sleep(5)


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    """The built copy with a queued sweep of two models run by `dvc queue start`: 3 trials each, and
    a leaderboard of those two families only, to keep the test short."""
    repo = built_clone(tmp_path_factory, "compare")
    families = ",".join(SWEEP)
    sweep = ["-S", f"model={families}", "-S", f"train.candidates=[{families}]", "-S", "tune.n_trials=3"]
    sweep += ["-S", "train.n_jobs=1"]  # as QUICK: the folds in the stage's own process
    run(["dvc", "exp", "run", "--queue", *sweep], repo)
    run(["dvc", "queue", "start", "-j", "1"], repo)
    wait_for_queue(repo)
    return repo


def experiments_of_head(repo: Path) -> tuple[dict, dict]:
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    baseline = next(commit for commit in shown if commit["rev"] != "workspace")
    return baseline, {exp["name"]: exp for exp in baseline["experiments"] or []}


def flat_keys(tree: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in tree.items():
        keys |= flat_keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
    return keys


def test_a_queued_sweep_runs_both_models_and_exp_show_lists_them_with_every_metric(swept):
    baseline, experiments = experiments_of_head(swept)
    assert len(experiments) == 2, experiments.keys()
    baseline_metrics = baseline["data"]["metrics"]
    models = set()
    for name, exp in experiments.items():
        assert exp["executor"]["state"] == "success", name
        (data,) = [rev["data"] for rev in exp["revs"]]
        params = data["params"]["params.yaml"]["data"]
        models.add(params["model"]["name"])
        assert params["tune"]["n_trials"] == 3
        # every metrics file with every metric the committed run has, each a number where it is one there
        assert data["metrics"].keys() == baseline_metrics.keys(), name
        for source, result in data["metrics"].items():
            assert flat_keys(result["data"]) == flat_keys(baseline_metrics[source]["data"]), (name, source)
        holdout = data["metrics"]["reports/metrics.json"]["data"]
        assert 0.9 <= holdout["roc_auc"] <= 1 and holdout["roc_auc_ci95_low"] <= holdout["roc_auc"]
        assert data["metrics"]["reports/tuning/summary.json"]["data"]["n_trials"] == 3
    assert models == set(SWEEP)


# `less -RS` as a pager that prints what a terminal of COLUMNS shows: colours dropped, lines chopped
LESS_CHOPPED = (
    "import os, re, sys; width = int(os.environ['COLUMNS']); "
    "[print(re.sub(r'\\x1b\\[[0-9;?]*[a-zA-Z]', '', line.rstrip('\\n'))[:width]) "
    "for line in open(sys.argv[1], encoding='utf-8')]"
)


def in_a_terminal(args: list[str], cwd: Path, columns: int) -> str:
    """What `args` shows in a terminal `columns` wide: a pseudo-terminal of that size, and as DVC's
    pager (`less -S` by default, which chops each line at the terminal's edge) one that does the same."""
    pager = f"{shlex.quote(sys.executable)} -c {shlex.quote(LESS_CHOPPED)}"
    pid, fd = pty.fork()
    if pid == 0:  # the child: its standard streams are the pseudo-terminal
        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
        os.chdir(cwd)
        os.execvpe(args[0], args, environment(DVC_PAGER=pager, COLUMNS=str(columns)))
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child has closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode().replace("\r\n", "\n")


HEADLINE = ("data", "model", "roc_auc")


def test_plain_exp_show_in_a_120_column_terminal_leads_with_data_model_and_the_primary_metric(swept):
    shown = in_a_terminal(["dvc", "exp", "show"], swept, columns=120)
    header, *rows = [line for line in shown.splitlines() if line.strip() and set(line.strip()) != {"─"}]
    # after the experiment's name, time and (for queued ones) state: the headline, in this order
    headline = [word for word in header.split() if word not in ("State", "Executor")][:5]
    assert headline == ["Experiment", "Created", *HEADLINE], shown
    experiments = [line for line in rows if line.lstrip().startswith(("├──", "└──"))]
    assert len(experiments) == len(SWEEP), shown
    models = set()
    for line in experiments:  # metrics are right-aligned under their header: each cell whole, not "…"
        data, model, score = (line[: header.index(name) + len(name)].split()[-1] for name in HEADLINE)
        assert data == "breast_biopsy" and 0.9 <= float(score) <= 1, shown
        models.add(model.removeprefix("tuned_"))
    assert models == set(SWEEP), shown


class PlotDivs(HTMLParser):
    """From a rendered DOM: each plot div's outcome, its data marks and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.plots: dict[str, dict] = {}
        self.current: str | None = None
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if self.current is None and tag == "div" and "data-plot" in attributes:
            self.current = attributes["id"]
            self.plots[self.current] = {"outcome": attributes["data-plot"], "svg": 0, "marks": 0, "text": ""}
        if self.current is None:
            return
        plot = self.plots[self.current]
        self.depth += tag == "div"
        plot["svg"] += tag == "svg"
        plot["marks"] += "role-mark" in (attributes.get("class") or "").split()  # data, not axes or legends

    def handle_endtag(self, tag: str) -> None:
        if self.current is not None and tag == "div":
            self.depth -= 1
            if self.depth == 0:
                self.current = None

    def handle_data(self, data: str) -> None:
        if self.current is not None:
            self.plots[self.current]["text"] += data + "\n"


def test_the_network_is_really_off_for_the_browser(tmp_path):
    require(CHROMIUM, "install Debian's chromium (`apt-get install chromium`; .ci/run does)")
    page = tmp_path / "cdn.html"
    page.write_text(
        '<html><body><script src="https://cdn.jsdelivr.net/npm/vega@5.20.2"></script>'
        "<script>document.body.dataset.vega = typeof vega;</script></body></html>"
    )
    dom = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile").stdout
    assert 'data-vega="undefined"' in dom  # what DVC's own page gets here: no vega, no plots


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", header[16:24])


@pytest.fixture(scope="module")
def report(swept) -> Path:
    """`autotab compare` (what `make compare` runs once npm has installed vega/) in the swept copy."""
    require(VEGA_MODULES, "run `make vega` (npm ci in vega/; .ci/run does)")
    (swept / "vega/node_modules").symlink_to(VEGA_MODULES)
    printed = run(["autotab", "compare"], swept).stdout
    path = swept / "reports/compare/index.html"
    assert f"{path.relative_to(swept)}: 3 revision(s) compared" in printed, printed  # HEAD and the sweep
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "index.html").write_text(path.read_text())
    return path


def test_the_comparison_report_renders_every_plot_with_the_network_off(swept, report, tmp_path):
    require(CHROMIUM, "install Debian's chromium (`apt-get install chromium`; .ci/run does)")
    markup = re.sub(r"<script(?![^>]*\bsrc)[^>]*>.*?</script>", "", report.read_text(), flags=re.S)  # inline code
    assert "<script" not in markup and not re.search(r"\b(src|href)=", markup)  # nothing to fetch
    baseline, experiments = experiments_of_head(swept)
    revisions = [baseline["name"], *experiments]
    dom = chromium("--dump-dom", report.as_uri(), profile=tmp_path / "profile").stdout
    parser = PlotDivs()
    parser.feed(dom)
    declared = yaml.safe_load((swept / "dvc.yaml").read_text())["plots"]
    assert len(parser.plots) == len(declared)
    for plot in declared:
        ((name, spec),) = plot.items()
        rendered = parser.plots[Renderer.remove_special_chars(name)]
        has_data = any(len((swept / path).read_text().splitlines()) > 1 for path in spec["y"])
        if not has_data:  # a regression plot: the built-in task is binary, in every revision
            assert rendered["outcome"] == "no-data", name
            continue
        assert rendered["outcome"] == "rendered", (name, rendered["text"])
        assert rendered["svg"] == 1 and rendered["marks"] >= 1, (name, rendered)
        for revision in revisions:  # overlaid (or faceted) across every revision, named in the legend
            assert f"\n{revision}\n" in f"\n{rendered['text']}", (name, revision)

    screenshot = ARTIFACTS / "screenshot.png"
    screenshot.unlink(missing_ok=True)
    chromium(
        "--hide-scrollbars",
        "--window-size=1600,3000",
        f"--screenshot={screenshot}",
        report.as_uri(),
        profile=tmp_path / "profile-screenshot",
    )
    assert png_size(screenshot) == (1600, 3000) and screenshot.stat().st_size > 100_000


SORT_DRIVER = """<script>
window.addEventListener("load", function () {
  var table = document.getElementById("experiments");
  var header = Array.prototype.find.call(table.tHead.rows[0].cells, function (th) {
    return th.textContent === "log_loss";
  });
  function order() {
    return Array.prototype.map.call(table.tBodies[0].rows, function (row) {
      return row.cells[0].firstChild.textContent.trim();
    }).join(",");
  }
  header.click();
  document.body.dataset.ascending = order();
  header.click();
  document.body.dataset.descending = order();
});
</script>
</body>"""


def test_the_experiment_table_sorts_on_a_header_click(swept, report, tmp_path):
    require(CHROMIUM, "install Debian's chromium (`apt-get install chromium`; .ci/run does)")
    driven = tmp_path / "driven.html"
    driven.write_text(report.read_text().replace("</body>", SORT_DRIVER))
    dom = chromium("--dump-dom", driven.as_uri(), profile=tmp_path / "profile").stdout
    baseline, experiments = experiments_of_head(swept)
    losses = {baseline["name"]: baseline["data"]["metrics"]["reports/metrics.json"]["data"]["log_loss"]}
    for name, exp in experiments.items():
        losses[name] = exp["revs"][0]["data"]["metrics"]["reports/metrics.json"]["data"]["log_loss"]
    # Revisions with the same loss (a pinned family that keeps the same defaults as HEAD) may come
    # in either order: the check is on the values, every revision listed once.
    ascending = re.search(r'data-ascending="([^"]*)"', dom).group(1).split(",")
    descending = re.search(r'data-descending="([^"]*)"', dom).group(1).split(",")
    assert sorted(ascending) == sorted(descending) == sorted(losses)
    assert [losses[name] for name in ascending] == sorted(losses.values())
    assert [losses[name] for name in descending] == sorted(losses.values(), reverse=True)
