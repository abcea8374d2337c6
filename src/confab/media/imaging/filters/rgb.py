"""rgb(r, g, b): add r%, g%, b% of 255 to the red, green and blue values (thumbor's _rgb.c)."""

from __future__ import annotations

from confab.media.imaging.filters._pixels import Image, c_div, clip, map_colours


def table(amount: int) -> list[int]:
    """The value each input level of one channel becomes."""
    delta = c_div(255 * amount, 100)
    return [clip(level + delta) for level in range(256)]


def apply(image: Image, red: int, green: int, blue: int) -> Image:
    """Shift each channel on its own."""
    return map_colours(image, [table(red), table(green), table(blue)])
