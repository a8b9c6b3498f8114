"""What the end-to-end tests share: a copy of the repository, commands run in it, a served Bento."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock

from autotab.config import FeaturesConfig
from tests.conftest import REPO

BIN = Path(sys.executable).parent
BENTO_OUT = "models/autotab.bento"
# The overrides of an experiment that checks the pipeline's plumbing rather than its model: a
# leaderboard of two cheap families (plus a pinned `model`), a three-trial search, and the folds
# fitted in the stage's own process (the results do not depend on it; two more processes importing
# the stack cost an experiment about 12 of its 77 CPU seconds, and the tests run two at a time).
# The committed config's full run is the session's build (`built_repository`), which the quality
# tests read.
QUICK = ["-S", "train.candidates=[logistic_regression,knn]", "-S", "tune.n_trials=3", "-S", "train.n_jobs=1"]
# The plain feature recipe the library-level tests build their Pipelines with.
FEATURES = FeaturesConfig(
    numeric_imputer="median", missing_indicator=False, scaler="standard", categorical_imputer="most_frequent"
)
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package, which .ci/run installs


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BENTOML_", "DVC_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        DVC_NO_ANALYTICS="1",
        BENTOML_DO_NOT_TRACK="true",
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
    )
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=environment(**env), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def copy_repository(destination: Path) -> None:
    """The files git would commit (tracked, plus new files not ignored), in a fresh git repo."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    run(["git", "init", "-q"], destination)
    run(["git", "add", "-A"], destination)
    run(["git", "commit", "-qm", "copy"], destination)


def built_copy(destination: Path) -> Path:
    """A copy of the repository with the whole pipeline run in it (`dvc repro --force`)."""
    copy_repository(destination)
    # --force: a fresh clone has the git-tracked metrics, so DVC would rightly skip the stages
    # that write only those; forcing every stage makes the reproduction check cover them all.
    result = run(["dvc", "repro", "--force"], destination)
    for stage in ("ingest", "clean", "features", "train", "tune", "evaluate", "refit", "package"):
        assert f"Running stage '{stage}'" in result.stdout
    return destination


def session_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This test run's temporary directory, shared by every pytest-xdist worker (each has its own
    base directory inside it); without xdist, the base directory itself."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole pipeline run once per test session in a copy of the repository (`built_copy`): by
    the first worker that needs it, while the others wait for it, unless `make test`'s controller
    already started it in the background (conftest.py).

    Tests only read it; a test that changes a repository works in its own `built_clone`."""
    return build_shared_repository(session_directory(tmp_path_factory))


def build_shared_repository(shared: Path) -> Path:
    """`shared`/built, built unless a finished build is there; a build that failed is retried."""
    repo, done = shared / "built", shared / "built.done"
    with FileLock(shared / "built.lock"):
        if not done.exists():
            shutil.rmtree(repo, ignore_errors=True)  # a build that failed half-way
            repo.mkdir()
            built_copy(repo)
            done.touch()
    return repo


def built_clone(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A workspace of one's own, without running the pipeline again: a copy of the session's built
    repository with its git history, DVC cache, Optuna studies and Bento store."""
    destination = tmp_path_factory.mktemp(name) / "repo"
    shutil.copytree(built_repository(tmp_path_factory), destination, symlinks=True)
    return destination


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(url: str, body: bytes, content_type: str = "application/json", timeout: float = 30) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


SERVERS: dict[str, subprocess.Popen] = {}  # each running `served_bento`'s `bentoml serve`, by its base URL


@contextlib.contextmanager
def served_bento(repo: Path, workdir: Path, *serve_args: str, configured_port: int | None = None) -> Iterator[str]:
    """The repo's exported Bento imported into an empty store under `workdir` and served on a free
    loopback port, or with no address flags at all on the host and port its own serve config names
    (`configured_port`); yields the base URL."""
    store, elsewhere = workdir / "store", workdir / "cwd"  # elsewhere: autotab can only come from the Bento
    store.mkdir(parents=True), elsewhere.mkdir(parents=True)
    tag = json.loads((repo / "models/bento.json").read_text())["tag"]
    run(["bentoml", "import", str(repo / BENTO_OUT)], elsewhere, BENTOML_HOME=str(store))
    port = configured_port or free_port()
    address = [] if configured_port else ["--host", "127.0.0.1", "--port", str(port)]
    log_path = elsewhere / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            ["bentoml", "serve", tag, *address, *serve_args],
            cwd=elsewhere,
            env=environment(BENTOML_HOME=str(store)),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                assert process.poll() is None, log_path.read_text()
                try:
                    with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:  # refused, reset or timed out while the server starts
                    time.sleep(0.5)
            else:
                raise AssertionError("server not ready in 90 s:\n" + log_path.read_text())
            SERVERS[base] = process
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def require(path: Path, how: str) -> None:
    """CI installs it, so there a missing one is a failure; elsewhere a skip that says how to get it."""
    if path.exists():
        return
    message = f"{path} not found: {how}"
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(message)
    pytest.skip(message)


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    """Headless Chromium with no network but loopback: every other connection goes to a closed proxy
    and no name resolves (a resolver rule without the EXCLUDE would block 127.0.0.1 too)."""
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=30000",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return result
