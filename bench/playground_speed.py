"""How fast is one playground update? MLX (kernels_playground) against scipy, in the same run.

On a seeded synthetic 512x512 RGB image (smooth gradients, discs, stripes and noise, like a
photo as far as the work is concerned) this times, as the median of N interleaved runs
after warm-up:

- the whole playground call: apply_kernel (3x3 Sobel x, luminance, "same" zero padding)
  + max pool 2x2 + render_feature_map;
- apply_kernel alone (luminance) against scipy doing the same work: BT.601 luminance in
  numpy + scipy.ndimage.correlate with zero padding;
- apply_kernel per_channel against scipy.ndimage.correlate on each of the 3 channels;
- mx.conv_general on the same luminance, to show why apply_kernel does not use it on a CPU.

The last line is one JSON object: {"mlx_ms", "scipy_ms", "ratio", "playground_call_ms"}, where
ratio = scipy_ms / mlx_ms for the luminance convolution (> 1: MLX is faster).

    python bench/playground_speed.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import json

import kernels_playground  # noqa: F401  (first: MLX gets a fast BLAS before mlx.core loads)

# isort: split
import mlx.core as mx
import numpy as np
from scipy import ndimage
from timing import interleaved  # bench/ is the script's folder

from kernels_playground.convolve import apply_kernel, warm_up
from kernels_playground.kernels import PRESETS
from kernels_playground.pooling import pool
from kernels_playground.render import render_feature_map
from menny_base.images import LUMA_BT601

SIDE = 512
KERNEL = PRESETS["Sobel x"]


def synthetic_image(side: int = SIDE, seed: int = 0) -> np.ndarray:
    """(side, side, 3) uint8: gradients, a few discs, stripes and sensor-like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    image = np.stack([x, y, 1 - x * y], axis=-1) * 160
    for _ in range(8):
        cy, cx, r = rng.random(3) * [side, side, side / 6]
        disc = (y * side - cy) ** 2 + (x * side - cx) ** 2 < r**2
        image[disc] = rng.integers(0, 256, size=3)
    image[:, :, 1] += 40 * (np.sin(x * 60) > 0)
    image += rng.normal(0, 6, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def median_ms(works: dict, repeats: int) -> dict[str, float]:
    """Median wall time of each work in ms, the works taking turns (timing.interleaved)."""
    return {name: 1e3 * seconds for name, seconds in interleaved(works, repeats, 3).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    repeats = parser.parse_args().repeats
    image = synthetic_image()
    warm_up()  # MLX builds its fused kernels once per machine: not part of a playground call
    feature_map = apply_kernel(image, KERNEL, padding="same")

    def playground_call():
        feature_map = apply_kernel(image, KERNEL, padding="same")
        return render_feature_map(pool(feature_map, "max", 2))

    def scipy_luminance():
        grey = image.astype(np.float32) @ LUMA_BT601
        return ndimage.correlate(grey, KERNEL, mode="constant")

    def mlx_conv_general():
        """MLX's own convolution on the same luminance: the engine we measured and did not pick."""
        grey = mx.array((image.astype(np.float32) @ LUMA_BT601)[None, :, :, None])
        weights = mx.array(KERNEL[None, :, :, None])
        return np.array(mx.conv_general(grey, weights, padding=1))[0, :, :, 0]

    def scipy_per_channel():
        planes = image.astype(np.float32)
        return np.stack(
            [ndimage.correlate(planes[:, :, c], KERNEL, mode="constant") for c in range(3)], -1
        )

    # Same answers first, then time.
    np.testing.assert_allclose(
        apply_kernel(image, KERNEL, padding="same"), scipy_luminance(), atol=1e-2
    )
    np.testing.assert_allclose(mlx_conv_general(), scipy_luminance(), atol=1e-2)
    np.testing.assert_allclose(
        apply_kernel(image, KERNEL, padding="same", mode="per_channel"),
        scipy_per_channel(),
        atol=1e-2,
    )
    rows = median_ms(
        {
            "playground call (conv + max pool + render)": playground_call,
            "apply_kernel luminance (MLX)": lambda: apply_kernel(image, KERNEL, padding="same"),
            "luminance + ndimage.correlate (scipy)": scipy_luminance,
            "luminance + mx.conv_general (MLX's GEMM conv)": mlx_conv_general,
            "apply_kernel per_channel (MLX)": lambda: apply_kernel(
                image, KERNEL, padding="same", mode="per_channel"
            ),
            "ndimage.correlate x 3 channels (scipy)": scipy_per_channel,
            "max pool 2x2 on 512x512 (MLX)": lambda: pool(feature_map, "max", 2),
        },
        repeats,
    )
    print(f"{SIDE}x{SIDE} RGB uint8, 3x3 kernel, median of {repeats} runs after 3 warm-ups")
    for name, ms in rows.items():
        print(f"  {name:<45} {ms:8.2f} ms")
    mlx_ms = rows["apply_kernel luminance (MLX)"]
    scipy_ms = rows["luminance + ndimage.correlate (scipy)"]
    per_channel_ratio = (
        rows["ndimage.correlate x 3 channels (scipy)"] / rows["apply_kernel per_channel (MLX)"]
    )
    print(
        f"  ratio scipy/MLX: luminance {scipy_ms / mlx_ms:.2f}, per channel {per_channel_ratio:.2f}"
    )
    result = {
        "mlx_ms": round(mlx_ms, 3),
        "scipy_ms": round(scipy_ms, 3),
        "ratio": round(scipy_ms / mlx_ms, 3),
        "playground_call_ms": round(rows["playground call (conv + max pool + render)"], 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
