"""saturation(change): move each colour away from its perceived brightness (thumbor's
_saturation.c: p = sqrt(.299 r^2 + .587 g^2 + .114 b^2), value = p + (value - p) * change)."""

from __future__ import annotations

from confab.media.imaging.filters._pixels import Image, join, split


def apply(image: Image, change: float) -> Image:
    """Saturate (change > 1) or desaturate (0 is grey)."""
    colour, alpha = split(image)
    values = colour.cast("float")
    # x * x rather than x ** 2: libvips' pow is a general (and slow) power function.
    p = (values * values).recomb([[0.299, 0.587, 0.114]]) ** 0.5
    result = p + (values - p) * change
    # C assigns the float to an int (truncation), then clamps: cast does both.
    return join(result.cast("uchar"), alpha)
