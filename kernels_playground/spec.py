"""One convolution's settings, checked once: `ConvSpec`.

A playground update reads the kernel, stride, padding, edge mode, dilation, colour mode and
flip once, here; `apply_kernel`, `step_at` and `input_window` take the spec and trust it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels_playground.arithmetic import Padding
from kernels_playground.kernels import validate_kernel
from menny_base.errors import MennyError, WrongType
from menny_base.numbers import whole

EDGES = ("zero", "valid", "replicate", "reflect")
MODES = ("luminance", "per_channel")


@dataclass(frozen=True)
class ConvSpec:
    """A kernel and how it slides.

    kernel: float32 (rows, columns), at most 15x15 (kernels.validate_kernel).
    stride S >= 1; dilation D >= 1; padding: an int (every side), a (before, after) pair,
    or "valid" / "same" / "full" (arithmetic.resolve_padding); edge: how padding is
    filled ("zero", "valid" = none, "replicate", "reflect"); mode: "luminance" (one grey
    plane) or "per_channel" (each colour plane on its own); flip: True for the textbook
    convolution (the kernel turned 180 degrees), False for cross-correlation, as CNNs do.
    Whether the padding fits an image is checked with the image (convolve.conv_geometry).
    """

    kernel: np.ndarray
    stride: int = 1
    padding: Padding = 0
    edge: str = "zero"
    dilation: int = 1
    mode: str = "luminance"
    flip: bool = False

    def __post_init__(self) -> None:
        set_field = object.__setattr__  # frozen: the checked values replace the given ones
        set_field(self, "kernel", validate_kernel(self.kernel))
        set_field(self, "stride", whole(self.stride, "stride", 1))
        set_field(self, "dilation", whole(self.dilation, "dilation", 1))
        if self.edge not in EDGES:
            raise MennyError(f"edge must be one of {', '.join(EDGES)}, got {self.edge!r}")
        if self.mode not in MODES:
            raise MennyError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not isinstance(self.flip, bool | np.bool_):
            raise WrongType(f"flip must be true or false, got {self.flip!r}")

    @classmethod
    def of(cls, kernel: object, *settings, **options) -> ConvSpec:
        """`kernel` if it is a ConvSpec already (no settings allowed then), else a new one
        from the settings in field order (stride, padding, edge, ...) or by name."""
        if isinstance(kernel, ConvSpec):
            if settings or options:
                raise MennyError(f"give either a ConvSpec or options, not both: {sorted(options)}")
            return kernel
        return cls(kernel, *settings, **options)

    @property
    def weights(self) -> np.ndarray:
        """What multiplies the pixels: the kernel, turned 180 degrees when `flip`."""
        return np.ascontiguousarray(self.kernel[::-1, ::-1]) if self.flip else self.kernel
