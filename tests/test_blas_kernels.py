"""One OpenBLAS kernel set on every x86-64 machine with AVX2, so a fresh clone elsewhere reproduces the bits."""

import os
import subprocess
import sys

import pytest

from autotab import _has_avx2

# An SVD, as PCA runs it: its bits depend on the kernels (on an AVX-512 machine the default set and
# the Haswell one differ in them; a matrix product alone does not show it).
SVD = (
    "import hashlib, numpy as np; a = np.random.default_rng(0).normal(size=(300, 40)); "
    "print(hashlib.md5(np.linalg.svd(a, full_matrices=False)[0].tobytes()).hexdigest())"
)


def run(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"} | env
    return subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(not _has_avx2(), reason="the pin applies to x86-64 CPUs with AVX2")
def test_a_process_that_imports_autotab_first_computes_what_the_haswell_kernels_compute():
    assert run("import autotab; " + SVD) == run(SVD, OPENBLAS_CORETYPE="Haswell")


def test_a_kernel_set_the_user_chose_is_kept():
    assert (
        run("import os, autotab; print(os.environ['OPENBLAS_CORETYPE'])", OPENBLAS_CORETYPE="Prescott") == "Prescott\n"
    )
