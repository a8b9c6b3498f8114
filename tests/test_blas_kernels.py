"""One OpenBLAS kernel set on every x86-64 machine with AVX2, and NumPy's loops at most at the AVX2
level, so a fresh clone elsewhere reproduces the bits."""

import ast
import os
import platform
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
    pinned = ("OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")
    clean = {k: v for k, v in os.environ.items() if k not in pinned} | env
    return subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(not _has_avx2(), reason="the pin applies to x86-64 CPUs with AVX2")
def test_a_process_that_imports_autotab_first_computes_what_the_haswell_kernels_compute():
    assert run("import autotab; " + SVD) == run(SVD, OPENBLAS_CORETYPE="Haswell")


def test_a_kernel_set_the_user_chose_is_kept():
    assert (
        run("import os, autotab; print(os.environ['OPENBLAS_CORETYPE'])", OPENBLAS_CORETYPE="Prescott") == "Prescott\n"
    )


RUNTIME_LEVELS = "import numpy; print(sorted(numpy._core._multiarray_umath.__cpu_features__.items()))"


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the pin applies to x86-64 CPUs")
def test_numpy_runs_no_loop_above_the_avx2_level_once_autotab_is_imported():
    levels = dict(ast.literal_eval(run("import autotab; " + RUNTIME_LEVELS)))
    assert not any(levels[name] for name in ("X86_V4", "AVX512_ICL", "AVX512_SPR"))
    assert levels["X86_V3"] == _has_avx2()  # the AVX2 level itself stays on where the CPU has it


def test_numpy_levels_the_user_chose_are_kept():
    levels = dict(ast.literal_eval(run("import autotab; " + RUNTIME_LEVELS, NPY_DISABLE_CPU_FEATURES="X86_V3")))
    assert not levels["X86_V3"]
