"""Colours of thumbor's fill() and background_color() as pixel values.

The grammar (`confab.media.domain.colors`) already normalizes every spelling to
`rrggbb` or `rrggbbaa`; this accepts those and anything else that module accepts.
"""

from __future__ import annotations

from confab.core.errors import InvalidInput
from confab.media.domain.colors import parse_color

RGBA = tuple[int, int, int, int]


def rgba(text: str) -> RGBA:
    """(r, g, b, a) from a colour name or hex digits (`red`, `f00`, `ff000080`)."""
    digits = parse_color(text.strip().removeprefix("#"))
    if digits is None:
        raise InvalidInput(f"unknown colour {text!r}", code="bad_color")
    alpha = int(digits[6:8], 16) if len(digits) == 8 else 255
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16), alpha


def grey_level(color: RGBA) -> int:
    """The colour's luminance (Rec. 709 weights), for one-band images."""
    r, g, b, _ = color
    return round(0.2126 * r + 0.7152 * g + 0.0722 * b)


def pixel(color: RGBA, bands: int, *, with_alpha: bool) -> list[float]:
    """`color` as a pixel of an image with `bands` bands (alpha last when `with_alpha`)."""
    colour_bands = bands - 1 if with_alpha else bands
    values = [float(grey_level(color))] if colour_bands < 3 else [float(c) for c in color[:3]]
    values = values[:colour_bands] + [values[-1]] * (colour_bands - len(values))
    if with_alpha:
        values.append(float(color[3]))
    return values
