"""brightness(amount): add amount% of 255 to every colour value (thumbor's _brightness.c)."""

from __future__ import annotations

from confab.media.imaging.filters._pixels import Image, c_div, clip, map_colours


def table(amount: int) -> list[int]:
    """The value each input level becomes."""
    delta = c_div(255 * amount, 100)
    return [clip(level + delta) for level in range(256)]


def apply(image: Image, amount: int) -> Image:
    """Brighten (amount > 0) or darken the colour bands."""
    levels = table(amount)
    return map_colours(image, [levels] * 3)
