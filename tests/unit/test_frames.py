"""The frame-rectangle arithmetic of the pixel cap, and the GIF descriptor walk."""

from __future__ import annotations

import pytest

from confab.media.domain.frames import FrameRect, decoded_values, scan_gif
from tests.hostile_images import gif, many_frames_gif, wide_frame_gif


@pytest.mark.parametrize(
    ("canvas", "rects", "frames", "bands", "expected"),
    [
        ((32, 24), [], 1, 3, 32 * 24 * 3),  # a still: the canvas times its bands
        ((32, 24), [FrameRect(0, 0, 65535, 255)], 1, 4, 65535 * 255 * 4),  # frame > screen
        ((32, 24), [FrameRect(0, 0, 8, 8)], 1, 4, 32 * 24 * 4),  # small frame: the canvas
        ((100, 100), [FrameRect(90, 95, 20, 20)], 1, 1, 110 * 115),  # sticks out right, down
        ((400, 400), [], 256, 4, 400 * 400 * 256 * 4),  # frames beyond those scanned
        (
            (10, 10),
            [FrameRect(0, 0, 10, 10), FrameRect(0, 0, 30, 10)],
            3,
            4,
            (100 + 300 + 100) * 4,  # each frame its own box; the third is the canvas
        ),
        ((10, 10), [FrameRect(0, 0, 50, 50)] * 5, 2, 4, 2 * 2500 * 4),  # only frames kept
    ],
)
def test_decoded_values(
    canvas: tuple[int, int], rects: list[FrameRect], frames: int, bands: int, expected: int
) -> None:
    assert decoded_values(canvas[0], canvas[1], rects, frames, bands) == expected


def test_scan_reads_the_screen_and_every_frame_descriptor() -> None:
    data = gif((32, 24), [(0, 0, 65535, 255, 1), (3, 4, 5, 6, 2)], pixels=64)
    scanned = scan_gif(data, 10)
    assert scanned is not None
    assert (scanned.width, scanned.height) == (32, 24)
    assert scanned.frames == (FrameRect(0, 0, 65535, 255), FrameRect(3, 4, 5, 6))


def test_scan_stops_at_max_frames_and_at_truncation() -> None:
    data = many_frames_gif(frames=50, side=20)
    full = scan_gif(data, 1000)
    assert full is not None and len(full.frames) == 50
    capped = scan_gif(data, 7)
    assert capped is not None and len(capped.frames) == 7
    cut = scan_gif(data[: len(data) // 2], 1000)
    assert cut is not None and 0 < len(cut.frames) < 50


def test_the_hostile_wide_gif_is_tiny_and_claims_a_huge_frame() -> None:
    data = wide_frame_gif()
    assert len(data) < 256
    scanned = scan_gif(data, 256)
    assert scanned is not None and scanned.frames[0].width == 65535


def test_not_a_gif() -> None:
    assert scan_gif(b"\x89PNG\r\n\x1a\n" + bytes(20), 10) is None
    assert scan_gif(b"GIF8", 10) is None
