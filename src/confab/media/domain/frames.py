"""What a decoder allocates for an image: every frame's own rectangle, frames, bands.

A GIF's logical screen and its frames' descriptors give sizes independently: a frame may
claim 65535x255 on a 32x24 screen, and a decoder draws each frame into a canvas that
holds it, so a header-only look at the screen undercounts by orders of magnitude. The
GIF block walk here reads only descriptors and skips pixel data by its sub-block
lengths (no LZW decoding), so it costs microseconds per frame. Written by hand: the
image libraries we have either decode the pixels or report only the canvas.

Animated WebP needs no walk: its container refuses frames outside the canvas, so the
canvas libvips reports bounds every frame. PNG sources are read as one frame.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

_SCREEN = struct.Struct("<HHBBB")
_DESCRIPTOR = struct.Struct("<HHHHB")
_COLOUR_TABLE = 0x80


@dataclass(frozen=True, slots=True)
class FrameRect:
    """Where a frame says it goes on the canvas, in pixels."""

    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class GifFrames:
    """A GIF's logical screen size and the rectangles of its first frames."""

    width: int
    height: int
    frames: tuple[FrameRect, ...]


def scan_gif(data: bytes | memoryview, max_frames: int) -> GifFrames | None:
    """The screen and the first `max_frames` frame rectangles of a GIF, or None if `data`
    is not a GIF. A truncated file gives the frames found before it ends."""
    view = memoryview(data)
    if len(view) < 13 or bytes(view[:6]) not in (b"GIF87a", b"GIF89a"):
        return None
    width, height, flags, _, _ = _SCREEN.unpack_from(view, 6)
    position = 13 + _table_size(flags)
    frames: list[FrameRect] = []
    while position < len(view) and len(frames) < max_frames:
        marker = view[position]
        if marker == 0x2C:  # image descriptor
            if position + 10 > len(view):
                break
            left, top, frame_width, frame_height, frame_flags = _DESCRIPTOR.unpack_from(
                view, position + 1
            )
            frames.append(FrameRect(left, top, frame_width, frame_height))
            # Past the descriptor, its local colour table and the LZW code size byte.
            position = _skip_blocks(view, position + 10 + _table_size(frame_flags) + 1)
        elif marker == 0x21:  # extension: label, then sub-blocks
            position = _skip_blocks(view, position + 2)
        else:  # 0x3B trailer, or garbage a decoder stops at too
            break
    return GifFrames(width, height, tuple(frames))


def _table_size(flags: int) -> int:
    return 3 * (2 << (flags & 0x07)) if flags & _COLOUR_TABLE else 0


def _skip_blocks(view: memoryview, position: int) -> int:
    """The position after a chain of data sub-blocks (each led by its length, 0 ends)."""
    while position < len(view):
        size = view[position]
        position += 1 + size
        if size == 0:
            break
    return position


def decoded_values(
    canvas_width: int,
    canvas_height: int,
    rects: Sequence[FrameRect],
    frames: int,
    bands: int,
) -> int:
    """Pixel values (pixels x bands) a decoder holds for `frames` frames.

    Each frame costs the box covering both the canvas and its own rectangle (a decoder
    grows its canvas to fit a frame that sticks out, or allocates the frame itself);
    frames past the rectangles known cost the canvas.
    """
    total = 0
    canvas = canvas_width * canvas_height
    for index in range(frames):
        if index < len(rects):
            rect = rects[index]
            width = max(canvas_width, rect.left + rect.width)
            height = max(canvas_height, rect.top + rect.height)
            total += width * height
        else:
            total += canvas
    return total * bands
