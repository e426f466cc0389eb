"""Menny's direct convolution on the CPU, with `mx.conv2d` as fallback and oracle.

Why: MLX's CPU convolution copies every KxK patch into a matrix (im2col) before one GEMM,
and for layers with few channels that copy costs more than the arithmetic (README, "Where
a training step goes"). `fast_conv.cpp`, compiled at install time against the installed
MLX, is an MLX primitive that reads the input in place instead, with AVX2 kernels for
the forward pass, the input gradient and the weight gradient.

When it is used: float32, stride 1, dilation 1, one group, output channels a multiple of
16, on the CPU device; the compiled module must have been built for the running MLX, the
CPU must have AVX2 and FMA, and a self-check against `mx.conv2d` must pass on first use.
Anything else, and MENNY_FAST_CONV=0, uses `mx.conv2d`. `status` says which.
MENNY_CONV_THREADS sets its threads (default: OPENBLAS_NUM_THREADS, else all cores).
"""

from __future__ import annotations

import logging
import os

import mlx.core as mx
import mlx.nn as nn

log = logging.getLogger("menny")

LANES = 16  # the kernels compute output channels 16 at a time
status = "not attempted"
_module = None
_threads = 1


def _thread_count() -> int:
    for name in ("MENNY_CONV_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and 0 < int(value) <= 256:
            return int(value)
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1, 64))  # fmt: skip


def _load():
    """The compiled module if it is usable here, else None; sets `status`."""
    global status
    if os.environ.get("MENNY_FAST_CONV", "1") == "0":
        status = "mx.conv2d (MENNY_FAST_CONV=0)"
        return None
    try:
        from menny_base import _fast_conv
    except ImportError:
        status = "mx.conv2d (the direct convolution was not compiled at install time)"
        return None
    if _fast_conv.mlx_version != mx.__version__:
        status = (
            f"mx.conv2d (the direct convolution was built for MLX {_fast_conv.mlx_version}, "
            f"this is MLX {mx.__version__}: reinstall menny to rebuild it)"
        )
        return None
    if not _fast_conv.cpu_supported():
        status = "mx.conv2d (this CPU lacks AVX2 or FMA)"
        return None
    try:
        x = mx.sin(mx.arange(2 * 5 * 4 * 3, dtype=mx.float32)).reshape(2, 5, 4, 3)
        w = mx.cos(mx.arange(LANES * 3 * 3 * 3, dtype=mx.float32)).reshape(LANES, 3, 3, 3)
        mine = _fast_conv.conv2d(x, w, 1, 2)
        ok = mx.allclose(mine, mx.conv2d(x, w, padding=1), atol=1e-4).item()
    except Exception as error:  # a C++ ABI or type-registry mismatch shows up here
        status = f"mx.conv2d (the direct convolution failed its self-check: {error})"
        return None
    if not ok:
        status = "mx.conv2d (the direct convolution failed its self-check)"
        return None
    status = "Menny's direct convolution (AVX2, its own backward)"
    return _fast_conv


def enabled() -> bool:
    """Whether `conv2d` can use the compiled primitive (loads it on first call)."""
    global _module, _threads
    if status == "not attempted":
        _module = _load()
        _threads = _thread_count()
        log.info("convolution: %s", status)
    return _module is not None


def conv2d(x: mx.array, weight: mx.array, padding: int = 0) -> mx.array:
    """`mx.conv2d(x, weight, padding=padding)` (stride 1), on the direct kernels when it can."""
    if (
        weight.shape[0] % LANES == 0
        and 0 <= padding < weight.shape[1]
        and x.dtype == mx.float32
        and weight.dtype == mx.float32
        and mx.default_device() == mx.cpu
        and enabled()
    ):
        return _module.conv2d(x, weight, padding, _threads)
    return mx.conv2d(x, weight, padding=padding)


class Conv2d(nn.Conv2d):
    """`nn.Conv2d` (same parameters, same saved weights) that uses `conv2d` when it can."""

    def __call__(self, x: mx.array) -> mx.array:
        # nn.Conv2d keeps stride and padding as pairs, dilation as given (an int or a pair).
        plain = self.stride == (1, 1) and self.dilation in (1, (1, 1)) and self.groups == 1
        if not plain or self.padding[0] != self.padding[1]:
            return super().__call__(x)
        y = conv2d(x, self.weight, self.padding[0])
        return y + self.bias if "bias" in self else y
