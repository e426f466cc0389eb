"""Menny: a small convolutional network, conv -> ReLU -> pool blocks and one linear layer.

Images go in channels-last, as MLX wants: (N, H, W, 3) float32, normalised with
`menny_core.stream.normalize`. Out come LOGITS (N, num_classes): raw scores, not
probabilities. Cross-entropy applies log-softmax itself (`nn.losses.cross_entropy`
takes logits), so a softmax inside the model would be applied twice in training:
the loss would see squashed scores and learn slowly. Call `mx.softmax` only where
probabilities are wanted (prediction).

Two variants, as in the chapter:
    simple:  3 blocks, 16-32-64 filters, no BatchNorm     (~24 thousand parameters)
    complex: 5 blocks, 16-32-64-128-128, with BatchNorm   (~250 thousand parameters)
The shipped Menny is the complex one: on the 112 training portraits, BatchNorm is what
makes training converge within 50 epochs (measured: simple ~55-60% test accuracy,
complex 100%, same data and settings).
Before the first block every image is standardised on its own (`standardize`): the
portraits' lighting changes brightness and colour cast, and this removes both.
Each block is conv 3x3 (padding 1: same size) -> [BatchNorm] -> ReLU -> max-pool 2x2
(half the size). After the last block, global average pooling turns (N, h, w, C) into
(N, C) whatever the input size, then dropout and a linear layer give the class scores.
So any input of at least `min_input_size(variant)` pixels per side works (each pool
halves the size, and the last block must keep at least one pixel); the default is
`IMAGE_SIZE`, chosen by measurement (see the README's training section).

With `detector=True` (what `menny train` builds) Menny also says whether there is a face
and where: a face score and a box, and its class head looks where the box is (`head`
explains how and why).

Why these choices (measured on a 2-core Linux CPU, mlx 0.32, bench/train_speed.py):
- MLX's CPU convolution copies every 3x3 patch of its input into a matrix (im2col) and
  multiplies; the copy costs more than the multiply. The blocks' convolutions therefore
  use `menny_base.fast_ops.Conv2d`: the same layer and weights, computed by a direct
  convolution compiled for the CPU when one was built, else by MLX; and BatchNorm, ReLU
  and pool run as one compiled primitive (`fast_ops.norm_relu_pool`). Either
  way the work grows with N*H*W*9*C_in*C_out, so the early, large layers get few channels
  and the image is kept small (64 pixels).
- The max-pool is a reshape + max instead of nn.MaxPool2d: for non-overlapping 2x2
  windows they compute the same thing (tests check it), and the reshape's gradient is
  a cheaper scatter than MaxPool2d's strided-window one.
- The ReLU runs after the pool (the same result, a quarter of the work: see ConvBlock).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

from menny_base.errors import MennyError, WrongType
from menny_base.fast_ops import Conv2d, norm_relu_pool

VARIANTS = {
    # variant: (filters per block, batch norm)
    "simple": ((16, 32, 64), False),
    "complex": ((16, 32, 64, 128, 128), True),
}
# The block whose output map the box head reads (stride 4: 16x16 cells at 64 pixels; block
# 3's 8x8 was measured too: whole portraits named 83% against 96%, box IoU 0.63 against 0.66).
BOX_BLOCK = 2
# The block whose coarser map adds context to the centre's heat map (see `heat`); a
# network with fewer blocks uses its last.
CONTEXT_BLOCK = 4
SIZE_HIDDEN = 64  # units of the box size head's hidden layer (see `head`)
IMAGE_SIZE = 64  # pixels per side fed to the network by default (training and prediction)


def min_input_size(variant: str) -> int:
    """Smallest H and W a variant accepts: each of its blocks halves the size."""
    return 2 ** len(_variant(variant)[0])


def _variant(variant: str) -> tuple[tuple[int, ...], bool]:
    if variant not in VARIANTS:
        raise MennyError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    return VARIANTS[variant]


def max_pool_2x2(x: mx.array) -> mx.array:
    """Max over non-overlapping 2x2 windows: (N, H, W, C) -> (N, H//2, W//2, C).

    An odd last row or column is dropped, as nn.MaxPool2d(2) does. Splitting each spatial
    axis into (size/2, 2) puts the four values of a window on two axes of their own.
    """
    n, h, w, c = x.shape
    if h % 2 or w % 2:
        x = x[:, : h - h % 2, : w - w % 2, :]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def standardize(x: mx.array) -> mx.array:
    """Each image's channels to mean 0, spread 1: (N, H, W, C) -> same shape.

    Photos differ in exposure and white balance; subtracting each image's own colour mean
    and dividing by its own spread removes a global brightness change or colour cast
    before the first filter sees the pixels, so the filters learn shapes, not lighting.
    """
    mean = x.mean(axis=(1, 2), keepdims=True)
    spread = mx.sqrt(x.var(axis=(1, 2), keepdims=True) + 1e-5)
    return (x - mean) / spread


class ConvBlock(nn.Module):
    """conv 3x3 (same size) -> [BatchNorm] -> ReLU -> max-pool 2x2 (half size)."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool) -> None:
        super().__init__()
        self.conv = Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        # No `None` attribute: MLX modules list their children, and None is not a module.
        if batch_norm:
            self.norm = nn.BatchNorm(out_channels)

    def stages(self, x: mx.array) -> list[tuple[str, mx.array]]:
        """Each stage's output: [("conv", ..), ("norm", ..)?, ("relu", ..), ("pool", ..)].

        In eval mode the "pool" map is the fused primitive's when `__call__` uses it, so
        what is shown leads to exactly the model's output and gradients; the stages before
        it are MLX's ops (they agree with the fused ones to float rounding)."""
        out = [("conv", self.conv(x))]
        fused = None
        if "norm" in self:
            if not self.norm.training:  # training would update the running statistics twice
                fused = norm_relu_pool(out[-1][1], self.norm)
            out.append(("norm", self.norm(out[-1][1])))
        out.append(("relu", nn.relu(out[-1][1])))
        out.append(("pool", max_pool_2x2(out[-1][1]) if fused is None else fused))
        return out

    def __call__(self, x: mx.array) -> mx.array:
        x = self.conv(x)
        if "norm" in self:
            fused = norm_relu_pool(x, self.norm)  # on the CPU: one primitive (fast_ops)
            if fused is not None:
                return fused
            x = self.norm(x)
        # pool(relu(x)) == relu(pool(x)): ReLU never changes which of four values is largest
        # (it is monotonic), so the ReLU runs after the pool, on a quarter of the values:
        # the same numbers for less work, forward and backward. `stages` shows the
        # textbook order.
        return nn.relu(max_pool_2x2(x))


class MennyCNN(nn.Module):
    """Menny. Input (N, H, W, 3) float32 NHWC, H and W >= min_input_size(variant).

    Output: logits (N, num_classes), float32, unnormalised (apply mx.softmax for
    probabilities). dropout: the probability of zeroing a pooled feature in training.
    """

    def __init__(
        self,
        num_classes: int,
        variant: str = "simple",
        dropout: float = 0.25,
        detector: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
            raise WrongType(f"num_classes must be a whole number >= 2, got {num_classes!r}")
        if num_classes < 2:
            raise MennyError(f"num_classes must be >= 2, got {num_classes}")
        if not 0.0 <= dropout < 1.0:
            raise MennyError(f"dropout must be in [0, 1), got {dropout}")
        widths, batch_norm = _variant(variant)
        self.variant = variant
        self.num_classes = int(num_classes)
        self.dropout_rate = float(dropout)
        channels = (3, *widths)
        self.blocks = [
            ConvBlock(c_in, c_out, batch_norm)
            for c_in, c_out in zip(channels[:-1], widths, strict=True)
        ]
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(widths[-1], self.num_classes)
        self.detector = bool(detector)
        if detector:  # see `detect`
            self.face = nn.Linear(2 * widths[-1], 1)
            self.box_heat = nn.Conv2d(widths[BOX_BLOCK - 1], 1, kernel_size=3, padding=1)
            self.context_block = min(CONTEXT_BLOCK, len(widths))
            self.box_context = nn.Conv2d(widths[self.context_block - 1], 1, kernel_size=1)
            self.box_size = nn.Sequential(
                nn.Linear(2 * widths[-1], SIZE_HIDDEN), nn.ReLU(), nn.Linear(SIZE_HIDDEN, 2)
            )

    def _check(self, x: mx.array) -> None:
        smallest = min_input_size(self.variant)
        if x.ndim != 4 or x.shape[-1] != 3:
            raise MennyError(f"Menny takes (N, H, W, 3) images (NHWC), got shape {x.shape}")
        if min(x.shape[1], x.shape[2]) < smallest:
            raise MennyError(
                f"the {self.variant} Menny needs images of at least {smallest}x{smallest} "
                f"pixels, got {x.shape[1]}x{x.shape[2]}"
            )

    def __call__(self, x: mx.array) -> mx.array:
        return self.head(self.body(x))[0]

    def body(self, x: mx.array) -> list[mx.array]:
        """The blocks: every block's output map, first to last."""
        self._check(x)
        maps = [standardize(x)]
        for block in self.blocks:
            maps.append(block(maps[-1]))
        return maps[1:]

    def detect(self, x: mx.array) -> tuple[mx.array, mx.array, mx.array]:
        """The detector's three heads: (class logits (N, K), face logit (N,), box (N, 4))."""
        if not self.detector:
            raise MennyError("this Menny was trained without detector heads")
        return self.head(self.body(x))

    def head(self, maps: list[mx.array]):
        """From the blocks' maps (`body`) to the outputs: a classifier's (logits, None,
        None), a detector's (logits, face logit, box).

        The box is (centre x, centre y, width, height) in 0..1 of the input. Global
        average pooling forgets WHERE things are, so the centre is read from spatial maps
        (`heat`): every cell of block BOX_BLOCK's output gets a score, a softmax over the
        cells turns the scores into weights, and the centre is the weighted mean of the
        cells' centres (a soft argmax: differentiable, and finer than the grid).

        The same weights say where to look: the detector's class head reads the last
        map's cells weighted by them (attention pooling), not their plain mean, so a
        small face in a big picture is not averaged away with the background. Whether
        there is a face at all, and the box's size, are read from both: the place that
        looks most like a face, and the whole picture. (The face score from the mean
        alone missed a quarter of the strangers, small faces it had never seen, at the
        threshold that kept pictures without a face out.) The size goes through one
        hidden layer of SIZE_HIDDEN units: a straight linear read left the box
        under-fitted (IoU 0.65 on its own training scenes).
        """
        last = maps[-1]
        pooled = last.mean(axis=(1, 2))  # global average pooling: (N, h, w, C) -> (N, C)
        if not self.detector:
            return self.classifier(self.dropout(pooled)), None, None
        scores = self.heat(maps)
        n, h, w = scores.shape
        weights = mx.softmax(scores.reshape(n, h * w), axis=1).reshape(n, h, w)
        ys = (mx.arange(h, dtype=mx.float32) + 0.5) / h
        xs = (mx.arange(w, dtype=mx.float32) + 0.5) / w
        centre_x = (weights.sum(axis=1) * xs).sum(axis=1)
        centre_y = (weights.sum(axis=2) * ys).sum(axis=1)
        focus = _coarsen(weights, last.shape[1], last.shape[2])
        attended = (last * focus[..., None]).sum(axis=(1, 2))
        both = mx.concatenate([attended, pooled], axis=1)
        size = mx.sigmoid(self.box_size(both))
        box = mx.concatenate([centre_x[:, None], centre_y[:, None], size], axis=1)
        logits = self.classifier(self.dropout(attended))
        return logits, self.face(self.dropout(both))[:, 0], box

    def heat(self, maps: list[mx.array]) -> mx.array:
        """How face-centre-like each cell of block BOX_BLOCK's map is: (N, h, w) scores.

        A 3x3 conv scores the fine cells (stride 4: 16x16 at 64 pixels), and a 1x1 conv
        scores the coarse cells of block `context_block` (stride 16: 4x4); each coarse
        score is added to the fine cells it covers, a top-down path as in feature
        pyramid networks (Lin et al. 2017). Why both: a fine cell sees about 18 pixels,
        less than most faces, and one cheek looks much like the other, so on their own
        the fine scores put the centre 4% of the frame off (box IoU 0.73 on validation);
        a coarse cell sees 46 pixels, enough to tell where in the face it is, and with
        its score added the IoU was 0.80, for 129 more weights.
        """
        fine = self.box_heat(maps[BOX_BLOCK - 1])[..., 0]
        # A 1x1 convolution is a product over the channels: one matmul, cheaper here than
        # MLX's convolution path for a one-image prediction.
        context = self.box_context
        coarse = maps[self.context_block - 1] @ context.weight.reshape(1, -1).T + context.bias
        return fine + spread(coarse[..., 0], fine.shape[1], fine.shape[2])

    def feature_maps(self, x: mx.array) -> list[tuple[str, mx.array]]:
        """What each layer sees: [(name, activation (N, h, w, C))] for every stage of
        every block, in order, e.g. "block 1 conv", "block 1 relu", "block 1 pool"."""
        self._check(x)
        x = standardize(x)
        maps = []
        for index, block in enumerate(self.blocks, start=1):
            for stage, activation in block.stages(x):
                maps.append((f"block {index} {stage}", activation))
            x = maps[-1][1]
        return maps

    def conv_layers(self) -> list[tuple[str, nn.Conv2d]]:
        """The convolution layers by name: [("block 1 conv", Conv2d), ...]."""
        return [(f"block {i} conv", b.conv) for i, b in enumerate(self.blocks, start=1)]


def spread(coarse: mx.array, height: int, width: int) -> mx.array:
    """Each value of coarse (N, h, w) copied onto the cells of a (N, height, width) grid it
    covers: fine cell i lies in coarse cell i * h // height (and so for columns)."""
    n, h, w = coarse.shape
    if height % h == 0 and width % w == 0:  # whole blocks: a broadcast, the cheapest copy
        blocks = mx.broadcast_to(coarse[:, :, None, :, None], (n, h, height // h, w, width // w))
        return blocks.reshape(n, height, width)
    rows, cols = (mx.arange(height) * h) // height, (mx.arange(width) * w) // width
    return mx.take(mx.take(coarse, rows, axis=1), cols, axis=2)


def _coarsen(weights: mx.array, height: int, width: int) -> mx.array:
    """Weights (N, H, W) summing to 1 over a finer grid, summed onto a (N, height, width)
    grid whose cells each cover H // height x W // width of them (what the pools between
    the two maps did), renormalised for the rows or columns an odd size dropped."""
    n, h, w = weights.shape
    fy, fx = h // height, w // width
    cropped = weights[:, : height * fy, : width * fx]
    coarse = cropped.reshape(n, height, fy, width, fx).sum(axis=(2, 4))
    return coarse / mx.maximum(coarse.sum(axis=(1, 2), keepdims=True), 1e-12)


def num_parameters(model: nn.Module) -> int:
    """How many trainable numbers the model has (weights and biases, not BN running stats)."""
    return sum(int(v.size) for _, v in tree_flatten(model.trainable_parameters()))
