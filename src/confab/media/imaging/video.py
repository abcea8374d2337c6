"""thumbor's gifv(): an animation written as an MP4 (H.264) or WebM (VP9) video.

PyAV (FFmpeg's libraries, bundled in its wheels with libx264 and libvpx) does the
encoding; thumbor runs the ffmpeg program instead. Videos have no alpha, so frames arrive
already flattened (onto background_color, white by default, as thumbor documents), and
H.264/VP9 in 4:2:0 need even sides: an odd side loses its last pixel row or column.
Frame times follow the GIF's delays (thumbor's docs warn that its ffmpeg route does not).
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any

from confab.core.errors import UnsupportedMedia

Image = Any  # pyvips.Image

_CODECS = {"mp4": "libx264", "webm": "libvpx-vp9"}
DEFAULT_DELAY_MS = 100  # GIF frames without a delay: 10 frames a second


def _av() -> Any:
    """PyAV, imported on first use (it maps FFmpeg's libraries: ~30 MiB)."""
    try:
        import av
    except ImportError:  # pragma: no cover - a dependency; only a broken install lacks it
        raise UnsupportedMedia(
            "gifv() needs PyAV (the 'av' package), which is not installed on this server",
            code="unsupported_format",
        ) from None
    return av


def encode(strip: Image, page_height: int, delays: list[int], container: str) -> bytes:
    """The frames of `strip` (pages stacked vertically, 8-bit sRGB) as a video."""
    av = _av()
    width = strip.width - strip.width % 2
    height = page_height - page_height % 2
    if width < 2 or height < 2:
        raise UnsupportedMedia("gifv() needs an image at least 2x2 pixels", code="bad_filter")
    pages = strip.height // page_height
    if strip.bands != 3:
        strip = strip.extract_band(0, n=3) if strip.bands > 3 else strip.colourspace("srgb")
    buffer = io.BytesIO()
    output = av.open(buffer, mode="w", format=container)
    stream = output.add_stream(_CODECS[container])
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.time_base = Fraction(1, 1000)
    pts = 0
    for index in range(pages):
        page = strip.crop(0, index * page_height, width, height)
        frame = av.VideoFrame(width, height, "rgb24")
        plane = frame.planes[0]
        padding = b"\0" * (plane.line_size - width * 3)
        rows = bytes(page.write_to_memory())
        stride = width * 3
        plane.update(b"".join(rows[y * stride : (y + 1) * stride] + padding for y in range(height)))
        frame = frame.reformat(format="yuv420p")
        frame.pts, frame.time_base = pts, Fraction(1, 1000)
        delay = delays[index] if index < len(delays) and delays[index] > 0 else DEFAULT_DELAY_MS
        pts += delay
        for packet in stream.encode(frame):
            output.mux(packet)
    for packet in stream.encode():
        output.mux(packet)
    output.close()
    return buffer.getvalue()
