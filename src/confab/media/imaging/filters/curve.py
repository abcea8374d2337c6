"""curve(all, red, green, blue): tone curves through control points (thumbor's _curve.c).

Each curve is a natural cubic spline through its (x, y) points, sampled at every level;
levels before the first point take its y, levels from the last point on take the last y.
A channel goes through its own curve, then through the curve for all channels.
Written here (20 lines) rather than with a numerical library: it is one small tridiagonal
solve per curve, and the result must follow thumbor's rounding exactly.
"""

from __future__ import annotations

import math

from confab.media.imaging.filters._pixels import Image, map_colours

Points = list[tuple[int, int]]


def parse(text: str) -> Points:
    """`x,y;x,y;...` (the grammar's normalized form) as points."""
    return [(int(x), int(y)) for x, y in (pair.split(",") for pair in text.split(";"))]


def _second_derivatives(points: Points) -> list[float]:
    n = len(points)
    lower, diag, upper, rhs = [0.0] * n, [1.0] * n, [0.0] * n, [0.0] * n
    for i in range(1, n - 1):
        (x0, y0), (x1, y1), (x2, y2) = points[i - 1], points[i], points[i + 1]
        lower[i], diag[i], upper[i] = (x1 - x0) / 6, (x2 - x0) / 3, (x2 - x1) / 6
        rhs[i] = (y2 - y1) / (x2 - x1) - (y1 - y0) / (x1 - x0)
    for i in range(1, n):  # forward elimination
        k = lower[i] / diag[i - 1]
        diag[i] -= k * upper[i - 1]
        rhs[i] -= k * rhs[i - 1]
    result = [0.0] * n
    for i in range(n - 1, -1, -1):  # back substitution
        following = upper[i] * result[i + 1] if i < n - 1 else 0.0
        result[i] = (rhs[i] - following) / diag[i]
    return result


def table(points: Points) -> list[int]:
    """The curve sampled at levels 0..255."""
    derivatives = _second_derivatives(points)
    levels = [points[0][1]] * 256
    for i in range(len(points) - 1):
        (x0, y0), (x1, y1) = points[i], points[i + 1]
        h = x1 - x0
        for x in range(x0, x1):
            t = (x - x0) / h
            a, b = 1 - t, t
            y = (
                a * y0
                + b * y1
                + (h * h / 6) * ((a**3 - a) * derivatives[i] + (b**3 - b) * derivatives[i + 1])
            )
            levels[x] = max(0, min(255, math.floor(y + 0.5)))  # C's round(), half up
    for x in range(points[-1][0], 256):
        levels[x] = points[-1][1]
    return levels


def apply(image: Image, every: str, red: str, green: str, blue: str) -> Image:
    """Map each channel through its curve, then through the curve for all."""
    common = table(parse(every))
    composed = [[common[own[level]] for level in range(256)] for own in (
        table(parse(red)), table(parse(green)), table(parse(blue))
    )]  # fmt: skip
    return map_colours(image, composed)
