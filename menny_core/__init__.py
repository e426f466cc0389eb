"""Menny's classifier core: portraits dataset, mlx-data stream, MLX CNN, training, weights, CLI."""

import menny_base  # noqa: F401  (first: gives MLX a fast BLAS before mlx.core loads)
