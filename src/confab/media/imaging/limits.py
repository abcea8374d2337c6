"""The renderer's caps, as plain picklable data (no image library here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """What a render may cost and produce.

    `max_pixels` counts the pixel values a decoder would hold: every kept frame's own
    rectangle (a GIF frame may be larger than its screen) times the decoder's bands;
    `max_frames` caps the frames kept from an animation (later ones are dropped);
    `max_output_side` caps each side of the output (larger requests are scaled down);
    `extra_loaders` names loaders enabled beyond JPEG, PNG, WebP, GIF and HEIF/AVIF
    (for example "tiff", "svg").
    """

    max_pixels: int = 200_000_000
    max_frames: int = 256
    max_output_side: int = 8192
    extra_loaders: tuple[str, ...] = ()
