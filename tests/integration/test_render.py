"""Real renders with libvips: sizes, formats, orientation, colour, animation, safety.

Small generated images keep this fast; the 12 MP speed work lives in the benchmark.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import pyvips

from confab.adapters.jobs_pool import LocalProcessPool
from confab.core.errors import TooLarge, Unprocessable, UnsupportedMedia
from confab.media.domain.options import CropBox, OutputFormat, RenderOptions
from confab.media.imaging.limits import RenderLimits
from confab.media.imaging.tasks import MEDIA_TASKS, plan, probe, render
from tests import hostile_images
from tests.e2e.sources import jpeg, jpeg_claiming, png, png_bomb

LIMITS = RenderLimits()


def decode(data: bytes, *, all_frames: bool = False) -> Any:
    return pyvips.Image.new_from_buffer(data, "", **({"n": -1} if all_frames else {}))


def frames_of(data: bytes) -> int:
    image = decode(data, all_frames=True)
    return int(image.get("n-pages")) if image.get_typeof("n-pages") else 1


def halves(width: int, height: int, left: int, right: int) -> bytes:
    """A PNG whose left half is grey level `left` and right half `right`."""
    a = pyvips.Image.black(width // 2, height) + left
    b = pyvips.Image.black(width - width // 2, height) + right
    image = a.join(b, "horizontal").cast("uchar")
    return bytes(image.bandjoin([image, image]).copy(interpretation="srgb").pngsave_buffer())


def flat(width: int, height: int, colour: list[int], band_format: str = "uchar") -> Any:
    """A sRGB image of one flat colour."""
    image = pyvips.Image.black(width, height).cast(band_format).new_from_image(colour)
    return image.copy(interpretation="srgb" if band_format == "uchar" else "rgb16")


def animated_gif(frames: int = 3, width: int = 60, height: int = 40) -> bytes:
    """An animated GIF whose frames are flat colours (red, green, blue, ...)."""
    colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]]
    pages = [flat(width, height, colours[i % 4]) for i in range(frames)]
    strip = pyvips.Image.arrayjoin(pages, across=1).copy(interpretation="srgb")
    strip.set_type(pyvips.GValue.gint_type, "page-height", height)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [80] * frames)
    strip.set_type(pyvips.GValue.gint_type, "loop", 0)
    return bytes(strip.gifsave_buffer())


def run(
    source: str | bytes,
    auto: tuple[OutputFormat, ...] = (),
    limits: RenderLimits = LIMITS,
    **options: Any,
) -> Any:
    return render(source, RenderOptions(**options), auto, limits)


# -- sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "size"),
    [
        ({"width": 200, "height": 200}, (200, 200)),
        ({"width": 200}, (200, 150)),
        ({"height": 150}, (200, 150)),
        ({}, (800, 600)),
        ({"width_orig": True, "height": 100}, (800, 100)),
        ({"width": 300, "height": 300, "fit": "fit-in"}, (300, 225)),
        ({"width": 300, "height": 400, "fit": "adaptive-fit-in"}, (400, 300)),
        ({"width": 300, "height": 300, "fit": "full-fit-in"}, (400, 300)),
        ({"width": 1000, "height": 1000, "fit": "fit-in"}, (800, 600)),
        ({"width": 1000, "height": 1000, "fit": "fit-in", "upscale": True}, (1000, 750)),
        ({"width": 1000, "height": 100, "upscale": False}, (800, 100)),
    ],
)
def test_output_sizes_for_each_mode(options: dict[str, Any], size: tuple[int, int]) -> None:
    rendered = run(jpeg(800, 600), **options)
    image = decode(rendered.data)
    assert (image.width, image.height) == size
    assert (rendered.width, rendered.height) == size


def test_plan_agrees_with_render() -> None:
    source = jpeg(640, 480)
    cases: list[dict[str, Any]] = [
        {"width": 100, "height": 100},
        {"width": 123, "height": 0, "fit": "fit-in"},
        {"width": 90, "height": 200, "fit": "adaptive-fit-in"},
        {"width": 90, "height": 200, "fit": "full-fit-in"},
        {"width": 100, "height": 100, "fit": "fit-in", "fill": "red"},
        {"width": 50, "height": 70, "smart": True, "crop": CropBox(10, 20, 300, 400)},
        {"width_orig": True, "height": 33, "flip_horizontal": True},
    ]
    for options in cases:
        planned = plan(source, RenderOptions(**options), LIMITS)
        rendered = run(source, **options)
        image = decode(rendered.data)
        target = planned["target"]
        assert (target["width"], target["height"]) == (image.width, image.height), options
        assert planned["source"] == {
            "width": 640,
            "height": 480,
            "format": "jpeg",
            "frames": 1,
            "orientation": 1,
        }
        assert planned["operations"], options


def test_large_requests_are_clamped_to_max_output_side() -> None:
    limits = RenderLimits(max_output_side=100)
    rendered = run(jpeg(400, 300), limits=limits, width=4000, height=3000)
    assert (rendered.width, rendered.height) == (100, 75)
    assert decode(rendered.data).width == 100


# -- geometry on the pixels --------------------------------------------------------------


def test_alignment_chooses_which_part_is_kept() -> None:
    source = halves(200, 100, 0, 255)
    left = decode(run(source, width=100, height=100, halign="left").data)
    right = decode(run(source, width=100, height=100, halign="right").data)
    assert left.avg() < 10
    assert right.avg() > 245


def test_flips() -> None:
    # only the top-left quarter is white
    corner = (pyvips.Image.black(100, 50) + 255).embed(0, 0, 200, 100).cast("uchar")
    source = bytes(corner.bandjoin([corner, corner]).copy(interpretation="srgb").pngsave_buffer())

    def white_quarter(data: bytes) -> tuple[int, int]:
        image = decode(data)
        bright = [
            (x, y)
            for x in (0, 1)
            for y in (0, 1)
            if image.crop(x * 100, y * 50, 100, 50).avg() > 245
        ]
        assert len(bright) == 1
        return bright[0]

    assert white_quarter(run(source).data) == (0, 0)
    assert white_quarter(run(source, flip_horizontal=True).data) == (1, 0)
    assert white_quarter(run(source, flip_vertical=True).data) == (0, 1)
    assert white_quarter(run(source, flip_horizontal=True, flip_vertical=True).data) == (1, 1)


def test_manual_crop_box_is_cut_before_resizing() -> None:
    source = halves(200, 100, 0, 255)
    rendered = run(source, crop=CropBox(100, 0, 200, 100), width=50)
    image = decode(rendered.data)
    assert (image.width, image.height) == (50, 50)
    assert image.avg() > 245  # only the white half


def test_smart_crop_finds_the_interesting_part() -> None:
    background = flat(300, 100, [90, 120, 90])
    subject = (pyvips.Image.gaussnoise(60, 60, sigma=80, mean=128)).cast("uchar")
    subject = subject.bandjoin([subject * 0.3, subject * 0.2]).cast("uchar")
    source = background.insert(subject, 230, 20)
    data = bytes(source.pngsave_buffer())
    centred = decode(run(data, width=100, height=100).data)
    smart = decode(run(data, width=100, height=100, smart=True).data)
    # the subject (noisy, red-dominant) sits at the right: only the smart crop holds it
    assert smart.deviate() > centred.deviate() + 20


def test_trim_removes_a_uniform_border() -> None:
    source = flat(200, 150, [255, 255, 255]).insert(flat(80, 50, [20, 40, 160]), 60, 50)
    rendered = run(bytes(source.pngsave_buffer()), trim=True)
    assert (rendered.width, rendered.height) == (80, 50)
    assert rendered.operations[0].startswith("trim(")


def test_trim_corner_and_tolerance() -> None:
    # white above, a near-white band, then black below: the colour of the chosen corner goes
    top = flat(100, 40, [255, 255, 255]).join(flat(100, 20, [250, 250, 250]), "vertical")
    source = bytes(top.join(flat(100, 40, [0, 0, 0]), "vertical").pngsave_buffer())
    exact = run(source, trim=True)
    assert (exact.width, exact.height) == (100, 60)  # only the pure white rows go
    tolerant = run(source, trim=True, trim_tolerance=20)
    assert (tolerant.width, tolerant.height) == (100, 40)  # near-white goes too
    from_bottom = run(source, trim=True, trim_corner="bottom-right")
    assert (from_bottom.width, from_bottom.height) == (100, 60)  # the black rows go


# -- filters -----------------------------------------------------------------------------


def test_fill_pads_fit_in_with_a_colour() -> None:
    rendered = run(jpeg(400, 200), width=200, height=200, fit="fit-in", fill="ff0000")
    image = decode(rendered.data)
    assert (image.width, image.height) == (200, 200)
    top = image.crop(0, 0, 200, 40)
    assert top.extract_band(0).avg() > 240
    assert top.extract_band(1).avg() < 15


def test_fill_transparent_and_blur() -> None:
    clear = decode(
        run(
            jpeg(400, 200), width=200, height=200, fit="fit-in", fill="transparent", format="png"
        ).data
    )
    assert clear.bands == 4
    assert clear.extract_band(3).crop(0, 0, 200, 40).max() == 0
    blurred = decode(run(jpeg(400, 200), width=200, height=200, fit="fit-in", fill="blur").data)
    assert (blurred.width, blurred.height) == (200, 200)
    assert blurred.crop(0, 0, 200, 40).deviate() > 1  # a picture, not a flat colour


def test_fill_with_a_translucent_colour_keeps_its_alpha() -> None:
    rendered = run(
        jpeg(400, 200), width=200, height=200, fit="fit-in", fill="ff000080", format="png"
    )
    image = decode(rendered.data)
    assert image.bands == 4
    assert abs(image.extract_band(3).crop(0, 0, 200, 40).avg() - 128) < 1
    assert image.extract_band(3).crop(0, 60, 200, 80).min() == 255


def test_background_color_flattens_transparency() -> None:
    transparent = (pyvips.Image.black(50, 50, bands=4)).cast("uchar").copy(interpretation="srgb")
    data = bytes(transparent.pngsave_buffer())
    on_red = decode(run(data, format="jpeg", background_color="red").data)
    assert on_red.bands == 3
    assert on_red.extract_band(0).avg() > 240
    assert on_red.extract_band(2).avg() < 15
    on_white = decode(run(data, format="jpeg").data)
    assert on_white.avg() > 245


def test_grayscale_and_blur() -> None:
    grey = decode(run(jpeg(200, 100), grayscale=True).data)
    assert grey.bands == 1
    sharp = decode(run(jpeg(200, 100), format="png").data)
    soft = decode(run(jpeg(200, 100), format="png", blur=6).data)
    assert soft.deviate() < sharp.deviate()


def test_quality_changes_the_size_and_max_bytes_caps_it() -> None:
    source = jpeg(600, 400)
    low = run(source, quality=30).data
    high = run(source, quality=95).data
    assert len(low) < len(high)
    capped = run(source, quality=95, max_bytes=len(low) + 500).data
    assert len(capped) <= len(low) + 500
    assert decode(capped).width == 600


def test_png_output_ignores_quality() -> None:
    source = png(120, 80)
    assert run(source, quality=10).data == run(source, quality=95).data


# -- formats -----------------------------------------------------------------------------


def test_format_choice() -> None:
    assert run(jpeg(100, 100)).format == "jpeg"
    assert run(png(100, 100)).format == "png"
    assert run(jpeg(100, 100), format="webp").format == "webp"
    assert run(jpeg(100, 100), auto=("avif", "webp")).format == "avif"
    assert run(png(100, 100), auto=("webp",)).format == "webp"
    avif = run(jpeg(100, 100), format="avif").data
    assert avif[4:12] in (b"ftypavif", b"ftypavis")
    assert decode(avif).width == 100


def test_animated_gif_stays_animated_as_gif_and_webp() -> None:
    source = animated_gif(frames=3)
    as_gif = run(source, width=30, height=20)
    assert as_gif.format == "gif"
    assert as_gif.frames == 3
    assert frames_of(as_gif.data) == 3
    assert decode(as_gif.data).width == 30
    as_webp = run(source, auto=("avif", "webp"), width=30, height=20)
    assert as_webp.format == "webp"
    assert frames_of(as_webp.data) == 3
    frames = decode(as_webp.data, all_frames=True)
    assert frames.get("page-height") == 20
    # each frame keeps its own picture: the second frame is green
    second = frames.crop(0, 20, 30, 20)
    assert second.extract_band(1).avg() > 200 and second.extract_band(0).avg() < 60


def test_animated_webp_keeps_frames_through_smart_crop_and_flips() -> None:
    webp = run(animated_gif(frames=3, width=120, height=80), format="webp").data
    assert frames_of(webp) == 3
    for options in (
        {"width": 40, "height": 40, "smart": True},
        {"width": 40, "height": 40, "fit": "fit-in", "fill": "blur"},
        {"width": 60, "height": 20, "flip_vertical": True, "format": "gif"},
    ):
        rendered = run(webp, **options)
        assert rendered.frames == 3, options
        image = decode(rendered.data, all_frames=True)
        assert image.get("n-pages") == 3, options
        assert image.get("page-height") == rendered.height, options


def test_animated_gif_to_jpeg_is_its_first_frame() -> None:
    rendered = run(animated_gif(frames=3), format="jpeg", width=30, height=20)
    assert rendered.frames == 1
    image = decode(rendered.data)
    assert (image.width, image.height) == (30, 20)
    assert image.extract_band(0).avg() > 200  # red, the first frame


def test_frames_beyond_the_cap_are_dropped() -> None:
    rendered = run(animated_gif(frames=4), limits=RenderLimits(max_frames=2))
    assert frames_of(rendered.data) == 2


# -- orientation, metadata, colour ---------------------------------------------------------


def _jpeg_with(image: Any, **save: Any) -> bytes:
    return bytes(image.jpegsave_buffer(Q=90, **save))


def test_exif_orientation_is_applied_and_stripped() -> None:
    stored = decode(halves(200, 100, 0, 255)).copy()  # black left, white right
    stored.set_type(pyvips.GValue.gint_type, "orientation", 6)
    data = _jpeg_with(stored)
    assert decode(data).get("orientation") == 6
    rendered = run(data)
    image = decode(rendered.data)
    # orientation 6: turned 90 degrees clockwise, so the left (black) half is on top
    assert (image.width, image.height) == (100, 200)
    assert image.crop(0, 0, 100, 90).avg() < 20
    assert image.crop(0, 110, 100, 90).avg() > 235
    assert image.get_typeof("orientation") == 0 or image.get("orientation") == 1
    assert (rendered.source.width, rendered.source.height) == (100, 200)
    assert probe(data, LIMITS).orientation == 6


def test_orientation_of_a_large_png_is_applied_after_shrinking() -> None:
    stored = decode(halves(800, 400, 0, 255)).copy()
    stored.set_type(pyvips.GValue.gint_type, "orientation", 6)
    rendered = run(bytes(stored.pngsave_buffer()), width=50)
    image = decode(rendered.data)
    assert (image.width, image.height) == (50, 100)
    assert image.crop(0, 0, 50, 45).avg() < 20
    assert image.crop(0, 55, 50, 45).avg() > 235


def test_metadata_is_stripped() -> None:
    source = decode(jpeg(120, 80)).copy()
    source.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", "someone")
    data = _jpeg_with(source, profile="srgb")
    assert decode(data).get_typeof("exif-data") != 0
    for fmt in ("jpeg", "png", "webp"):
        out = decode(run(data, format=fmt).data)
        assert out.get_typeof("exif-data") == 0, fmt
        assert out.get_typeof("icc-profile-data") == 0, fmt
        assert out.get_typeof("xmp-data") == 0, fmt


def test_embedded_profile_is_converted_to_srgb() -> None:
    colour = flat(64, 64, [200, 60, 60])
    data = _jpeg_with(colour, profile="p3")  # the same numbers, meant as Display P3
    expected = decode(data).icc_transform("srgb", embedded=True, intent="perceptual")
    out = decode(run(data, format="png").data)
    assert out.interpretation == "srgb"
    for band in range(3):
        assert abs(out.extract_band(band).avg() - expected.extract_band(band).avg()) < 3
    # and it is not the untouched numbers: P3 red is redder than sRGB's
    assert out.extract_band(0).avg() > 205


def test_cmyk_and_16_bit_sources_become_8_bit_srgb() -> None:
    cmyk = flat(40, 40, [30, 120, 200]).icc_transform("cmyk", input_profile="srgb")
    out = decode(run(_jpeg_with(cmyk), format="png").data)
    assert out.bands == 3 and out.interpretation == "srgb" and out.format == "uchar"
    assert abs(out.extract_band(2).avg() - 200) < 25
    deep_png = bytes(flat(40, 40, [30000, 40000, 50000], "ushort").pngsave_buffer())
    out16 = decode(run(deep_png, format="png").data)
    assert out16.format == "uchar" and out16.bands == 3


# -- refusals ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return png_bomb()


def test_decompression_bomb_is_refused_before_decoding(bomb: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(TooLarge) as caught:
        run(bomb, width=100)
    assert time.perf_counter() - started < 0.5
    assert caught.value.reason == "too_many_pixels"
    with pytest.raises(TooLarge):
        probe(bomb, LIMITS)


def test_every_frame_and_band_counts_against_the_pixel_cap() -> None:
    gif = animated_gif(frames=4, width=60, height=40)  # 2400 px per frame, decoded RGBA
    with pytest.raises(TooLarge):
        run(gif, limits=RenderLimits(max_pixels=4 * 2400 * 4 - 1))
    assert run(gif, limits=RenderLimits(max_pixels=4 * 2400 * 4)).frames == 4


def test_a_frame_larger_than_its_screen_counts_at_its_own_size() -> None:
    # The second frame says 2000x500 on a 40x30 screen: 1M pixels x 4 bands, not 40x30.
    gif = hostile_images.gif((40, 30), [(0, 0, 40, 30, 1), (0, 0, 2000, 500, 2)], pixels=64)
    with pytest.raises(TooLarge) as caught:
        run(gif, limits=RenderLimits(max_pixels=3_000_000))
    assert caught.value.reason == "too_many_pixels"
    assert "2000x500" in caught.value.detail
    assert run(gif, limits=RenderLimits(max_pixels=5_000_000)).frames == 2


def plain(detail: str) -> bool:
    """No library, function or loader names in an error's detail."""
    lowered = detail.lower()
    return not any(word in lowered for word in ("vips", "load", "libjpeg", "jpeg_", "gif_"))


def test_truncated_and_corrupt_jpegs_are_unprocessable_in_plain_words() -> None:
    for bad in (jpeg(400, 300)[:3000], b"\xff\xd8\xff\xe0" + b"garbage" * 100):
        with pytest.raises(Unprocessable) as caught:
            run(bad, width=50)
        assert caught.value.reason == "corrupt_image"
        assert plain(caught.value.detail), caught.value.detail
        with pytest.raises(Unprocessable) as probed:
            probe(bad, LIMITS)
        assert plain(probed.value.detail), probed.value.detail
        with pytest.raises(Unprocessable):
            plan(bad, RenderOptions(width=50), LIMITS)  # /meta refuses it too
    with pytest.raises(Unprocessable) as truncated:
        probe(jpeg(400, 300)[:3000], LIMITS)
    assert truncated.value.detail.endswith("the file ends before all of its image data")


@pytest.mark.parametrize("claimed", [(400, 3000), (4000, 3000)])
def test_a_jpeg_claiming_more_pixels_than_its_data_holds_is_refused_everywhere(
    claimed: tuple[int, int], tmp_path: Path
) -> None:
    lying = jpeg_claiming(*claimed)
    with pytest.raises(Unprocessable) as caught:
        probe(lying, LIMITS)  # at upload
    assert caught.value.reason == "corrupt_image"
    assert "fewer pixels than its header claims" in caught.value.detail
    with pytest.raises(Unprocessable):
        plan(lying, RenderOptions(width=50), LIMITS)  # /meta
    stored = tmp_path / "lying.jpg"
    stored.write_bytes(lying)
    # Rendering it: fetched bytes (a URL source) or a file, whatever shrink-on-load the
    # output allows (1/8 for a thumbnail, none at full size) and with trim's full decode.
    renders: list[dict[str, Any]] = [
        {"width": 50},
        {"width": claimed[0]},
        {"width": 80, "trim": True},
    ]
    for source in (lying, str(stored)):
        for options in renders:
            with pytest.raises(Unprocessable) as rendered:
                run(source, **options)
            assert "fewer pixels than its header claims" in rendered.value.detail
    # A JPEG whose last MCU row merely pads the claimed size holds all its pixels.
    assert probe(jpeg_claiming(400, 301), LIMITS).height == 301
    assert run(jpeg_claiming(400, 301), width=40).height == 30


def test_meta_decodes_only_the_first_frame_of_an_animation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from confab.media.imaging import render as rendering

    decoded: list[int] = []
    real_load = rendering.load

    def counting_load(header: Any, **options: Any) -> Any:
        decoded.append(options.get("pages", 1))
        return real_load(header, **options)

    monkeypatch.setattr(rendering, "load", counting_load)
    animation = hostile_images.many_frames_gif(40, 100)
    described = plan(animation, RenderOptions(width=50), LIMITS)
    assert described["thumbor"]["source"]["frameCount"] == 40  # counted from the header
    assert decoded == [1]  # every render decodes the first frame; /meta needs no more
    decoded.clear()
    assert probe(animation, LIMITS).frames == 40
    assert decoded == [40]  # an upload is decoded whole before it is kept
    # A GIF cut inside its first frame is refused by every render, and so by /meta.
    with pytest.raises(Unprocessable):
        plan(animation[: len(animation) // 40], RenderOptions(width=50), LIMITS)


def test_harmless_jpeg_warnings_are_still_accepted() -> None:
    # Bytes after the end-of-image marker make libjpeg warn; the file is whole.
    assert probe(jpeg(120, 90) + b"trailing junk", LIMITS).width == 120
    rendered = run(jpeg(120, 90) + b"trailing junk", width=60)
    assert (rendered.width, rendered.height) == (60, 45)


def test_not_an_image_is_unsupported() -> None:
    for bad in (b"just some text, not an image", b""):
        with pytest.raises(UnsupportedMedia) as caught:
            run(bad)
        assert caught.value.reason == "unsupported_format"


def test_loaders_not_enabled_are_refused() -> None:
    tiff = bytes((pyvips.Image.black(64, 32) + 128).cast("uchar").tiffsave_buffer())
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"/>'
    for data in (tiff, svg):
        with pytest.raises(UnsupportedMedia):
            run(data)
        with pytest.raises(UnsupportedMedia):
            probe(data, LIMITS)
    extra = RenderLimits(extra_loaders=("tiff", "svg"))
    assert run(tiff, limits=extra).source.format == "tiff"
    assert run(svg, limits=extra, width=20).width == 20
    with pytest.raises(UnsupportedMedia):  # and disabled again for the next caller
        run(tiff)


def test_a_file_path_source(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg(300, 200))
    rendered = run(str(path), width=30)
    assert (rendered.width, rendered.height) == (30, 20)
    odd = tmp_path / "b[shrink=2].jpg"
    odd.write_bytes(jpeg(300, 200))
    assert run(str(odd)).width == 300


# -- in a worker process ------------------------------------------------------------------


async def test_renders_in_a_worker_process(tmp_path: Path, bomb: bytes) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg(400, 300))
    pool = LocalProcessPool(
        MEDIA_TASKS,
        processes=1,
        initializer="confab.media.imaging.tasks:init_worker",
        initargs=(0, ()),
    )
    try:
        options = RenderOptions(width=100, height=100, fit="fit-in")
        rendered = await pool.call("media.render", str(path), options, (), LIMITS, timeout=30)
        assert (rendered.width, rendered.height) == (100, 75)
        assert decode(rendered.data).width == 100
        info = await pool.call("media.probe", png(40, 30), LIMITS, timeout=30)
        assert (info.width, info.height, info.format) == (40, 30, "png")
        meta = await pool.call("media.plan", str(path), options, LIMITS, timeout=30)
        assert meta["target"] == {"width": 100, "height": 75}
        with pytest.raises(UnsupportedMedia):
            await pool.call("media.render", b"plain text", options, (), LIMITS, timeout=30)
        with pytest.raises(TooLarge):
            await pool.call("media.probe", bomb, LIMITS, timeout=30)
    finally:
        await pool.close()
