"""Everything the Classify tab shows about one photo, computed once and kept small.

    uint8 (H, W, 3) photo
    -> the network's (1, S, S, 3) NHWC input (exactly as `Predictor` prepares it)
    -> insight.look: ONE forward pass (logits + every layer's activations) and ONE
       backward pass (d top logit / d pixel)
    -> probabilities (the same numbers `Predictor(photo)` gives), the saliency overlay on
       a copy of the photo at most `overlay_side` pixels a side, and one sheet of feature
       maps: a row per conv layer, its first channels side by side.

Why small pictures: the app PNG-encodes every picture it sends, and on a 2-core machine
encoding a 512x512 photo-like overlay costs more than Menny's whole forward and backward
pass. The saliency is 64x64 numbers anyway, and a 4x4 feature map is 16 numbers: the
browser can enlarge them (CSS `image-rendering: pixelated` keeps each value a crisp
square). Measured in bench/classify_speed.py.

mx.compile is not used: it saved ~1.4 ms of ~9 ms here, and on Linux its first call
compiles C++ for ~14 s, which a visitor would wait through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from kernels_playground.render import render_feature_map
from menny_base.errors import MennyError
from menny_base.images import fit_within
from menny_core.insight import look, network_input, overlay, saliency_map
from menny_core.model import IMAGE_SIZE
from menny_core.predict import Prediction, Predictor
from menny_core.scenes import draw_box
from menny_core.verdicts import softmax

OVERLAY_SIDE = 256  # longest side of the saliency overlay, in pixels
CHANNELS_SHOWN = 4  # feature maps per conv layer in the sheet
GAP = 2  # pixels between the sheet's tiles
GAP_GREY = 128  # the gaps' colour: neutral next to blue-white-red and black-white maps


@dataclass(frozen=True)
class LayerMaps:
    """One row of the feature sheet. name: e.g. "block 1 conv"; shape: the layer's whole
    activation (h, w, C) for one image (NHWC without N); shown: its first `shown` channels
    are in the row, each scaled up by a whole factor to the sheet's tile size."""

    name: str
    shape: tuple[int, int, int]
    shown: int


@dataclass(frozen=True)
class PhotoExplanation:
    """What Menny made of one photo.

    prediction: label and probabilities, equal to `Predictor(photo)`'s (and, from a face
        detector's weights, its verdict, face probability and box).
    class_index: the explained class (the predicted one), an index into the classes.
    image_size: S, the side of the network's input (S, S, 3).
    saliency: float32 (h, w) in [0, 1], the map `insight.saliency` gives, at the
        overlay's size (the photo shrunk to at most overlay_side pixels a side).
    overlay: uint8 (h, w, 3), the saliency painted over the shrunk photo, with the face
        box drawn in green when there is one (did it look at the face?).
    feature_sheet: uint8 (rows, cols, 3), one row of tiles per conv layer (see `layers`),
        each tile one channel coloured by render_feature_map on its own scale.
    layers: what each row of the sheet shows, first layer first.
    """

    prediction: Prediction
    class_index: int
    image_size: int
    saliency: np.ndarray
    overlay: np.ndarray
    feature_sheet: np.ndarray
    layers: tuple[LayerMaps, ...]


def explain_photo(
    predictor: Predictor,
    image: np.ndarray,
    overlay_side: int = OVERLAY_SIDE,
    channels: int = CHANNELS_SHOWN,
) -> PhotoExplanation:
    """Classify a uint8 (H, W, 3) RGB photo (e.g. from images.load_rgb) and explain it.

    overlay_side: the longest side of the saliency overlay in pixels (>= 1; a smaller
    photo keeps its size). channels: how many channels of each conv layer the sheet
    shows (>= 1). The cost grows with the photo (resizing it), not with these.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise MennyError(
            f"explain_photo needs a uint8 (H, W, 3) RGB image (images.load_rgb gives one), "
            f"got {image.dtype} {image.shape}"
        )
    if overlay_side < 1 or channels < 1:
        raise MennyError(
            f"overlay_side and channels must be >= 1, got {overlay_side} and {channels}"
        )
    size = int(predictor.metadata.get("image_size", IMAGE_SIZE))
    logits, gradient, stages = look(predictor.model, network_input(image, size))
    convs = [(name, activation) for name, activation in stages if name.endswith("conv")]
    shown = [activation[0, :, :, :channels] for _, activation in convs]
    mx.eval(logits, gradient, shown)  # the one evaluation: forward and backward together
    probs = softmax(np.array(logits[0], dtype=np.float64))  # as predict.probabilities
    prediction, class_index = _ranked(predictor, probs)
    if predictor.model.detector:  # the face score, box and verdict: the detector's heads
        prediction = predictor(image)  # (its temperature-scaled probabilities; same top class)

    shrunk = fit_within(image, overlay_side)
    heat = saliency_map(np.array(gradient[0], dtype=np.float32), *shrunk.shape[:2])
    painted = overlay(shrunk, heat)
    if prediction.box is not None:
        painted = draw_box(painted, prediction.box, shrunk.shape[1] / image.shape[1])
    maps = [np.array(activation, dtype=np.float32) for activation in shown]
    layers = tuple(
        LayerMaps(name, tuple(activation.shape[1:]), picked.shape[-1])
        for (name, activation), picked in zip(convs, maps, strict=True)
    )
    return PhotoExplanation(
        prediction=prediction,
        class_index=class_index,
        image_size=size,
        saliency=heat,
        overlay=painted,
        feature_sheet=feature_sheet(maps),
        layers=layers,
    )


def _ranked(predictor: Predictor, probs: np.ndarray) -> tuple[Prediction, int]:
    """Softmax output (num_classes,) as predict.predict ranks it: high to low, ties in
    class order, summing to exactly 1 (float32 rounding removed)."""
    probs = probs / probs.sum()
    classes = predictor.classes
    order = np.argsort(-probs, kind="stable")
    ranked = {classes[i]: float(probs[i]) for i in order}
    top = int(order[0])
    return Prediction(classes[top], ranked, bool(probs[top] < predictor.unsure_below)), top


def feature_sheet(maps: Sequence[np.ndarray]) -> np.ndarray:
    """Feature maps as one picture: uint8 (rows, cols, 3).

    maps: one float array (h, w, k) per layer, first layer first. Row r holds layer r's
    k channels, each coloured by render_feature_map on its own scale (signed maps: blue
    negative, white 0, red positive). Every tile is T x T pixels, T = the largest h or w:
    a smaller map is enlarged by a whole factor (each value a square of pixels, so a
    4x4 map stays 16 squares) and centred. Tiles are GAP pixels apart, on grey.
    """
    if not maps:
        raise MennyError("feature_sheet needs at least one layer's maps")
    tile = max(max(m.shape[:2]) for m in maps)
    columns = max(m.shape[2] for m in maps)
    sheet = np.full(
        (len(maps) * (tile + GAP) - GAP, columns * (tile + GAP) - GAP, 3), GAP_GREY, np.uint8
    )
    for row, layer in enumerate(maps):
        height, width = layer.shape[:2]
        factor = tile // max(height, width)
        top = row * (tile + GAP) + (tile - height * factor) // 2
        for column in range(layer.shape[2]):
            picture = render_feature_map(layer[:, :, column]).image
            big = picture.repeat(factor, axis=0).repeat(factor, axis=1)
            left = column * (tile + GAP) + (tile - width * factor) // 2
            sheet[top : top + height * factor, left : left + width * factor] = big
    return sheet
