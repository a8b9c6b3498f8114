import re

import yaml
from packaging.markers import Marker

from autotab.serving.bento_build import content_version
from tests.conftest import REPO


def test_the_bento_pins_the_same_versions_as_the_lock_file():
    # The lock is universal: a package may have one line per Python version (xgboost-cpu 3.4 needs
    # 3.12). The Bento is built with this interpreter, so its lines are the ones that count.
    lines = re.findall(r"^([a-z0-9_.-]+)==([^\s;]+)(?: ; (.+))?$", (REPO / "requirements.lock").read_text(), re.M)
    locked = {name: version for name, version, marker in lines if not marker or Marker(marker).evaluate()}
    packages = yaml.safe_load((REPO / "bentofile.yaml").read_text())["python"]["packages"]
    for requirement in packages:
        name, version = requirement.split("==")
        assert locked.get(name.lower()) == version, f"bentofile.yaml pins {requirement}, lock has {locked.get(name)}"


def test_content_versions_are_stable_and_tag_safe():
    version = content_version(b"model", b"contract")
    assert version == content_version(b"model", b"contract")
    assert version != content_version(b"modelc", b"ontract")
    assert re.fullmatch(r"[a-z0-9]{16}", version)
