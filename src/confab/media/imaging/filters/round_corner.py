"""round_corner(a|b, r, g, b[, transparent]): cut elliptical corners, painted with the
colour or made transparent (thumbor's _round_corner.c, radii capped at half the sides).

The corner mask is computed from pixel coordinates with a one-pixel soft edge, where
thumbor draws scanlines with a similar anti-aliased rim.
"""

from __future__ import annotations

import pyvips

from confab.media.imaging.filters._pixels import Image, join, split


def coverage(width: int, height: int, a_radius: int, b_radius: int) -> Image:
    """A float mask: 1 inside the rounded rectangle, 0 outside, soft over one pixel."""
    a = min(a_radius, width // 2)
    b = min(b_radius, height // 2)
    xy = pyvips.Image.xyz(width, height).cast("float") + 0.5
    x, y = xy.extract_band(0), xy.extract_band(1)
    # Distance into each corner box, 0 outside the corner boxes.
    dx = ((a - x).maxpair(x - (width - a))).maxpair(0.0)
    dy = ((b - y).maxpair(y - (height - b))).maxpair(0.0)
    q = ((dx / a) ** 2 + (dy / b) ** 2) ** 0.5
    # (1 - q) times the smaller radius is about the distance to the edge in pixels.
    inside = ((1.0 - q) * min(a, b) + 0.5).maxpair(0.0).minpair(1.0)
    return inside


def apply(
    image: Image, a_radius: int, b_radius: int, red: int, green: int, blue: int, transparent: bool
) -> Image:
    """Rounded corners over the colour (or transparency)."""
    a = min(a_radius, image.width // 2)
    b = min(b_radius, image.height // 2)
    if a <= 0 or b <= 0:
        return image
    mask = coverage(image.width, image.height, a, b)
    colour, alpha = split(image)
    if transparent:
        alpha = alpha if alpha is not None else colour.new_from_image(255).extract_band(0)
        return join(colour, (alpha * mask).cast("uchar"))
    painted = colour * mask + (1.0 - mask) * [float(red), float(green), float(blue)]
    return join(painted, alpha)
