"""Menny's CPU primitives (menny_base/csrc) against MLX's own ops, the oracle.

The direct convolution: forward values and both gradients, on shapes, paddings and thread
counts that exercise every branch (whole tiles and leftover pixels, leftover input
channels, one image). The fused BatchNorm + ReLU + pool: values, all three gradients and
the running statistics, against nn.BatchNorm, nn.relu and the model's max_pool_2x2."""

import kernels_playground  # noqa: F401  (first: MLX gets its fast BLAS before it loads)

# isort: split
import os
import platform
import subprocess
import sys

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest

from menny_base import fast_ops
from menny_core.model import ConvBlock, MennyCNN, max_pool_2x2


def _cpu_has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo") as info:
            flags = info.read()
    except OSError:
        return False
    return " avx2" in flags and " fma" in flags


BUILT_HERE = (
    sys.platform.startswith("linux")
    and platform.machine() == "x86_64"
    and _cpu_has_avx2()
    and os.environ.get("MENNY_FAST_OPS", "1") != "0"
)
needs_module = pytest.mark.skipif(
    not fast_ops.enabled(), reason=f"the CPU primitives are off here: {fast_ops.status}"
)


def test_the_primitives_are_built_and_used_where_they_can_be():
    # On Linux x86-64 with AVX2 (CI), a broken build must fail here, not fall back quietly.
    if not BUILT_HERE:
        pytest.skip("only Linux on x86-64 with AVX2 and FMA builds the CPU primitives")
    assert fast_ops.enabled(), fast_ops.status
    assert "CPU primitives" in fast_ops.status


def _relative(a: mx.array, b: mx.array) -> float:
    return float(mx.abs(a - b).max()) / max(float(mx.abs(b).max()), 1e-30)


SHAPES = [
    # (N, H, W, C, O, K, P)
    (2, 7, 5, 3, 16, 3, 1),  # RGB input: leftover channels, leftover pixels in a row
    (3, 8, 8, 16, 32, 3, 1),
    (1, 5, 6, 16, 16, 3, 0),  # no padding: the output shrinks
    (2, 9, 9, 32, 16, 5, 2),  # a 5x5 kernel
    (2, 4, 4, 3, 32, 3, 2),  # more padding than "same"
    (2, 11, 13, 20, 48, 3, 1),  # channels that are not a power of two
    (1, 3, 3, 16, 16, 1, 0),  # a 1x1 kernel
    (4, 4, 4, 128, 128, 3, 1),  # Menny's last block
]


@needs_module
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_values_and_gradients_match_mlx(shape, threads, monkeypatch):
    n, h, w, c, o, k, p = shape
    monkeypatch.setattr(fast_ops, "_threads", threads)
    mx.random.seed(sum(shape) + threads)
    x, weight = mx.random.normal((n, h, w, c)), mx.random.normal((o, k, k, c))
    bias = mx.random.normal((o,))
    cotangent = mx.random.normal((n, h + 2 * p - k + 1, w + 2 * p - k + 1, o))

    def loss(conv):
        return lambda x, weight, bias: (conv(x, weight, bias) * cotangent).sum()

    def ours(a, b, bias):
        return fast_ops.conv2d(a, b, p, bias)

    def theirs(a, b, bias):
        return mx.conv2d(a, b, padding=p) + bias

    assert ours(x, weight, bias).shape == theirs(x, weight, bias).shape
    assert _relative(ours(x, weight, bias), theirs(x, weight, bias)) < 1e-5
    assert _relative(fast_ops.conv2d(x, weight, p), mx.conv2d(x, weight, padding=p)) < 1e-5
    got = mx.grad(loss(ours), argnums=(0, 1, 2))(x, weight, bias)
    want = mx.grad(loss(theirs), argnums=(0, 1, 2))(x, weight, bias)
    for name, a, b in zip(("input", "kernel", "bias"), got, want, strict=True):
        assert _relative(a, b) < 1e-5, name


@needs_module
def test_a_transposed_input_and_a_compiled_function_give_the_same_numbers():
    x = mx.random.normal((2, 8, 6, 16)).transpose(0, 2, 1, 3)  # not row-contiguous
    weight = mx.random.normal((16, 3, 3, 16))
    compiled = mx.compile(lambda a, b: fast_ops.conv2d(a, b, 1))
    assert _relative(compiled(x, weight), mx.conv2d(x, weight, padding=1)) < 1e-5


@needs_module
def test_a_large_batch_matches_too():
    x, weight = mx.random.normal((64, 32, 32, 16)), mx.random.normal((32, 3, 3, 16))
    assert _relative(fast_ops.conv2d(x, weight, 1), mx.conv2d(x, weight, padding=1)) < 1e-5


@pytest.mark.parametrize(
    "settings",
    [
        {"stride": 2, "padding": 1},
        {"dilation": 2, "padding": 2},
        {"padding": 1, "out_channels": 1},  # not a multiple of 16: MLX's convolution
        {"padding": 0, "bias": False},
    ],
)
def test_the_layer_gives_nn_conv2d_numbers_with_any_settings(settings):
    settings = {"out_channels": 16, **settings}
    mine = fast_ops.Conv2d(8, kernel_size=3, **settings)
    reference = nn.Conv2d(8, kernel_size=3, **settings)
    reference.update(mine.parameters())
    x = mx.random.normal((2, 10, 10, 8))
    assert _relative(mine(x), reference(x)) < 1e-5


def test_menny_trains_to_the_same_numbers_either_way():
    """One step of the real model with the direct convolution, and one with MLX's in a
    fresh process (MENNY_FAST_OPS=0): the same loss and weights, to float rounding."""
    code = (
        "import kernels_playground, sys, numpy as np, mlx.core as mx, mlx.nn as nn, "
        "mlx.optimizers as optim\n"
        "from menny_core.model import ConvBlock, MennyCNN, max_pool_2x2\n"
        "mx.random.seed(3); model = MennyCNN(4, 'complex'); model.train()\n"
        "x = mx.random.normal((8, 64, 64, 3)); y = mx.array([0, 1, 2, 3] * 2)\n"
        "opt = optim.SGD(learning_rate=0.1)\n"
        "f = nn.value_and_grad(model, lambda a, b: nn.losses.cross_entropy(model(a), b).mean())\n"
        "loss, grads = f(x, y); opt.update(model, grads)\n"
        "w = mx.concatenate([model.blocks[1].conv.weight.reshape(-1), "
        "model.blocks[0].norm.weight, model.blocks[0].norm.running_var])\n"
        "np.save(sys.argv[1], np.concatenate([np.array(loss).ravel(), np.array(w).ravel()]))\n"
    )
    results = {}
    for flag in ("0", "1"):
        out = f"{os.environ.get('TMPDIR', '/tmp')}/menny-fast-ops-{os.getpid()}-{flag}.npy"
        env = {**os.environ, "MENNY_FAST_OPS": flag}
        subprocess.run([sys.executable, "-c", code, out], check=True, env=env, timeout=300)
        results[flag] = np.load(out)
        os.remove(out)
    np.testing.assert_allclose(results["1"], results["0"], rtol=1e-4, atol=1e-5)


def test_menny_uses_the_layer_in_its_blocks():
    model = MennyCNN(4, "complex")
    assert all(isinstance(block.conv, fast_ops.Conv2d) for block in model.blocks)


def _reference_block(x, norm):
    return nn.relu(max_pool_2x2(norm(x)))


@needs_module
@pytest.mark.parametrize("shape", [(2, 4, 6, 3), (3, 8, 8, 16), (1, 2, 2, 5), (4, 16, 16, 32)])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_norm_relu_pool_matches_mlx_values_gradients_and_running_statistics(
    shape, threads, monkeypatch
):
    monkeypatch.setattr(fast_ops, "_threads", threads)
    mx.random.seed(sum(shape) + threads)
    x = mx.random.normal(shape) * 2 + 0.5
    c = shape[-1]
    ours, theirs = nn.BatchNorm(c), nn.BatchNorm(c)
    weight, bias = mx.random.normal((c,)), mx.random.normal((c,))  # negative gammas too
    for norm in (ours, theirs):
        norm.update({"weight": weight, "bias": bias})
        norm.train()
    cotangent = mx.random.normal((shape[0], shape[1] // 2, shape[2] // 2, c))

    def loss(block, norm):
        def f(params, x):
            norm.update(params)
            return (block(x, norm) * cotangent).sum()

        return mx.value_and_grad(f, argnums=(0, 1))

    params = {"weight": weight, "bias": bias}
    (got, (got_params, got_x)) = loss(fast_ops.norm_relu_pool, ours)(params, x)
    (want, (want_params, want_x)) = loss(_reference_block, theirs)(params, x)
    assert abs(got.item() - want.item()) <= 1e-4 * max(1.0, abs(want.item()))
    assert _relative(got_x, want_x) < 1e-4
    for name in ("weight", "bias"):
        assert _relative(got_params[name], want_params[name]) < 1e-4
    for stat in ("running_mean", "running_var"):
        assert _relative(getattr(ours, stat), getattr(theirs, stat)) < 1e-5


def test_norm_relu_pool_leaves_what_it_cannot_do_to_mlx():
    norm = nn.BatchNorm(4)
    norm.train()
    assert fast_ops.norm_relu_pool(mx.zeros((2, 5, 4, 4)), norm) is None  # odd height
    assert fast_ops.norm_relu_pool(mx.zeros((2, 4, 4, 4), mx.float16), norm) is None
    plain = nn.BatchNorm(4, affine=False)
    assert fast_ops.norm_relu_pool(mx.zeros((2, 4, 4, 4)), plain) is None


@needs_module
@pytest.mark.parametrize("shape", [(1, 4, 6, 3), (2, 8, 8, 16), (3, 16, 16, 32)])
def test_eval_mode_uses_the_running_statistics_values_and_input_gradient(shape):
    """Inference and saliency: the running statistics, not the batch's; the gradient
    with respect to the input (what a saliency map is) and to gamma and beta."""
    c = shape[-1]
    norm = nn.BatchNorm(c)
    norm.update(
        {
            "weight": mx.random.normal((c,)),
            "bias": mx.random.normal((c,)),
            "running_mean": mx.random.normal((c,)),
            "running_var": mx.random.uniform(0.5, 2.0, (c,)),
        }
    )
    norm.eval()
    x = mx.random.normal(shape)
    cotangent = mx.random.normal((shape[0], shape[1] // 2, shape[2] // 2, c))

    def loss(block):
        def f(params, x):
            norm.update(params)
            return (block(x, norm) * cotangent).sum()

        return mx.value_and_grad(f, argnums=(0, 1))

    params = {"weight": norm.weight, "bias": norm.bias}
    got, (got_params, got_x) = loss(fast_ops.norm_relu_pool)(params, x)
    want, (want_params, want_x) = loss(_reference_block)(params, x)
    assert abs(got.item() - want.item()) <= 1e-4 * max(1.0, abs(want.item()))
    assert _relative(got_x, want_x) < 1e-5
    for name in ("weight", "bias"):
        assert _relative(got_params[name], want_params[name]) < 1e-5


def test_a_menny_block_gives_the_same_numbers_fused_or_not(monkeypatch):
    """The model's own block, training: fused against MLX's ops (the primitives off)."""
    block = ConvBlock(3, 16, batch_norm=True)
    block.train()
    x = mx.random.normal((2, 8, 8, 3))
    fused = block(x)
    monkeypatch.setattr(fast_ops, "_module", None)
    assert _relative(fused, block(x)) < 1e-5


@needs_module
@pytest.mark.parametrize(
    ("shape", "kernel", "dilation"),
    [
        ((9, 13, 1), (3, 3), 1),
        ((12, 11, 3), (5, 3), 2),
        ((4, 4, 1), (1, 1), 1),
        ((70, 90, 3), (3, 3), 1),
    ],
)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_correlate_matches_shifted_slices(shape, kernel, dilation, threads, monkeypatch):
    """The playground's correlation: the same sum as the MLX slices it replaces."""
    monkeypatch.setattr(fast_ops, "_threads", threads)
    padded = mx.random.normal(shape)
    weights = mx.random.normal(kernel)
    (kh, kw), d = kernel, dilation
    rows, cols = shape[0] - (kh - 1) * d, shape[1] - (kw - 1) * d
    want = sum(
        weights[u, v] * padded[u * d : u * d + rows, v * d : v * d + cols]
        for u in range(kh)
        for v in range(kw)
    )
    got = fast_ops.correlate(padded, weights, dilation)
    assert got.shape == (rows, cols, shape[2])
    assert _relative(got, want) < 1e-5
