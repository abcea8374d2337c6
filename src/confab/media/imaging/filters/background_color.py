"""background_color(colour): transparency composited onto a colour; also what every
output without alpha (JPEG) gets, onto white by default."""

from __future__ import annotations

from confab.media.domain.options import OutputFormat
from confab.media.imaging.colors import RGBA, pixel, rgba
from confab.media.imaging.filters._pixels import Image
from confab.media.imaging.formats import ALPHA_OUTPUTS

WHITE: RGBA = (255, 255, 255, 255)


def flatten(image: Image, fmt: OutputFormat, background_color: str | None) -> Image:
    """Composite transparency onto `background_color` (or white when `fmt` has no alpha)."""
    if not image.hasalpha():
        return image
    if background_color is None and fmt in ALPHA_OUTPUTS:
        return image
    color = rgba(background_color) if background_color is not None else WHITE
    return image.flatten(background=pixel(color, image.bands - 1, with_alpha=False))
