"""proportion(p): scale the result by p (0 < p < 1), as thumbor does after its transform."""

from __future__ import annotations

from confab.media.imaging.filters._pixels import Image
from confab.media.imaging.geometry import Size
from confab.media.imaging.shaping import resize


def apply(image: Image, ratio: float) -> Image:
    """The image `ratio` times its size (at least one pixel a side)."""
    width = max(1, round(image.width * ratio))
    height = max(1, round(image.height * ratio))
    return resize(image, Size(width, height))
