import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
BACKGROUND_BUILD: list[subprocess.Popen] = []


@pytest.hookimpl(trylast=True)  # after the tmp_path plugin's, which gives the base directory
def pytest_configure(config: pytest.Config) -> None:
    """`make test`'s controller builds the session's repository in the background at once. Left to the
    first worker that needs it, the build (a minute or more) ran while the other worker, waiting for
    it, did nothing; this way both run tests meanwhile, and the build has the third process.

    Only for the whole suite on xdist workers: a partial run may need no build at all (the workers
    still build it if they get there first, or if this build failed)."""
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        return
    if config.args_source != pytest.Config.ArgsSource.TESTPATHS or config.option.markexpr or config.option.keyword:
        return
    shared = config._tmp_path_factory.getbasetemp()  # the workers' base directories are inside it
    log = (shared / "built.log").open("w")
    script = "import sys; from pathlib import Path; from tests.support import build_shared_repository as build; "
    BACKGROUND_BUILD.append(
        subprocess.Popen(
            [sys.executable, "-c", script + "build(Path(sys.argv[1]))", str(shared)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    )


# pytest-xdist hands the test files out in collection order, one at a time to whichever worker is
# free (`--dist loadfile --no-loadscope-reorder`). Alphabetically, the slowest files came last, and
# one worker ran them alone while the other had finished; its own reordering (by number of tests)
# put them last too. So the slowest go first: while the controller builds the shared repository,
# those that do not read it; then those that do; then the rest in file order. The list is a hint
# (measured file times): a file missing from it only runs later.
SLOWEST_FIRST = [
    "test_budget.py", "test_wide_table.py", "test_selection.py", "test_add_data.py",  # no shared build
    "test_versioning.py", "test_compare.py", "test_distributed.py", "test_end_to_end.py", "test_serving.py",
    "test_batch_predict.py", "test_interrupts.py",  # these read the shared build
    "test_distributed_fit.py", "test_cleaning_properties.py", "test_backends.py", "test_composition.py",
]  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its order


def pytest_unconfigure(config: pytest.Config) -> None:
    for process in BACKGROUND_BUILD:  # a run stopped early: the build and its dvc children go too
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait()


@pytest.fixture
def messy_frame() -> pd.DataFrame:
    """A small raw table as a user might bring it: markers, numeric text, an id, a constant."""
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{i:04d}" for i in range(n)],
            "age": rng.integers(20, 80, n),
            "dose": [f" {v:.1f} " for v in rng.normal(5, 1, n)],
            "smoker": rng.choice(["yes", "no"], n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "site": ["north"] * n,
            "outcome": rng.choice(["good", "bad"], n),
        }
    )
    frame.loc[[3, 7], "dose"] = "?"
    frame.loc[[5], "colour"] = "NA"
    return frame
