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

# NumPy dispatches its own loops the same way: on a CPU with AVX-512 its exp, log, tanh... (an MLP's
# activations) run other kernels, with other last bits, than on an AVX2-only one (a fresh clone's
# pruned MLP trial scored 0.980714 on an AVX2 machine against 0.980894 committed from an AVX-512
# one). Those levels are switched off so that every x86-64 machine runs NumPy's AVX2 (X86_V3) loops;
# a level the CPU lacks is ignored by NumPy, and a list the user set is kept.
if "NPY_DISABLE_CPU_FEATURES" not in os.environ and platform.machine() in ("x86_64", "AMD64"):
    os.environ["NPY_DISABLE_CPU_FEATURES"] = "X86_V4 AVX512_ICL AVX512_SPR"
