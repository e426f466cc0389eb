"""Build hook for two optional compiled parts; everything else lives in pyproject.toml.

- menny_base._cblas_shim (C): gives MLX numpy's OpenBLAS (see menny_base/fast_blas.py).
  It only matters on Linux, where the mlx[cpu] wheel links a slow reference BLAS.
- menny_base._cpu_ops (C++, menny_base/csrc): Menny's direct convolution and fused
  BatchNorm + ReLU + pool as MLX primitives (see menny_base/fast_ops.py). Linux on
  x86-64 only; it is compiled against the MLX headers and nanobind of the build
  environment, and used only if that MLX is the running one.

Both are optional: if one cannot be compiled (no compiler, no headers), the install still
succeeds and the pure-MLX path is used; the app logs one line saying so.
"""

import platform
import sys
from pathlib import Path

from setuptools import Extension, setup

CPU_OPS_SOURCES = ("conv", "norm_pool", "correlate", "module")


def cpu_ops_extension() -> Extension | None:
    try:
        import mlx
        import nanobind
    except ImportError:
        return None
    mlx_dir = Path(mlx.__path__[0])
    nanobind_dir = Path(nanobind.__file__).parent
    return Extension(
        "menny_base._cpu_ops",
        sources=[
            *(f"menny_base/csrc/{name}.cpp" for name in CPU_OPS_SOURCES),
            str(nanobind_dir / "src" / "nb_combined.cpp"),
        ],
        include_dirs=[
            str(mlx_dir / "include"),
            str(nanobind_dir / "include"),
            str(nanobind_dir / "ext" / "robin_map" / "include"),
        ],
        library_dirs=[str(mlx_dir / "lib")],
        libraries=["mlx"],
        # mlx.core has loaded libmlx.so before this module is imported; the rpath finds it
        # beside an installed (not editable) menny too.
        extra_link_args=["-Wl,-rpath,$ORIGIN/../mlx/lib"],
        # NB_DOMAIN=mlx: share MLX's nanobind type registry, so mx.array crosses over.
        define_macros=[("NB_DOMAIN", "mlx"), ("NB_COMPACT_ASSERTIONS", None), ("NDEBUG", None)],
        extra_compile_args=["-std=c++20", "-O3", "-fvisibility=hidden", "-fno-strict-aliasing"],
        language="c++",
        optional=True,
    )


ext_modules = []
if sys.platform.startswith("linux"):
    ext_modules.append(
        Extension(
            "menny_base._cblas_shim",
            sources=["menny_base/cblas_shim.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    )
    if platform.machine() in ("x86_64", "AMD64"):
        cpu_ops = cpu_ops_extension()
        if cpu_ops is not None:
            ext_modules.append(cpu_ops)

setup(ext_modules=ext_modules)
