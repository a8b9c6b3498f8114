"""The `autotab` command's own user errors: one line, exit 2, no traceback."""

import json
import socket
import subprocess
import sys
from pathlib import Path


def autotab(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autotab.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_serve_on_a_busy_port_says_so_in_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        (tmp_path / "models").mkdir()
        (tmp_path / "models/bento.json").write_text(json.dumps({"tag": "autotab:x", "host": "127.0.0.1", "port": port}))
        result = autotab("serve", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"autotab serve: error: cannot serve on 127.0.0.1:{port}: Address already in use; stop what is "
        "using it, or pick another port: `autotab serve --port N` (or serve.port)"
    )


def test_serve_before_the_pipeline_ran_says_what_to_do(tmp_path):
    result = autotab("serve", cwd=tmp_path)
    assert result.returncode == 2 and "run the pipeline first (`make run`)" in result.stderr


def test_predict_outside_the_repository_says_to_run_it_in_the_root(tmp_path):
    (tmp_path / "in.csv").write_text("a\n1\n")
    result = autotab("predict", "in.csv", "out.csv", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "root of its repository (where dvc.yaml is)" in result.stderr.strip().splitlines()[-1], result.stderr


def test_the_printed_serve_command_names_this_environments_bentoml(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "reports").mkdir()
    (tmp_path / "models/bento.json").write_text(json.dumps({"tag": "autotab:x", "host": "127.0.0.1", "port": 3000}))
    (tmp_path / "reports/metrics.json").write_text(json.dumps({"roc_auc": 0.99}))
    result = autotab("summary", cwd=tmp_path)
    command = result.stdout.strip().splitlines()[-1].split()
    assert command[2:4] == ["serve", "autotab:x"], result.stdout
    assert Path(command[1]).name == "bentoml" and Path(command[1]).is_file()  # works without the venv active
