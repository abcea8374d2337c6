"""saturation() against thumbor's _saturation.c, pixel by pixel: p = sqrt(.299 r^2 +
.587 g^2 + .114 b^2), each band p + (band - p) * change, assigned to an int (truncated)
and clamped to 0..255; alpha is left alone."""

from __future__ import annotations

import math
import random

import pytest
import pyvips

from confab.media.imaging.filters.saturation import apply


def thumbor_pixel(rgb: tuple[int, int, int], change: float) -> list[int]:
    r, g, b = rgb
    p = math.sqrt(0.299 * r * r + 0.587 * g * g + 0.114 * b * b)
    return [min(255, max(0, int(p + (band - p) * change))) for band in rgb]


@pytest.mark.parametrize("change", [0.0, 0.2, 1.0, 1.5, 3.0, -1.0])
def test_saturation_is_thumbors_arithmetic(change: float) -> None:
    rng = random.Random(7)
    width, height = 23, 9
    pixels = [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(207)]
    data = bytes(value for pixel in pixels for value in (*pixel, 99))
    image = pyvips.Image.new_from_memory(data, width, height, 4, "uchar")
    out = apply(image.copy(interpretation="srgb"), change)
    assert (out.width, out.height, out.bands) == (width, height, 4)
    got = list(bytes(out.write_to_memory()))
    for index, pixel in enumerate(pixels):
        expected = thumbor_pixel(pixel, change)
        found = got[index * 4 : index * 4 + 3]
        # float32 against C's double: a value on an integer boundary may land one below.
        assert all(abs(a - b) <= 1 for a, b in zip(found, expected, strict=True)), (pixel, found)
        assert got[index * 4 + 3] == 99  # alpha untouched
    exact = sum(
        got[i * 4 : i * 4 + 3] == thumbor_pixel(pixel, change) for i, pixel in enumerate(pixels)
    )
    assert exact >= len(pixels) * 0.97
