"""blur(radius[, sigma]): a Gaussian blur (the grammar turns thumbor's radius and sigma
into one sigma)."""

from __future__ import annotations

from confab.media.imaging.filters._pixels import Image


def apply(image: Image, sigma: float) -> Image:
    """The blurred image."""
    return image.gaussblur(max(0.3, sigma))
