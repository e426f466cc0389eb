"""Give MLX a fast matrix multiply on Linux, before `mlx.core` is first imported.

Why: the `mlx[cpu]` wheel for Linux links a reference (netlib) BLAS. Convolutions
and linear layers become GEMMs, and that BLAS runs them at about 3-4 GFLOP/s on
this project's 2-core machines; numpy's bundled OpenBLAS does 130-180 GFLOP/s.

How: numpy already ships OpenBLAS, but its entry points are renamed
(`scipy_cblas_sgemm64_`) and take 64-bit integers. `cblas_shim.c`, compiled at
install time, exports the standard `cblas_sgemm`/`dgemm`/`cgemm` names and
forwards to them. Loading the shim with RTLD_GLOBAL before `mlx.core` makes the
dynamic linker resolve MLX's calls to it instead of the reference BLAS.

It runs once, on import of `kernels_playground` (and so of `menny_core` and the
app). It is a no-op off Linux, skipped with MENNY_FAST_BLAS=0, and never raises:
if anything is missing it logs one line and MLX keeps its own BLAS.
Set MENNY_BLAS_LIBRARY=/path/to/lib.so to load any library that exports the
standard CBLAS names instead (for example MKL's libmkl_rt.so).
"""

from __future__ import annotations

import ctypes
import glob
import logging
import os
import sys

log = logging.getLogger("menny")

# What is in effect, for the README, the benchmarks and the app's footer.
status = "not attempted"

_ILP64_PREFIXES = ("scipy_cblas_", "cblas_")  # numpy >= 2.0, then numpy 1.2x
_SHIM_DIR = os.path.dirname(os.path.abspath(__file__))


def _numpy_openblas() -> ctypes.CDLL | None:
    import numpy

    site = os.path.dirname(os.path.dirname(os.path.abspath(numpy.__file__)))
    for path in sorted(glob.glob(os.path.join(site, "numpy.libs", "lib*openblas*.so*"))):
        return ctypes.CDLL(path)
    return None


def _ilp64_functions(lib: ctypes.CDLL) -> tuple[int, int, int] | None:
    for prefix in _ILP64_PREFIXES:
        try:
            return tuple(
                ctypes.cast(getattr(lib, f"{prefix}{name}gemm64_"), ctypes.c_void_p).value
                for name in ("s", "d", "c")
            )
        except AttributeError:
            continue
    return None


def _enable_with_numpy_openblas() -> str:
    shims = glob.glob(os.path.join(_SHIM_DIR, "_cblas_shim*.so"))
    if not shims:
        return "reference BLAS (the CBLAS shim was not compiled at install time)"
    openblas = _numpy_openblas()
    functions = _ilp64_functions(openblas) if openblas is not None else None
    if functions is None:
        return "reference BLAS (numpy's OpenBLAS was not found)"
    shim = ctypes.CDLL(shims[0], mode=os.RTLD_GLOBAL)
    if not shim.menny_bind_blas(*(ctypes.c_void_p(f) for f in functions)):
        return "reference BLAS (numpy's OpenBLAS lacks a GEMM entry point)"
    return "numpy's OpenBLAS via the CBLAS shim"


def enable() -> str:
    """Route MLX's GEMM calls to an optimized BLAS; return a one-line status."""
    global status
    if status != "not attempted":
        return status
    if not sys.platform.startswith("linux"):
        status = "MLX's own BLAS (not Linux)"
    elif os.environ.get("MENNY_FAST_BLAS", "1") == "0":
        status = "reference BLAS (MENNY_FAST_BLAS=0)"
    elif "mlx.core" in sys.modules:
        status = "reference BLAS (mlx.core was imported before kernels_playground)"
    else:
        try:
            custom = os.environ.get("MENNY_BLAS_LIBRARY")
            if custom:
                ctypes.CDLL(custom, mode=os.RTLD_GLOBAL)
                status = f"{custom} (MENNY_BLAS_LIBRARY)"
            else:
                status = _enable_with_numpy_openblas()
        except OSError as error:  # a library that is missing or cannot load
            status = f"reference BLAS ({error})"
    if status.startswith("reference BLAS"):
        log.warning("MLX runs on %s: matrix products will be slow.", status)
    return status


# numpy >= 2 (scipy-openblas, 64-bit ints), then older numpy's OpenBLAS builds.
_THREAD_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)
_THREAD_GETTERS = tuple(name.replace("set_", "get_") for name in _THREAD_SETTERS)


def set_threads(count: int) -> bool:
    """Let numpy's OpenBLAS (and so MLX's GEMMs through the shim) use `count` threads;
    False where there is no such library (macOS, MENNY_BLAS_LIBRARY, no OpenBLAS).

    Why a server wants 1: with several requests computing at once on 2 cores, each GEMM
    splitting over both cores makes the threads spin and wait for each other (a classify
    took 544 ms instead of 66 under load, bench/classify_speed.py); one thread per request
    lets the requests themselves share the cores."""
    lib = _numpy_openblas() if sys.platform.startswith("linux") else None
    for name in _THREAD_SETTERS if lib is not None else ():
        setter = getattr(lib, name, None)
        if setter is not None:
            setter(ctypes.c_int(int(count)))
            return True
    return False


def threads() -> int | None:
    """How many threads numpy's OpenBLAS uses now (None where it cannot be asked)."""
    lib = _numpy_openblas() if sys.platform.startswith("linux") else None
    for name in _THREAD_GETTERS if lib is not None else ():
        getter = getattr(lib, name, None)
        if getter is not None:
            getter.restype = ctypes.c_int
            return int(getter())
    return None
