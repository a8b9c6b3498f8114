"""Ctrl-C in the middle of a stage: one line, exit 130, and what was done is kept for the rerun.

The stage runs in a copy of the built repository, in a process group of its own, and gets SIGINT
as a terminal's Ctrl-C delivers it: to every process of the group, its trial workers included.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys

import optuna
import pytest

from tests.support import built_clone, environment, run

pytestmark = pytest.mark.slow

STORAGE = "sqlite:///.optuna/studies.db"
TRIALS = 8


def test_ctrl_c_during_tune_says_so_in_one_line_exits_130_and_the_rerun_resumes(tmp_path_factory):
    repo = built_clone(tmp_path_factory, "interrupted")
    shutil.rmtree(repo / ".optuna")  # the built run's study: without it, the search starts afresh
    # A budget of 8 trials: interrupted after 3, the rerun resumes for the rest (30 would only take longer).
    params = repo / "params.yaml"
    assert "  n_trials: 30\n" in params.read_text()
    params.write_text(params.read_text().replace("  n_trials: 30\n", f"  n_trials: {TRIALS}\n", 1))
    tune = [sys.executable, "-m", "autotab.stages.tune"]
    process = subprocess.Popen(
        tune, cwd=repo, env=environment(), stderr=subprocess.PIPE, text=True, start_new_session=True,
        # A suite started in the background of a non-interactive shell inherits SIGINT ignored, and
        # Python then keeps ignoring it: the stage gets Ctrl-C's default, as in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    seen = []
    for line in process.stderr:
        seen.append(line)
        if sum(line.startswith("tune: trial ") for line in seen) == 3:
            break
    os.killpg(process.pid, signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=120) == 130, rest
    assert "Traceback" not in rest, rest
    last = rest.strip().splitlines()[-1]
    said = re.fullmatch(rf"autotab tune: interrupted: after (\d+) of {TRIALS} finished trials, kept in {STORAGE}; .*",
                        last)  # fmt: skip
    assert said, rest
    finished = int(said.group(1))

    (study,) = [
        optuna.load_study(study_name=summary.study_name, storage=f"sqlite:///{repo}/.optuna/studies.db")
        for summary in optuna.get_all_study_summaries(f"sqlite:///{repo}/.optuna/studies.db")
    ]
    states = [trial.state.name for trial in study.trials]
    assert "RUNNING" not in states, states  # what was running when it stopped is marked failed
    assert states.count("COMPLETE") + states.count("PRUNED") == finished >= 3

    resumed = run(tune, repo)
    assert f"({TRIALS - finished} run now" in resumed.stdout, resumed.stdout
