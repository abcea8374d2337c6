"""contrast(amount): stretch values away from (or towards) mid-grey (thumbor's _contrast.c).

The factor is ((amount + 100)^2 / 100) / 100, computed in integers as thumbor does.
"""

from __future__ import annotations

from confab.media.imaging.filters._pixels import Image, c_div, clip, map_colours


def table(amount: int) -> list[int]:
    """The value each input level becomes."""
    factor = (amount + 100) * (amount + 100) // 100
    return [clip(c_div(factor * (level - 128), 100) + 128) for level in range(256)]


def apply(image: Image, amount: int) -> Image:
    """More contrast (amount > 0) or less."""
    levels = table(amount)
    return map_colours(image, [levels] * 3)
