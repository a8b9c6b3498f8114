"""validate: all of params.yaml against the typed schemas, before any stage does work.

It is the one stage that depends on the whole params file, so a key no other stage reads (say
`-S +foo=1`) is still caught instead of being silently recorded with the experiment.
"""

from pathlib import Path

from autotab.config import load_config
from autotab.errors import UserError, run_stage


def main() -> None:
    config = load_config()
    if not Path(config.data.path).is_file():
        raise UserError(f"data.path: {config.data.path} not found; check your conf/data/{config.data.name}.yaml")
    print(f"validate: params.yaml is valid (data {config.data.name}, model {config.model.name})")


if __name__ == "__main__":
    run_stage("validate", main)
