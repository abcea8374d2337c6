"""Helpers the pixel filters share: the colour bands apart from alpha, lookup tables.

thumbor's filters work on the image as RGB(A) bytes (`image_data_as_rgb`), so a grey image
is made RGB first, and alpha is left untouched unless a filter says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyvips

Image = Any  # pyvips.Image


def split(image: Image) -> tuple[Image, Image | None]:
    """(the three colour bands as 8-bit sRGB, the alpha band or None)."""
    if image.bands < 3:
        image = image.colourspace("srgb")
    if image.bands == 4:
        return image.extract_band(0, n=3), image.extract_band(3)
    return image.extract_band(0, n=3), None


def join(colour: Image, alpha: Image | None) -> Image:
    """The colour bands cast back to 8 bits (clipped), with the alpha band if any."""
    if colour.format != "uchar":
        colour = colour.cast("uchar")
    return colour if alpha is None else colour.bandjoin(alpha)


def clip(value: float) -> int:
    """thumbor's ADJUST_COLOR: clamp to 0..255."""
    return 0 if value < 0 else 255 if value > 255 else int(value)


def lut(tables: Sequence[Sequence[int]]) -> Image:
    """A 256-entry lookup table image: one band per table (each 256 values 0..255)."""
    data = bytes(tables[band][index] for index in range(256) for band in range(len(tables)))
    return pyvips.Image.new_from_memory(data, 256, 1, len(tables), "uchar")


def map_colours(image: Image, tables: Sequence[Sequence[int]]) -> Image:
    """Replace each colour band's values through its table (alpha untouched)."""
    colour, alpha = split(image)
    return join(colour.maplut(lut(tables)), alpha)


def c_div(numerator: int, denominator: int) -> int:
    """C's integer division (truncates towards zero), as thumbor's filters compute."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient
