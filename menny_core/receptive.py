"""The effective receptive field (ERF): which input pixels one unit really listens to.

The THEORETICAL receptive field of a unit is every input pixel that can change it at all:
after conv 3x3 it is 3x3, after conv-pool-conv 8x8, and so on (kernels_playground's
`arithmetic.receptive_field` works it out layer by layer). Luo et al. (2016,
"Understanding the Effective Receptive Field in Deep CNNs") asked how MUCH each of those
pixels matters, and measured it with a gradient: for the unit at the centre of a map,

    ERF(y, x) = mean over images of  sum over colours  | d unit / d input(y, x, colour) |

A pixel in the middle of the square reaches the unit along many paths through the stacked
kernels, a pixel near its edge along a single one, so the gradient piles up in the middle:
the effective field is smaller than the square and roughly Gaussian. `mass_share` says how
much of the gradient falls inside the square, `half_mass_side` how small a centred square
already holds half of it.

Gradient is taken with respect to the network's normalised input (N, S, S, 3) NHWC.
Menny standardises each picture first (its own mean and spread), so every pixel moves
every unit a little through that mean and spread: a thin, even layer of gradient outside
the square, which the share honestly counts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import mlx.core as mx
import numpy as np
from PIL import Image, ImageDraw

from kernels_playground.arithmetic import LayerSpec, ReceptiveField, receptive_field
from menny_base.errors import MennyError
from menny_base.numbers import whole
from menny_core.insight import heat_colours
from menny_core.model import MennyCNN, min_input_size

MAX_ERF_IMAGES = 32  # images averaged per map: bounds the work of one request (~1 s)
POOL = LayerSpec(2, 2, 0, name="pool 2x2")  # model.max_pool_2x2: 2x2 windows, stride 2


@dataclass(frozen=True)
class ErfMap:
    """The effective receptive field of one unit, averaged over images.

    heat:   float32 (S, S), mean |d unit / d pixel| summed over colours, >= 0.
    unit:   (row, column) of the unit in its (h, w) map: the centre, (h // 2, w // 2).
    square: (top, left, bottom, right) of the theoretical field in input pixels, bottom
            and right exclusive, clipped to the image.
    field:  the theoretical field (size r, jump j, start) of the layer.
    share:  gradient mass inside the square / all of it, 0..1 (NaN if no gradient at all).
    half_side: side of the smallest centred square holding half the mass (NaN likewise).
    even_side: the same for a field that weighed every pixel of the square alike: the
            yardstick for "smaller than the theoretical field" (about r / sqrt 2).
    sigma, gaussian_r2: the Gaussian fitted inside the square (`gaussian_fit`).
    """

    stage: str
    channel: int
    heat: np.ndarray
    unit: tuple[int, int]
    square: tuple[int, int, int, int]
    field: ReceptiveField
    share: float
    half_side: float
    even_side: float
    images: int
    sigma: float = float("nan")
    gaussian_r2: float = float("nan")


def stages(model: MennyCNN) -> list[str]:
    """The names of every stage `model.feature_maps` shows: "block 1 conv", ... in order."""
    side = min_input_size(model.variant)
    model.eval()
    return [name for name, _ in model.feature_maps(mx.zeros((1, side, side, 3)))]


def layer_specs(model: MennyCNN, stage: str) -> list[LayerSpec]:
    """The conv and pool layers between the input and `stage`, as geometry: each block
    is its conv (kernel, stride, padding, dilation read from the layer) and a 2x2 pool;
    the stage's own block ends at its conv unless the stage is the pool."""
    if stage not in stages(model):
        raise MennyError(f"the layer must be one of {', '.join(stages(model))}, got {stage!r}")
    _, number, kind = stage.split()
    specs = []
    for index, (name, conv) in enumerate(model.conv_layers()[: int(number)], start=1):
        dilation = conv.dilation[0] if isinstance(conv.dilation, tuple) else conv.dilation
        kernel, stride, padding = conv.weight.shape[1], conv.stride[0], conv.padding[0]
        specs.append(LayerSpec(kernel, stride, padding, dilation, name))
        if index < int(number) or kind == "pool":
            specs.append(POOL)
    return specs


def theoretical_field(model: MennyCNN, stage: str) -> ReceptiveField:
    """The receptive field of one unit of `stage` (arithmetic.receptive_field's last row)."""
    return receptive_field(layer_specs(model, stage))[-1]


def field_square(field: ReceptiveField, row: int, col: int, side: int) -> tuple[int, ...]:
    """(top, left, bottom, right) input pixels of unit (row, col)'s field, bottom/right
    exclusive, clipped to a side x side input. The unit's field is centred on pixel
    start + index * jump and spans size pixels."""

    def span(index: int) -> tuple[int, int]:
        centre = field.start + index * field.jump
        low = int(np.ceil(centre - (field.size - 1) / 2))
        return max(low, 0), min(low + field.size, side)

    (top, bottom), (left, right) = span(row), span(col)
    return top, left, bottom, right


def mass_share(heat: np.ndarray, square: tuple[int, int, int, int]) -> float:
    """Share of heat's total inside the square (top, left, bottom, right): 0..1, NaN if
    the heat is all zero."""
    heat = np.asarray(heat, dtype=np.float64)
    total = heat.sum()
    if total <= 0:
        return float("nan")
    top, left, bottom, right = square
    return float(min(heat[top:bottom, left:right].sum() / total, 1.0))


def half_mass_side(heat: np.ndarray, centre: tuple[float, float]) -> float:
    """Side in pixels of the smallest square centred on `centre` (row, col) holding half
    of the heat: the ERF's size, as r is the theoretical field's. NaN for zero heat."""
    heat = np.asarray(heat, dtype=np.float64)
    total = heat.sum()
    if total <= 0:
        return float("nan")
    rows, cols = np.indices(heat.shape)
    # Chebyshev distance: a square of side s holds the pixels within (s - 1) / 2.
    distance = np.maximum(np.abs(rows - centre[0]), np.abs(cols - centre[1])).ravel()
    order = np.argsort(distance, kind="stable")
    cumulative = np.cumsum(heat.ravel()[order])
    reached = distance[order][np.searchsorted(cumulative, total / 2)]
    return float(2 * reached + 1)


def effective_field(model: MennyCNN, images: mx.array, stage: str, channel: int) -> ErfMap:
    """The ERF of the centre unit of `channel` in `stage`, averaged over `images`
    (normalised (N, S, S, 3) NHWC, 1 <= N <= MAX_ERF_IMAGES).

    One backward pass serves every image: in eval mode each image's unit depends on that
    image alone, so d(sum of the N units)/d input holds each unit's own gradient.
    """
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] != images.shape[2]:
        raise MennyError(f"the ERF needs square (N, S, S, 3) images, got shape {images.shape}")
    whole(images.shape[0], "the number of images", 1, MAX_ERF_IMAGES)
    field = theoretical_field(model, stage)  # also checks the stage's name
    model.eval()
    shape = dict(model.feature_maps(images[:1]))[stage].shape
    channel = whole(channel, f"the channel of {stage}", 0, shape[-1] - 1)
    row, col = shape[1] // 2, shape[2] // 2

    def centre_units(pixels: mx.array) -> mx.array:
        return dict(model.feature_maps(pixels))[stage][:, row, col, channel].sum()

    gradient = mx.grad(centre_units)(images)
    heat = np.abs(np.array(gradient, dtype=np.float32)).sum(axis=-1).mean(axis=0)
    side = images.shape[1]
    square = field_square(field, row, col, side)
    centre = (field.start + row * field.jump, field.start + col * field.jump)
    even = np.zeros_like(heat)
    even[square[0] : square[2], square[1] : square[3]] = 1.0
    return ErfMap(
        stage, channel, heat, (row, col), square, field, mass_share(heat, square),
        half_mass_side(heat, centre), half_mass_side(even, centre), images.shape[0],
        *gaussian_fit(heat, square),
    )  # fmt: skip


def gaussian_fit(heat: np.ndarray, square: tuple[int, int, int, int]) -> tuple[float, float]:
    """How Gaussian the heat inside the square is: (sigma, R^2).

    The Gaussian's centre and spreads are the weighted mean and standard deviation of the
    heat above its lowest value, along each axis (moments: no iterative fitting); sigma is
    the two spreads' mean, in pixels. Its height and a floor are fitted by least squares,
    and R^2 is the share of the heat's variation over the square that the Gaussian
    explains: 1 for a Gaussian bump, about 0 for noise; NaN for a flat or empty square.
    """
    top, left, bottom, right = square
    patch = np.asarray(heat, dtype=np.float64)[top:bottom, left:right]
    if patch.size < 4 or np.ptp(patch) == 0:
        return float("nan"), float("nan")
    # The moments of the heat above its floor (the standardisation's even glow would
    # otherwise widen them).
    weights = patch - patch.min()
    total = weights.sum()
    rows, cols = np.indices(patch.shape, dtype=np.float64)
    mean_r, mean_c = (weights * rows).sum() / total, (weights * cols).sum() / total
    var_r = max((weights * (rows - mean_r) ** 2).sum() / total, 1e-6)
    var_c = max((weights * (cols - mean_c) ** 2).sum() / total, 1e-6)
    bump = np.exp(-((rows - mean_r) ** 2) / (2 * var_r) - (cols - mean_c) ** 2 / (2 * var_c))
    design = np.stack([bump.ravel(), np.ones(patch.size)], axis=1)
    coefficients, *_ = np.linalg.lstsq(design, patch.ravel(), rcond=None)
    residual = patch.ravel() - design @ coefficients
    spread = patch.ravel() - patch.mean()
    r2 = 1.0 - (residual @ residual) / (spread @ spread)
    return float((np.sqrt(var_r) + np.sqrt(var_c)) / 2), float(r2)


def untrained_twin(model: MennyCNN, seed: int = 0) -> MennyCNN:
    """A fresh Menny of the same architecture, initialised from `seed`, in eval mode.

    `train` seeds MLX with its config's seed and builds the model straight away, so with
    that seed this is exactly the network training started from. Seeding sets MLX's one
    global random state, which a training thread may be drawing dropout masks from: each
    architecture and seed is therefore built once per process and kept (read-only use).
    """
    return _twin(model.num_classes, model.variant, model.dropout_rate, model.detector,
                 whole(seed, "seed", 0))  # fmt: skip


@functools.lru_cache(maxsize=8)
def _twin(classes: int, variant: str, dropout: float, detector: bool, seed: int) -> MennyCNN:
    mx.random.seed(seed)
    twin = MennyCNN(classes, variant, dropout, detector)
    mx.eval(twin.parameters())
    twin.eval()
    return twin


def erf_picture(erf: ErfMap, scale: int = 4) -> np.ndarray:
    """The ERF as a picture: heat scaled to its maximum in the "hot" colours, enlarged
    `scale` times (nearest), the theoretical square drawn in cyan. uint8 (S*scale, S*scale, 3)."""
    peak = float(erf.heat.max())
    heat = erf.heat / peak if peak > 0 else erf.heat
    side = erf.heat.shape[0] * scale
    picture = Image.fromarray(heat_colours(heat)).resize((side, side), Image.Resampling.NEAREST)
    top, left, bottom, right = erf.square
    ImageDraw.Draw(picture).rectangle(
        (left * scale, top * scale, right * scale - 1, bottom * scale - 1),
        outline=(0, 220, 255),
        width=2,
    )
    return np.asarray(picture)
