"""What Menny sees: the activations of every layer, and which pixels the decision hangs on.

Feature maps: one picture per filter and layer. Early filters answer to edges and colours
at full resolution; later ones to larger patterns on a coarser grid (each pool halves it).

Saliency (Simonyan et al. 2013, "Deep Inside Convolutional Networks"): the gradient of one
class's score (logit) with respect to every input pixel. Where it is large, changing the
pixel would change the score most: those are the pixels the decision is most sensitive
to. mx.grad computes it in one backward pass; the map is |gradient|, its largest value
over the 3 colour channels, scaled to [0, 1].

`look` does it all at once for the Classify tab: one forward pass records every stage's
activation and the logits, one backward pass gives the saliency of the winning class.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np
from PIL import Image

from menny_base.errors import MennyError
from menny_core.model import IMAGE_SIZE, MennyCNN
from menny_core.predict import model_input
from menny_core.stream import normalize


def network_input(image: np.ndarray, image_size: int) -> mx.array:
    """uint8 (H, W, 3) -> the network's normalised (1, S, S, 3) float32 input."""
    return mx.array(normalize(model_input(image, image_size))[None])


def feature_maps(
    model: MennyCNN, image: np.ndarray, image_size: int = IMAGE_SIZE
) -> list[tuple[str, np.ndarray]]:
    """Every stage of every block for one uint8 (H, W, 3) image, in order:
    [("block 1 conv", float32 (S, S, C1)), ("block 1 relu", ...), ("block 1 pool",
    (S/2, S/2, C1)), ...], S = image_size, as the eval path resizes the image."""
    model.eval()
    maps = model.feature_maps(network_input(image, image_size))
    mx.eval([activation for _, activation in maps])
    return [(name, np.array(activation[0], dtype=np.float32)) for name, activation in maps]


def input_gradient(model: MennyCNN, x: mx.array, class_index: int) -> mx.array:
    """d logit[class_index] / d x for a normalised (1, S, S, 3) input: (1, S, S, 3) float32."""
    model.eval()

    def score(pixels: mx.array) -> mx.array:
        return model(pixels)[0, class_index]

    return mx.grad(score)(x)


def look(model: MennyCNN, x: mx.array) -> tuple[mx.array, mx.array, list[tuple[str, mx.array]]]:
    """One forward and one backward pass over a normalised (1, S, S, 3) NHWC input.

    Returns (logits (1, num_classes), d top logit / d x (1, S, S, 3), every stage's
    activation as in `feature_maps`), all lazy: mx.eval them together. The top class is
    picked inside the pass (argmax has no gradient), so nothing runs twice.
    """
    model.eval()

    def top_score(pixels: mx.array):
        maps = model.feature_maps(pixels)
        # The model's own head on the stages' maps: the textbook order pool(relu(x))
        # gives the very numbers relu(pool(x)) gives, so these are the model's logits bit
        # for bit (tests compare them with model(x)).
        named = dict(maps)
        blocks = [named[f"block {i} pool"] for i in range(1, len(model.blocks) + 1)]
        logits = model.head(blocks)[0]
        top = mx.stop_gradient(mx.argmax(logits[0]))
        return logits[0, top], logits, maps

    (_, logits, maps), gradient = mx.value_and_grad(top_score)(x)
    return logits, gradient, maps


def saliency(
    model: MennyCNN,
    image: np.ndarray,
    class_index: int | None = None,
    image_size: int = IMAGE_SIZE,
) -> np.ndarray:
    """Saliency of one class (default: the predicted one) for a uint8 (H, W, 3) image:
    float32 (H, W) in [0, 1], 1 at the most influential pixel (see `saliency_map`)."""
    image = np.asarray(image)
    x = network_input(image, image_size)
    model.eval()
    if class_index is None:
        class_index = int(mx.argmax(model(x)[0]).item())
    if not 0 <= class_index < model.num_classes:
        raise MennyError(
            f"class_index must be from 0 to {model.num_classes - 1}, got {class_index}"
        )
    gradient = np.array(input_gradient(model, x, class_index)[0], dtype=np.float32)
    return saliency_map(gradient, *image.shape[:2])


def saliency_map(gradient: np.ndarray, height: int, width: int) -> np.ndarray:
    """An input gradient (S, S, 3) as a saliency map for an image of height x width pixels:
    float32 (height, width) in [0, 1], 1 at the most influential pixel.

    Each pixel's heat is its largest |gradient| over the colour channels. The network saw
    the central square of the image (shortest side), so the map covers that square,
    resized back to the image's pixels; the cropped-off sides are 0.
    """
    heat = np.abs(np.asarray(gradient, dtype=np.float32)).max(axis=-1)
    side = min(height, width)
    square = Image.fromarray(heat, mode="F").resize((side, side), Image.Resampling.BILINEAR)
    full = np.zeros((height, width), dtype=np.float32)
    top, left = (height - side) // 2, (width - side) // 2
    square = np.clip(np.asarray(square), 0.0, None)
    # Interpolation softens a one-pixel peak: scale again so the hottest pixel is 1.
    full[top : top + side, left : left + side] = square / square.max() if square.max() else 0
    return full


def heat_colours(heat: np.ndarray) -> np.ndarray:
    """The "hot" colour map: 0 black -> red -> yellow -> 1 white. (H, W) -> uint8 (H, W, 3)."""
    h = np.clip(np.asarray(heat, dtype=np.float32), 0.0, 1.0)[..., None]
    rgb = np.clip(3.0 * h - np.array([0.0, 1.0, 2.0], dtype=np.float32), 0.0, 1.0)
    return np.rint(rgb * 255).astype(np.uint8)


def overlay(image: np.ndarray, heat: np.ndarray, strength: float = 0.6) -> np.ndarray:
    """Blend a heat map (H, W) in [0, 1] over a uint8 (H, W, 3) image, for display.

    Each pixel mixes in its heat colour in proportion to strength * heat, so cold areas
    show the photo unchanged and hot ones glow. Returns uint8 (H, W, 3).
    """
    image = np.asarray(image)
    if image.shape[:2] != np.shape(heat) or image.ndim != 3 or image.shape[2] != 3:
        raise MennyError(
            f"overlay needs an (H, W, 3) image and an (H, W) heat map, got {image.shape} "
            f"and {np.shape(heat)}"
        )
    if not 0.0 <= strength <= 1.0:
        raise MennyError(f"strength must be from 0 to 1, got {strength}")
    weight = strength * np.clip(np.asarray(heat, dtype=np.float32), 0.0, 1.0)[..., None]
    mixed = image.astype(np.float32) * (1 - weight) + heat_colours(heat) * weight
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
