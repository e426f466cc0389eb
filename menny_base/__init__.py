"""What both cores stand on: errors for people, bounded number checks, image loading, the
fast BLAS for MLX and Menny's CPU primitives.

    errors     MennyError: the one exception whose message is a sentence for a person
    numbers    whole(), real(), parse_number(): values checked before they size any work
    images     load_rgb(): any image a person gives, as uint8 RGB (H, W, 3)
    fast_blas  MLX's matrix products on numpy's OpenBLAS (Linux)
    fast_ops   Menny's convolution and BatchNorm + ReLU + pool as compiled MLX primitives
               (C++ in csrc/, built at install; MLX's own ops where they are not built)

Importing this package enables the fast BLAS, so it must happen before anything imports
`mlx.core`; `kernels_playground` and `menny_core` import it first for that reason.
"""

from menny_base import fast_blas

# Before anything imports mlx.core: see fast_blas.py for why.
fast_blas.enable()
