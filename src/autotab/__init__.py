"""autotab: a reproducible, data-versioned tabular ML workflow (DVC + Hydra + scikit-learn + BentoML)."""

import os
import platform

__version__ = "0.1.0"


def _has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return any(line.startswith("flags") and " avx2" in line for line in cpuinfo)
    except OSError:
        return False


# The same bits on every machine: OpenBLAS picks its kernels for the CPU it finds (Haswell, SkylakeX,
# Zen...), and they round differently, so one fit gives other bits on another machine (seen: an MLP
# trial's score, then every later trial's sampled parameters, in a fresh clone's `dvc repro`). Every
# x86-64 CPU with AVX2 runs the Haswell kernels: pinned here, where every stage process starts, before
# NumPy loads OpenBLAS (and inherited by the worker processes), unless the user chose a kernel set.
if "OPENBLAS_CORETYPE" not in os.environ and platform.machine() in ("x86_64", "AMD64") and _has_avx2():
    os.environ["OPENBLAS_CORETYPE"] = "Haswell"
