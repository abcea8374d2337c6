"""HEIC (HEVC-coded HEIF) sources, decoded with pillow-heif.

pyvips-binary's libvips reads HEIF containers but carries no HEVC decoder (only AV1, for
AVIF), so its heifload reads a HEIC header and fails on the pixels. pillow-heif's wheels
bundle libheif with libde265 (the usual HEVC decoder), so HEIC photos from phones are
decoded there, once, into memory, after libvips' header has passed the pixel cap. The
container's rotation and mirroring (irot/imir) are applied by libheif, so the EXIF
orientation tag no longer applies.
"""

from __future__ import annotations

from typing import Any

import pyvips

from confab.core.errors import UnsupportedMedia

Image = Any  # pyvips.Image


def decode(data: bytes) -> Image:
    """The primary image of a HEIC file as 8-bit sRGB (with alpha when it has one)."""
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - a dependency; only a broken install lacks it
        raise UnsupportedMedia(
            "HEIC images need pillow-heif (libheif with libde265), not installed here",
            code="unsupported_format",
        ) from None
    heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
    width, height = heif.size
    bands = 4 if heif.mode == "RGBA" else 3
    pixels = heif.data
    row = width * bands
    if heif.stride != row:
        # libheif pads rows; libvips wants them packed.
        pixels = b"".join(pixels[y * heif.stride : y * heif.stride + row] for y in range(height))
    image = pyvips.Image.new_from_memory(bytes(pixels), width, height, bands, "uchar")
    return image.copy(interpretation="srgb")
