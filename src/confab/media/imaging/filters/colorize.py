"""colorize(r%, g%, b%, fill): blend each channel towards the fill colour (thumbor's
_colorize.c: value * (100 - pct) / 100 + fill * pct / 100)."""

from __future__ import annotations

from confab.media.imaging.filters._pixels import Image, clip, map_colours


def table(percent: int, fill: int) -> list[int]:
    """The value each input level of one channel becomes."""
    return [clip((level * (100.0 - percent) + fill * percent) / 100.0) for level in range(256)]


def apply(image: Image, red: int, green: int, blue: int, fill: str) -> Image:
    """Blend towards `fill` (rrggbb) by the given percentage per channel."""
    fills = [int(fill[i : i + 2], 16) for i in (0, 2, 4)]
    return map_colours(image, [table(red, fills[0]), table(green, fills[1]), table(blue, fills[2])])
