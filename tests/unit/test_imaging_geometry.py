"""The renderer's geometry: thumbor's sizing rules as a pure function (no pyvips)."""

from __future__ import annotations

import pytest

from confab.media.domain.options import CropBox, RenderOptions
from confab.media.imaging.geometry import Box, Size, jpeg_shrink, plan_layout

SOURCE = Size(800, 600)
MAX_SIDE = 8192


def out(options: RenderOptions, source: Size = SOURCE, max_side: int = MAX_SIDE) -> Size:
    return plan_layout(source, options, max_side).output


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # crop-to-fill (thumbor's default): exactly the box
        (RenderOptions(width=300, height=200), Size(300, 200)),
        (RenderOptions(width=100, height=400), Size(100, 400)),
        # a 0 side keeps the aspect ratio; both 0 keep the source size
        (RenderOptions(width=300), Size(300, 225)),
        (RenderOptions(height=300), Size(400, 300)),
        (RenderOptions(), Size(800, 600)),
        # orig keeps the source's side
        (RenderOptions(width_orig=True, height=100), Size(800, 100)),
        (RenderOptions(width_orig=True, height_orig=True), Size(800, 600)),
        # crop mode enlarges, like thumbor
        (RenderOptions(width=1600, height=1600), Size(1600, 1600)),
    ],
)
def test_crop_mode_sizes(options: RenderOptions, expected: Size) -> None:
    assert out(options) == expected


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (RenderOptions(width=300, height=300, fit="fit-in"), Size(300, 225)),
        (RenderOptions(width=300, height=100, fit="fit-in"), Size(133, 100)),
        (RenderOptions(width=320, height=0, fit="fit-in"), Size(320, 240)),
        # fit-in does not enlarge unless upscale() is given
        (RenderOptions(width=1000, height=1000, fit="fit-in"), Size(800, 600)),
        (RenderOptions(width=1000, height=1000, fit="fit-in", upscale=True), Size(1000, 750)),
        # adaptive turns the box to the source's orientation
        (RenderOptions(width=300, height=400, fit="adaptive-fit-in"), Size(400, 300)),
        (RenderOptions(width=300, height=400, fit="fit-in"), Size(300, 225)),
        # full-fit-in covers the box (the smaller side fits), and enlarges like thumbor
        (RenderOptions(width=300, height=300, fit="full-fit-in"), Size(400, 300)),
        (RenderOptions(width=1200, height=1200, fit="full-fit-in"), Size(1600, 1200)),
        (RenderOptions(width=1200, height=1200, fit="full-fit-in", upscale=False), Size(800, 600)),
    ],
)
def test_fit_modes(options: RenderOptions, expected: Size) -> None:
    assert out(options) == expected


def test_no_upscale_caps_each_requested_side_like_thumbor() -> None:
    small = Size(300, 200)
    assert out(RenderOptions(width=600, height=400, upscale=False), small) == Size(300, 200)
    assert out(RenderOptions(width=600, height=100, upscale=False), small) == Size(300, 100)


def test_crop_window_follows_the_alignment() -> None:
    def window(halign: str, valign: str) -> Box | None:
        options = RenderOptions(width=300, height=300, halign=halign, valign=valign)  # type: ignore[arg-type]
        return plan_layout(SOURCE, options, MAX_SIDE).crop

    assert window("left", "middle") == Box(0, 0, 300, 300)
    assert window("center", "middle") == Box(50, 0, 300, 300)
    assert window("right", "middle") == Box(100, 0, 300, 300)
    tall = RenderOptions(width=100, height=50, valign="bottom")
    layout = plan_layout(Size(100, 100), tall, MAX_SIDE)
    assert layout.crop == Box(0, 50, 100, 50)


def test_manual_crop_applies_before_the_resize() -> None:
    layout = plan_layout(SOURCE, RenderOptions(crop=CropBox(100, 50, 500, 350)), MAX_SIDE)
    assert layout.region == Box(100, 50, 400, 300)
    assert layout.output == Size(400, 300)
    halved = plan_layout(SOURCE, RenderOptions(width=200, crop=CropBox(100, 50, 500, 350)), 9999)
    assert halved.resize == Size(200, 150)


def test_manual_crop_is_clamped_and_an_empty_one_ignored() -> None:
    clamped = plan_layout(SOURCE, RenderOptions(crop=CropBox(700, 500, 2000, 2000)), MAX_SIDE)
    assert clamped.region == Box(700, 500, 100, 100)
    empty = plan_layout(SOURCE, RenderOptions(crop=CropBox(300, 300, 300, 400)), MAX_SIDE)
    assert empty.region == Box(0, 0, 800, 600)


def test_manual_crop_is_relative_to_the_source_after_a_trim() -> None:
    trim = Box(100, 100, 400, 300)
    layout = plan_layout(SOURCE, RenderOptions(crop=CropBox(150, 150, 250, 200)), 9999, trim=trim)
    assert layout.region == Box(150, 150, 100, 50)


def test_flips_are_planned() -> None:
    layout = plan_layout(SOURCE, RenderOptions(width=10, height=10, flip_horizontal=True), MAX_SIDE)
    assert [op["type"] for op in layout.operations()][-1] == "flip_horizontally"


def test_fill_pads_a_fit_in_result_to_the_box_centred() -> None:
    layout = plan_layout(
        SOURCE, RenderOptions(width=300, height=300, fit="fit-in", fill="red"), MAX_SIDE
    )
    assert layout.image == Size(300, 225)
    assert layout.output == Size(300, 300)
    assert layout.placement == (0, 37)
    # a small source is not enlarged, but still padded to the whole box
    small = plan_layout(
        Size(100, 50), RenderOptions(width=300, height=300, fit="fit-in", fill="red"), MAX_SIDE
    )
    assert small.image == Size(100, 50)
    assert small.output == Size(300, 300)


def test_output_is_capped_by_max_output_side_keeping_aspect() -> None:
    assert out(RenderOptions(width=4000, height=2000), max_side=1000) == Size(1000, 500)
    assert out(RenderOptions(), Size(3000, 1500), max_side=1000) == Size(1000, 500)
    fitted = out(RenderOptions(width=5000, height=5000, fit="fit-in", upscale=True), max_side=500)
    assert fitted == Size(500, 375)
    padded = plan_layout(
        SOURCE, RenderOptions(width=2000, height=2000, fit="fit-in", fill="red"), 1000
    )
    assert padded.output == Size(1000, 1000)
    assert max(padded.image.width, padded.image.height) <= 1000


def test_jpeg_shrink_keeps_at_least_the_pixels_needed() -> None:
    big = Size(4000, 3000)
    fit = plan_layout(big, RenderOptions(width=320, height=240, fit="fit-in"), MAX_SIDE)
    assert jpeg_shrink(fit) == 8  # decoded at 500x375, then 320x240
    assert jpeg_shrink(plan_layout(big, RenderOptions(width=1000), MAX_SIDE)) == 4
    assert jpeg_shrink(plan_layout(big, RenderOptions(width=2100), MAX_SIDE)) == 1
    crop = plan_layout(big, RenderOptions(width=300, crop=CropBox(0, 0, 1000, 750)), MAX_SIDE)
    assert jpeg_shrink(crop) == 2


def test_operations_describe_the_plan_like_thumbor_meta() -> None:
    layout = plan_layout(
        SOURCE, RenderOptions(width=300, height=200, crop=CropBox(0, 0, 400, 400)), MAX_SIDE
    )
    types = [op["type"] for op in layout.operations()]
    assert types == ["crop", "resize", "crop"]
    assert layout.operations()[0] == {
        "type": "crop",
        "left": 0,
        "top": 0,
        "right": 400,
        "bottom": 400,
    }
