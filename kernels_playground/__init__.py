"""The convolution playground's teaching core: arithmetic, kernels, MLX convolution, pooling
and transposed convolution, the number-grid lab and its animated sweep."""

# First, before any module here imports mlx.core: menny_base gives MLX its fast BLAS.
import menny_base  # noqa: F401
