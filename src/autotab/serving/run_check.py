"""Whether the model and the data contract in the workspace belong to the same run.

A `dvc exp run -S data=X` that fails or is interrupted after `clean` leaves a half-switched workspace:
`params.yaml` and `contracts/X.json` are the new data's, while the models (and the exported Bento)
are still the old run's. Scoring then validates rows against one table and feeds them to a model of
another. So the tune stage records the sha256 of the contract its model was trained against
(`reports/tuning/best_params.json`); the refit stage checks it and records it with the served model
(`reports/served.json`), the package stage copies it into `models/bento.json`, and every consumer of
the served model (`autotab predict`, `autotab serve`, the package stage) compares it with the
contract the params point at before anything else.
"""

from __future__ import annotations

from pathlib import Path

from autotab.errors import UserError
from autotab.tables import file_digest


def contract_digest(contract_path: Path) -> str:
    return file_digest(contract_path, "sha256")


def check_same_run(model: Path, recorded: str | None, contract_path: Path) -> None:
    """Stop with one line if `model` (what recorded the contract digest `recorded`) was not trained
    against the contract at `contract_path`."""
    if recorded == contract_digest(contract_path):
        return
    raise UserError(
        f"{model} is not from the same run as {contract_path}, the data contract params.yaml points at: "
        "the last run stopped before it finished (a failed or interrupted `dvc exp run`?). "
        "Finish it with `dvc repro`, or return to the last complete run: "
        "`git checkout -- params.yaml contracts` and `dvc checkout`"
    )
