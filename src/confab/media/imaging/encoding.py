"""Writing the output: one encoder call per format, metadata stripped, and max_bytes."""

from __future__ import annotations

from typing import Any

from confab.media.domain.options import OutputFormat
from confab.media.imaging.formats import LOSSY_OUTPUTS

Image = Any  # pyvips.Image

DEFAULT_QUALITY = 80  # thumbor's QUALITY
MIN_QUALITY = 10  # max_bytes never goes below this (thumbor stops there too)

# libwebp's effort ("method") 0-6; 4 is its default. At 2 it encodes a 320 px thumbnail
# about twice as fast for files about 2% larger at the same quality setting.
WEBP_EFFORT = 2
# AV1 is slow to encode: for a 320x240 thumbnail effort 4 (libvips' default) takes ~700 ms,
# 1 ~60 ms, 0 ~15 ms for a file ~14% larger. A thumbnail server cannot spend more.
AVIF_EFFORT = 0
# zlib level 6 (the zlib and Pillow default). Row filter: for 320x240 thumbnails of the
# corpus photos, "none" (libvips' default) makes files 35% larger than Pillow's; Paeth
# on every row is within 2% of Pillow's adaptive choice (and of libvips' "all") for 25%
# less CPU than "all" (~10 ms against ~13; Pillow ~32 ms).
PNG_COMPRESSION = 6
PNG_FILTER = "paeth"


def save(image: Image, fmt: OutputFormat, quality: int) -> bytes:
    """Encode `image` as `fmt` with no metadata (EXIF, XMP, IPTC, ICC all dropped)."""
    if fmt == "jpeg":
        data = image.jpegsave_buffer(Q=quality, keep="none")
    elif fmt == "webp":
        data = image.webpsave_buffer(Q=quality, effort=WEBP_EFFORT, keep="none")
    elif fmt == "avif":
        data = image.heifsave_buffer(Q=quality, compression="av1", effort=AVIF_EFFORT, keep="none")
    elif fmt == "png":
        data = image.pngsave_buffer(compression=PNG_COMPRESSION, filter=PNG_FILTER, keep="none")
    else:
        data = image.gifsave_buffer(keep="none")
    return bytes(data)


def encode(image: Image, fmt: OutputFormat, quality: int | None, max_bytes: int | None) -> bytes:
    """The encoded output; with `max_bytes`, lossy formats lower quality until it fits.

    The largest quality that fits is found by bisection (a handful of encodes of a small
    image). When even the lowest quality is too large, the smallest attempt is returned:
    like thumbor, max_bytes is a best effort, not a refusal. PNG and GIF ignore quality.
    """
    quality = quality or DEFAULT_QUALITY
    if max_bytes is None or fmt not in LOSSY_OUTPUTS:
        return save(image, fmt, quality)
    image = image.copy_memory()  # encoded several times: decode the source once
    data = save(image, fmt, quality)
    if len(data) <= max_bytes:
        return data
    smallest, best = data, None
    low, high = MIN_QUALITY, quality - 1
    while low <= high:
        middle = (low + high) // 2
        attempt = save(image, fmt, middle)
        if len(attempt) <= max_bytes:
            best, low = attempt, middle + 1
        else:
            high = middle - 1
            if len(attempt) < len(smallest):
                smallest = attempt
    return best if best is not None else smallest
