"""Output format choice, loader names and colours: pure rules of the renderer."""

from __future__ import annotations

import pickle

import pytest

from confab.core.errors import InvalidInput
from confab.media.imaging.colors import grey_level, pixel, rgba
from confab.media.imaging.formats import choose_format, format_of_loader
from confab.media.imaging.limits import RenderLimits


@pytest.mark.parametrize(
    ("source", "alpha", "expected"),
    [
        ("jpeg", False, "jpeg"),
        ("png", True, "png"),
        ("gif", True, "gif"),
        ("webp", False, "webp"),
        ("avif", False, "avif"),
        ("heif", False, "jpeg"),
        ("tiff", False, "png"),  # thumbor writes TIFF sources as PNG
        ("tiff", True, "png"),
        ("svg", True, "png"),
    ],
)
def test_without_a_request_the_source_format_is_kept(
    source: str, alpha: bool, expected: str
) -> None:
    fmt = choose_format(source, animated=False, alpha=alpha, requested=None, auto_formats=())
    assert fmt == expected


def test_a_requested_format_wins() -> None:
    assert (
        choose_format("png", animated=False, alpha=True, requested="jpeg", auto_formats=("avif",))
        == "jpeg"
    )


def test_auto_formats_pick_the_first_that_suits() -> None:
    still = choose_format(
        "jpeg", animated=False, alpha=False, requested=None, auto_formats=("avif", "webp")
    )
    assert still == "avif"
    # AVIF cannot hold an animation: an animated GIF becomes an animated WebP
    moving = choose_format(
        "gif", animated=True, alpha=True, requested=None, auto_formats=("avif", "webp")
    )
    assert moving == "webp"
    only_avif = choose_format(
        "gif", animated=True, alpha=True, requested=None, auto_formats=("avif",)
    )
    assert only_avif == "gif"


def test_loader_names_map_to_formats() -> None:
    assert format_of_loader("jpegload_buffer") == "jpeg"
    assert format_of_loader("jpegload") == "jpeg"
    assert format_of_loader("pngload_source") == "png"
    assert format_of_loader("gifload_buffer") == "gif"
    assert format_of_loader("heifload_buffer", "av1") == "avif"
    assert format_of_loader("heifload_buffer", "hevc") == "heif"
    assert format_of_loader("svgload_buffer") == "svg"


def test_colours_as_pixels() -> None:
    assert rgba("red") == (255, 0, 0, 255)
    assert rgba("ff8000") == (255, 128, 0, 255)
    assert rgba("#ff8000") == (255, 128, 0, 255)
    assert rgba("ff000080") == (255, 0, 0, 128)
    assert grey_level((255, 255, 255, 255)) == 255
    assert pixel((255, 0, 0, 128), 4, with_alpha=True) == [255.0, 0.0, 0.0, 128.0]
    assert pixel((255, 255, 255, 255), 1, with_alpha=False) == [255.0]
    assert pixel((255, 255, 255, 255), 2, with_alpha=True) == [255.0, 255.0]
    with pytest.raises(InvalidInput) as caught:
        rgba("notacolour")
    assert caught.value.reason == "bad_color"


def test_limits_are_frozen_and_picklable() -> None:
    limits = RenderLimits(max_pixels=10, max_frames=2, max_output_side=100, extra_loaders=("svg",))
    assert pickle.loads(pickle.dumps(limits)) == limits
    with pytest.raises(AttributeError):
        limits.max_pixels = 5  # type: ignore[misc]
