"""The images a render's filters draw from besides the source (watermark, frame).

The service fetched them (through the same fetcher, SSRF rules and caps as a source)
and hands their bytes to the render; here they are decoded once each, under the same
loader policy and pixel cap, as 8-bit sRGB with alpha.
"""

from __future__ import annotations

from typing import Any

from confab.core.errors import InvalidInput
from confab.media.imaging.limits import RenderLimits
from confab.media.imaging.shaping import to_srgb
from confab.media.imaging.source import Header, decode_checked, load, read_header

Image = Any  # pyvips.Image


class Overlays:
    """Decoded overlay images by URL (as the grammar normalized it)."""

    def __init__(self, data: dict[str, bytes], limits: RenderLimits) -> None:
        self._data = data
        self._limits = limits
        self._decoded: dict[str, Image] = {}

    def rgba(self, url: str) -> Image:
        """The overlay at `url`, upright, 8-bit sRGB with an alpha band, in memory."""
        decoded = self._decoded.get(url)
        if decoded is not None:
            return decoded
        data = self._data.get(url)
        if data is None:
            raise InvalidInput(f"the filter image {url[:80]} was not fetched", code="bad_filter")
        # Decoded as a source is (a JPEG that holds fewer pixels than it claims refused).
        decoded = decode_checked(read_header(data, self._limits), _rgba)
        self._decoded[url] = decoded
        return decoded


def _rgba(header: Header) -> Image:
    """The pixels of `header`'s source, upright, 8-bit sRGB with alpha, in memory."""
    image = load(header)
    if header.orientation != 1:
        image = image.copy_memory().autorot()
    image = to_srgb(image, header.icc)
    if image.bands < 3:
        image = image.colourspace("srgb")
    if not image.hasalpha():
        image = image.bandjoin_const([255])
    return image.copy_memory()
