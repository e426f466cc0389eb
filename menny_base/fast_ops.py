"""Two of Menny's layers as compiled MLX primitives on the CPU, with MLX's own ops as the
fallback and as the oracle the tests compare with.

Why: on the CPU a training step of Menny went mostly to two things (README, "Menny's CPU
primitives, and where a training step goes"). MLX's convolution copies every KxK patch
into a matrix (im2col) before one GEMM, and for layers with few channels that copy costs
more than the arithmetic. BatchNorm, ReLU and the 2x2 max-pool are a dozen
single-threaded MLX passes over each block's largest map, forward and backward.
`menny_base/csrc`, compiled at install time against the installed MLX, replaces both:

    conv2d          a direct convolution (no patch matrix) with AVX2 kernels for the
                    forward pass, the input gradient and the weight gradient
    norm_relu_pool  BatchNorm -> ReLU -> 2x2 max-pool, forward and backward in a few
                    threaded passes (training: batch statistics; eval: running ones)
    correlate       the playground's one-kernel correlation of a padded image, stride 1
                    (forward only: the playground takes no gradients)

When they are used: float32 on the CPU device; the compiled module must have been built
for the running MLX, the CPU must have AVX2 and FMA, and a self-check against MLX must
pass on first use. Each function also has its own conditions (below); anything else, and
MENNY_FAST_OPS=0, uses MLX's ops. `status` says which. MENNY_CPU_THREADS sets their
threads (default: OPENBLAS_NUM_THREADS, else every core this process may use).
"""

from __future__ import annotations

import logging
import os

import mlx.core as mx
import mlx.nn as nn

from menny_base import fast_blas

log = logging.getLogger("menny")

LANES = 16  # the kernels compute output channels 16 at a time
status = "not attempted"
_module = None
_threads = 1


def _thread_count() -> int:
    for name in ("MENNY_CPU_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and 0 < int(value) <= 256:
            return int(value)
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1, 64))  # fmt: skip


def _load():
    """The compiled module if it is usable here, else None; sets `status`."""
    global status
    if os.environ.get("MENNY_FAST_OPS", "1") == "0":
        status = "MLX's own ops (MENNY_FAST_OPS=0)"
        return None
    try:
        from menny_base import _cpu_ops
    except ImportError:
        status = "MLX's own ops (Menny's CPU primitives were not compiled at install time)"
        return None
    if _cpu_ops.mlx_version != mx.__version__:
        status = (
            f"MLX's own ops (Menny's CPU primitives were built for MLX {_cpu_ops.mlx_version}, "
            f"this is MLX {mx.__version__}: reinstall menny to rebuild them)"
        )
        return None
    if not _cpu_ops.cpu_supported():
        status = "MLX's own ops (this CPU lacks AVX2 or FMA)"
        return None
    try:
        ok = _self_check(_cpu_ops)
    except Exception as error:  # a C++ ABI or type-registry mismatch shows up here
        status = f"MLX's own ops (Menny's CPU primitives failed their self-check: {error})"
        return None
    if not ok:
        status = "MLX's own ops (Menny's CPU primitives failed their self-check)"
        return None
    status = (
        "Menny's CPU primitives (direct convolution, fused BatchNorm + ReLU + pool, correlation)"
    )
    return _cpu_ops


def _self_check(module) -> bool:
    """The three primitives against MLX on a small input, threaded."""
    x = mx.sin(mx.arange(2 * 6 * 4 * 3, dtype=mx.float32)).reshape(2, 6, 4, 3)
    w = mx.cos(mx.arange(LANES * 3 * 3 * 3, dtype=mx.float32)).reshape(LANES, 3, 3, 3)
    bias = mx.linspace(-1, 1, LANES)
    conv_ok = mx.allclose(
        module.conv2d(x, w, bias, 1, 2), mx.conv2d(x, w, padding=1) + bias, atol=1e-4
    )
    gamma, beta = mx.array([1.5, -0.5, 1.0]), mx.array([0.1, 0.2, -0.3])
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    normed = (x - mean) * mx.rsqrt(var + 1e-5) * gamma + beta
    norm_ok = mx.allclose(
        module.norm_relu_pool(x, gamma, beta, 1e-5, 2)[0],
        mx.maximum(normed.reshape(2, 3, 2, 2, 2, 3).max(axis=(2, 4)), 0),
        atol=1e-4,
    )
    grey, kernel = x[0], w[0, :, :, 0]  # (6, 4, 3) and 3x3
    correlate_ok = mx.allclose(
        module.correlate(grey, kernel, 1, 2),
        sum(kernel[u, v] * grey[u : u + 4, v : v + 2] for u in range(3) for v in range(3)),
        atol=1e-4,
    )
    return bool(conv_ok.item() and norm_ok.item() and correlate_ok.item())


def _usable(*arrays: mx.array) -> bool:
    """float32 arrays on the CPU device, and the primitives loaded."""
    return (
        all(a.dtype == mx.float32 for a in arrays) and mx.default_device() == mx.cpu and enabled()
    )


def enabled() -> bool:
    """Whether the compiled primitives can be used here (loads them on first call)."""
    global _module, _threads
    if status == "not attempted":
        _module = _load()
        _threads = _thread_count()
        log.info("CPU primitives: %s", status)
        if _module is not None and "OPENBLAS_NUM_THREADS" not in os.environ:
            # The primitives do the heavy work on their own threads. OpenBLAS's idle
            # workers spin, waiting for the next (now small) product, and take a core
            # from them and from the data pipeline: a training epoch took 3.4-4.2 s
            # with them, 2.4-2.8 s without.
            fast_blas.set_threads(1)
    return _module is not None


def conv2d(
    x: mx.array, weight: mx.array, padding: int = 0, bias: mx.array | None = None
) -> mx.array:
    """`mx.conv2d(x, weight, padding=padding)` (stride 1), plus `bias` if given; the direct
    convolution when the output channels are a multiple of 16 and 0 <= padding < kernel
    size (the bias is then added inside it, saving a pass)."""
    if (
        weight.shape[0] % LANES == 0
        and 0 <= padding < weight.shape[1]
        and _usable(x, weight, *([] if bias is None else [bias]))
    ):
        return _module.conv2d(x, weight, bias, padding, _threads)
    y = mx.conv2d(x, weight, padding=padding)
    return y if bias is None else y + bias


class Conv2d(nn.Conv2d):
    """`nn.Conv2d` (same parameters, same saved weights) that uses `conv2d` when it can."""

    def __call__(self, x: mx.array) -> mx.array:
        # nn.Conv2d keeps stride and padding as pairs, dilation as given (an int or a pair).
        plain = self.stride == (1, 1) and self.dilation in (1, (1, 1)) and self.groups == 1
        if not plain or self.padding[0] != self.padding[1]:
            return super().__call__(x)
        return conv2d(x, self.weight, self.padding[0], self.get("bias"))


def norm_relu_pool(x: mx.array, norm: nn.BatchNorm) -> mx.array | None:
    """relu(max_pool_2x2(norm(x))) in one primitive; None when it cannot do it (then the
    caller uses MLX's ops): H and W must be even, the norm affine, x float32 (N, H, W, C)
    on the CPU. In training it normalises with the batch's statistics and updates the
    running ones as `nn.BatchNorm` does; in eval mode it uses the running ones."""
    if not (
        "weight" in norm
        and x.ndim == 4
        and x.shape[1] % 2 == 0
        and x.shape[2] % 2 == 0
        and _usable(x)
    ):
        return None
    weight, bias, eps = norm.weight, norm.bias, norm.eps
    if not norm.training and "running_mean" in norm:  # eval mode: BatchNorm's state
        frozen = (norm.running_mean, norm.running_var)
        return _module.norm_relu_pool(x, weight, bias, eps, _threads, *frozen)[0]
    y, mean, var, _ = _module.norm_relu_pool(x, weight, bias, eps, _threads)
    if norm.training and "running_mean" in norm:
        # The running variance is the unbiased one, as nn.BatchNorm keeps it (ddof=1).
        count = x.size // x.shape[-1]
        unbiased = mx.stop_gradient(var) * (count / max(count - 1, 1))
        mu = norm.momentum
        norm.running_mean = (1 - mu) * norm.running_mean + mu * mx.stop_gradient(mean)
        norm.running_var = (1 - mu) * norm.running_var + mu * unbiased
    return y


def correlate(padded: mx.array, weights: mx.array, dilation: int) -> mx.array | None:
    """The stride-1 correlation of a padded (H, W, C) image with one (KH, KW) kernel, each
    channel on its own: (H - (KH-1)*D, W - (KW-1)*D, C); None when the primitive cannot
    do it (the caller then sums shifted slices in MLX, the same products in the same
    order)."""
    if not (padded.ndim == 3 and weights.ndim == 2 and _usable(padded)):
        return None
    return _module.correlate(padded, weights.astype(mx.float32), dilation, _threads)
