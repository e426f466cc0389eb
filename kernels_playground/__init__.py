"""The convolution playground's teaching core: arithmetic, kernels, MLX convolution, pooling."""

from kernels_playground import fast_blas

# Before anything imports mlx.core: see fast_blas.py for why.
fast_blas.enable()
