"""sharpen(amount, radius, luminance_only): wavelet sharpening (thumbor's wavelet_sharpen.c,
after Marco Rossini's GIMP plug-in).

The image is split into five "a trous" wavelet detail layers (a [1 2 1]/4 kernel with
holes 1, 2, 4, 8, 16 pixels apart); layer `lev` is amplified by
1 + amount * exp(-(lev - radius)^2 / 1.5) and the layers are added back. With
luminance_only only the luma (Y of YCbCr) is sharpened, which shifts R, G and B alike.
"""

from __future__ import annotations

import math

import pyvips

from confab.media.imaging.filters._pixels import Image, join, split

LEVELS = 5


def _kernel(level: int) -> Image:
    """The 1-D [1 2 1]/4 kernel with 2^level - 1 zeros between its taps."""
    gap = 1 << level
    taps = [0.0] * (2 * gap + 1)
    taps[0], taps[gap], taps[-1] = 1.0, 2.0, 1.0
    return pyvips.Image.new_from_list([taps], scale=4.0)


def sharpened(plane: Image, amount: float, radius: float) -> Image:
    """One float plane with its wavelet details amplified."""
    base = plane
    result = None
    for level in range(LEVELS):
        low = base.convsep(_kernel(level), precision="float")
        gain = amount * math.exp(-((level - radius) ** 2) / 1.5) + 1.0
        detail = (base - low) * gain
        result = detail if result is None else result + detail
        base = low
    assert result is not None
    return result + base


def apply(image: Image, amount: float, radius: float, luminance_only: bool) -> Image:
    """The sharpened image."""
    colour, alpha = split(image)
    colour = colour.cast("float").copy_memory()  # read once per wavelet level
    if luminance_only:
        luma = colour.recomb([[0.299, 0.587, 0.114]])
        result = colour + (sharpened(luma, amount, radius) - luma)
    else:
        result = sharpened(colour, amount, radius)
    return join(result.cast("uchar"), alpha)
