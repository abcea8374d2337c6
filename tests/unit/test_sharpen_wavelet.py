"""The sharpen filter's wavelet arithmetic against a plain transcription of thumbor's
wavelet_sharpen.c (hat_transform with reflected edges, five levels, each layer amplified,
the layers added back). The filter computes the same sum in fewer passes (unscaled
bases, one weight per base, in-place hole passes); here it must give the same numbers."""

from __future__ import annotations

import math

import numpy
import pytest

from confab.media.imaging.filters.sharpen import gains, levels_for, sharpened


def hat(row: list[float], gap: int) -> list[float]:
    """thumbor's hat_transform on one row: 2x + the neighbours `gap` away, reflected at
    the edges without repeating the edge pixel, over 4."""
    size = len(row)

    def at(index: int) -> float:
        while index < 0 or index >= size:  # reflect until inside (tiny rows reflect twice)
            index = -index if index < 0 else 2 * size - 2 - index
        return row[index]

    return [(2 * row[i] + at(i - gap) + at(i + gap)) / 4 for i in range(size)]


def reference(plane: list[list[float]], amount: float, radius: float) -> list[list[float]]:
    """The wavelet sharpening of `plane` (rows of floats), one pixel at a time."""
    height, width = len(plane), len(plane[0])
    base = [list(row) for row in plane]
    result = [[0.0] * width for _ in range(height)]
    for level in range(5):
        gap = 1 << level
        if gap >= min(height, width):
            break
        across = [hat(row, gap) for row in base]
        columns = [hat([across[y][x] for y in range(height)], gap) for x in range(width)]
        low = [[columns[x][y] for x in range(width)] for y in range(height)]
        gain = amount * math.exp(-((level - radius) ** 2) / 1.5) + 1.0
        for y in range(height):
            for x in range(width):
                result[y][x] += (base[y][x] - low[y][x]) * gain
        base = low
    return [[result[y][x] + base[y][x] for x in range(width)] for y in range(height)]


@pytest.mark.parametrize(
    ("height", "width", "amount", "radius"),
    [
        (40, 56, 2.0, 1.0),  # thumbor's documented example, every level
        (24, 33, 0.5, 3.5),
        (7, 9, 2.0, 1.0),  # levels stop where a hole is as wide as the image
        (3, 40, 1.0, 0.0),  # holes wider than half the image: reflections overlap
        (40, 3, 1.0, 0.0),
        (1, 5, 2.0, 1.0),  # one row: nothing to separate
    ],
)
def test_the_wavelet_sum_is_thumbors(height: int, width: int, amount: float, radius: float) -> None:
    rng = numpy.random.default_rng(height * 1000 + width)
    plane = (rng.random((height, width)) * 255).astype(numpy.float32)
    expected = numpy.array(reference(plane.tolist(), amount, radius))
    got = sharpened(plane, amount, radius)
    assert got.shape == plane.shape
    assert numpy.abs(got - expected).max() < 1e-3


def test_a_flat_plane_stays_flat() -> None:
    plane = numpy.full((30, 50), 77.0, dtype=numpy.float32)
    assert numpy.abs(sharpened(plane, 3.0, 1.0) - 77.0).max() < 1e-3


def test_levels_and_gains() -> None:
    assert levels_for(240, 320) == 5
    assert levels_for(7, 9) == 3  # holes 1, 2, 4
    assert levels_for(1, 9) == 0
    assert gains(2.0, 1.0, 3) == pytest.approx(
        [1 + 2 * math.exp(-1 / 1.5), 3.0, 1 + 2 * math.exp(-1 / 1.5)]
    )
