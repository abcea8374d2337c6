"""equalize(): histogram equalization per channel (thumbor's _equalize.c).

Each level maps to (cdf(level) - cdf_min) / (pixels - cdf_min) * 255. thumbor finds the
three cdf_min values in one scan that stops at the first level any channel uses; a
channel whose darkest level lies above that keeps cdf_min 0. That quirk is kept, so the
result matches thumbor's.
"""

from __future__ import annotations

from array import array

from confab.media.imaging.filters._pixels import Image, join, lut, split


def tables(histograms: list[list[int]], area: int) -> list[list[int]]:
    """The equalizing table of each channel from its 256-bin histogram."""
    cumulative: list[list[int]] = []
    for hist in histograms:
        total, cdf = 0, []
        for count in hist:
            total += count
            cdf.append(total if count else 0)
        cumulative.append(cdf)
    minimums = [0] * len(histograms)
    for level in range(256):
        if any(minimums):
            break
        for channel, cdf in enumerate(cumulative):
            if minimums[channel] == 0 and cdf[level]:
                minimums[channel] = cdf[level]
    result = []
    for cdf, low in zip(cumulative, minimums, strict=True):
        span = area - low
        result.append(
            [
                max(0, min(255, int((cdf[v] - low) / span * 255.0))) if span else v
                for v in range(256)
            ]
        )
    return result


def apply(image: Image) -> Image:
    """Spread each channel's values over the whole range."""
    colour, alpha = split(image)
    colour = colour.copy_memory()  # measured, then mapped: decode once
    counts = array("I")
    counts.frombytes(colour.hist_find().cast("uint").write_to_memory())
    histograms = [[counts[level * 3 + band] for level in range(256)] for band in range(3)]
    return join(colour.maplut(lut(tables(histograms, colour.width * colour.height))), alpha)
