"""Shared fixtures. Importing kernels_playground first gives MLX its fast BLAS (fast_blas.py)."""

import kernels_playground  # noqa: F401
