"""rotate(angle): turn by a multiple of 90 degrees, counter-clockwise (thumbor's PIL
engine); the grammar has already dropped other angles, which thumbor ignores."""

from __future__ import annotations

from confab.media.imaging.filters._pixels import Image

# Counter-clockwise angle -> libvips' clockwise turn.
_TURNS = {90: "d270", 180: "d180", 270: "d90"}


def apply(image: Image, angle: int) -> Image:
    """The image turned; width and height swap for 90 and 270."""
    return image.copy_memory().rot(_TURNS[angle % 360])
