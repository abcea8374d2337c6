"""round_corner(a|b, r, g, b[, transparent]): cut elliptical corners, painted with the
colour or made transparent (thumbor's _round_corner.c, radii capped at half the sides).

Only the four a x b corner tiles change: the coverage of one corner is computed from pixel
coordinates (with a one-pixel soft edge, where thumbor draws an anti-aliased rim), mirrored
for the other three, and each tile is blended and put back.
"""

from __future__ import annotations

import functools

import pyvips

from confab.media.imaging.filters._pixels import Image


def corner_coverage(a: int, b: int) -> Image:
    """A float a x b mask for the top-left corner: 1 inside the ellipse, 0 outside."""
    xy = pyvips.Image.xyz(a, b).cast("float") + 0.5
    dx = (a - xy.extract_band(0)) / a
    dy = (b - xy.extract_band(1)) / b
    q = (dx * dx + dy * dy) ** 0.5
    # (1 - q) times the smaller radius is about the distance to the edge in pixels.
    return ((1.0 - q) * min(a, b) + 0.5).maxpair(0.0).minpair(1.0)


@functools.lru_cache(maxsize=32)
def _corners(a: int, b: int) -> tuple[Image, Image, Image, Image]:
    """The four 8-bit corner tiles (top-left, top-right, bottom-left, bottom-right), kept
    per worker: the same few radii come back on every request, and computing a tile is
    a dozen libvips calls."""
    top_left = (corner_coverage(a, b) * 255).cast("uchar").copy_memory()
    top_right = top_left.flip("horizontal").copy_memory()
    return (
        top_left,
        top_right,
        top_left.flip("vertical").copy_memory(),
        top_right.flip("vertical").copy_memory(),
    )


@functools.lru_cache(maxsize=16)
def coverage(width: int, height: int, a: int, b: int) -> Image:
    """An 8-bit width x height mask: 255 inside the rounded rectangle, 0 outside.

    Kept per worker (16 at most, 77 KB for 320x240): a URL pattern asks for the same
    output size and radii again and again.
    """
    top_left, top_right, bottom_left, bottom_right = _corners(a, b)
    mask = pyvips.Image.black(width, height).new_from_image(255).cast("uchar").copy_memory()
    mask = mask.draw_image(top_left, 0, 0).draw_image(top_right, width - a, 0)
    mask = mask.draw_image(bottom_left, 0, height - b)
    return mask.draw_image(bottom_right, width - a, height - b).copy_memory()


def apply(
    image: Image, a_radius: int, b_radius: int, red: int, green: int, blue: int, transparent: bool
) -> Image:
    """Rounded corners over the colour (or transparency)."""
    a = min(a_radius, image.width // 2)
    b = min(b_radius, image.height // 2)
    if a <= 0 or b <= 0:
        return image
    if image.bands < 3:
        image = image.colourspace("srgb")
    mask = coverage(image.width, image.height, a, b)
    if transparent:
        rgb = image.extract_band(0, n=3)
        alpha = image.extract_band(3) if image.hasalpha() else mask
        if image.hasalpha():
            alpha = (alpha * mask / 255).cast("uchar")
        return rgb.bandjoin(alpha)
    rgb = image.extract_band(0, n=3)
    # One pass: libvips blends by the mask (255 keeps the picture, 0 paints the colour).
    painted = mask.ifthenelse(rgb, [float(red), float(green), float(blue)], blend=True)
    return painted.bandjoin(image.extract_band(3)) if image.hasalpha() else painted
