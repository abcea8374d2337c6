"""convolution(items, columns[, normalize]): an arbitrary kernel over the colour bands
(thumbor's _convolution.c), edges extended; normalize divides by the sum of the items."""

from __future__ import annotations

import pyvips

from confab.media.imaging.filters._pixels import Image, join, split


def apply(image: Image, items: str, columns: int, normalize: bool) -> Image:
    """The convolved image."""
    values = [float(item) for item in items.split(";")]
    rows = [values[i : i + columns] for i in range(0, len(values), columns)]
    total = sum(values)
    scale = total if normalize and total != 0 else 1.0
    kernel = pyvips.Image.new_from_list(rows, scale=scale)
    colour, alpha = split(image)
    return join(colour.conv(kernel, precision="float"), alpha)
