"""Build hook for one optional C file: the BLAS shim (see menny_base/fast_blas.py).

Everything else lives in pyproject.toml. The shim only matters on Linux, where the
mlx[cpu] wheel links a slow reference BLAS; if it cannot be compiled (no C compiler),
the install still succeeds and MLX simply keeps its own BLAS.
"""

import sys

from setuptools import Extension, setup

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

setup(ext_modules=ext_modules)
