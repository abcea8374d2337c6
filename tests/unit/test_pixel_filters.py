"""Argument parsing of thumbor's filters, with the examples of thumbor 7.8's documentation
(thumbor docs/<filter>.rst) and the argument forms its filters declare
(thumbor/filters/<filter>.py), plus the pure arithmetic behind them (lookup tables,
watermark placement) checked against values worked out from thumbor's C extensions."""

from __future__ import annotations

import pytest

from confab.core.errors import InvalidInput, UnsupportedMedia
from confab.media.domain.grammar import parse_path
from confab.media.domain.options import CropBox, PixelFilter, RenderOptions
from confab.media.imaging.filters import brightness, contrast, curve, equalize, rgb, watermark

IMAGE = "https%3A%2F%2Fgithub.com%2Fthumbor%2Fthumbor%2Fraw%2Fmaster%2Fexample.jpg"


def options(filters: str, prefix: str = "") -> RenderOptions:
    return parse_path(f"unsafe/{prefix}filters:{filters}/{IMAGE}").options


# (filters as written in thumbor's docs, the pipeline we keep)
DOCUMENTED = [
    ("brightness(40)", [PixelFilter("brightness", (40,))]),
    ("contrast(40)", [PixelFilter("contrast", (40,))]),
    ("contrast(-40)", [PixelFilter("contrast", (-40,))]),
    ("equalize()", [PixelFilter("equalize", ())]),
    ("rotate(90)", [PixelFilter("rotate", (90,))]),
    ("rotate(450)", [PixelFilter("rotate", (90,))]),  # >= 360: the equivalent angle
    ("rotate(-90)", [PixelFilter("rotate", (270,))]),
    ("rotate(45)", []),  # thumbor rotates by multiples of 90 only
    ("noise(40)", [PixelFilter("noise", (40, 0))]),
    ("noise(40,7)", [PixelFilter("noise", (40, 7))]),
    ("rgb(20,-20,40)", [PixelFilter("rgb", (20, -20, 40))]),
    ("round_corner(20,255,255,255)", [PixelFilter("round_corner", (20, 20, 255, 255, 255, False))]),
    ("round_corner(20|40,0,0,0)", [PixelFilter("round_corner", (20, 40, 0, 0, 0, False))]),
    ("round_corner(30,0,0,0,1)", [PixelFilter("round_corner", (30, 30, 0, 0, 0, True))]),
    ("sharpen(2,1.0,true)", [PixelFilter("sharpen", (2.0, 1.0, True))]),
    ("saturation(40)", [PixelFilter("saturation", (40.0,))]),
    ("saturation(-40)", [PixelFilter("saturation", (-40.0,))]),
    ("colorize(10,20,30,ffff00)", [PixelFilter("colorize", (10, 20, 30, "ffff00"))]),
    (
        "convolution(1;2;1;2;4;2;1;2;1,3,true)",
        [PixelFilter("convolution", ("1;2;1;2;4;2;1;2;1", 3, True))],
    ),
    (
        "convolution(-1;-1;-1;-1;8;-1;-1;-1;-1,3,false)",
        [PixelFilter("convolution", ("-1;-1;-1;-1;8;-1;-1;-1;-1", 3, False))],
    ),
    (
        "curve([(0,0),(40,59),(255,255)],[(32,59),(255,212)],[(34,41),(255,255)],[(40,46),(255,198)])",
        [
            PixelFilter(
                "curve", ("0,0;40,59;255,255", "32,59;255,212", "34,41;255,255", "40,46;255,198")
            )
        ],
    ),
    (
        "watermark(http://my.site.com/img.png,-10,-10,50)",
        [PixelFilter("watermark", ("http://my.site.com/img.png", "-10", "-10", 50, None, None))],
    ),
    (
        "watermark(my.site.com/img.png,center,20p,50,30,none)",
        [PixelFilter("watermark", ("http://my.site.com/img.png", "center", "20p", 50, 30, None))],
    ),
    (
        "watermark(my.site.com/img.png,repeat,repeat,0,none,10)",
        [PixelFilter("watermark", ("http://my.site.com/img.png", "repeat", "repeat", 0, None, 10))],
    ),
    ("frame(my.site.com/frame.9.png)", [PixelFilter("frame", ("http://my.site.com/frame.9.png",))]),
    ("proportion(0.5)", [PixelFilter("proportion", (0.5,))]),
    ("proportion(1.5)", []),  # thumbor ignores a proportion outside (0, 1]
    ("red_eye()", []),  # no face detector: as thumbor without one, nothing to correct
    # order is kept
    ("rotate(90):brightness(10)", [PixelFilter("rotate", (90,)), PixelFilter("brightness", (10,))]),
    ("brightness(10):rotate(90)", [PixelFilter("brightness", (10,)), PixelFilter("rotate", (90,))]),
]


@pytest.mark.parametrize(("filters", "pipeline"), DOCUMENTED)
def test_documented_examples_parse(filters: str, pipeline: list[PixelFilter]) -> None:
    assert list(options(filters).pipeline) == pipeline


def test_request_filters_set_their_options() -> None:
    parsed = options("focal(146x206:279x360):max_age(60):cover():stretch():autojpg()", "400x100/")
    assert parsed.focal == CropBox(146, 206, 279, 360)
    assert (parsed.max_age, parsed.cover, parsed.stretch, parsed.autojpg) == (60, True, True, True)
    assert options("autojpg(false)").autojpg is False
    assert options("gifv()").gifv == "mp4"
    assert options("gifv(webm)").gifv == "webm"
    assert options("fill(red,true)", "fit-in/100x100/").fill_transparent is True
    assert options("fill(red,1)", "fit-in/100x100/").fill_transparent is True
    assert options("fill(red)", "fit-in/100x100/").fill_transparent is False


def test_extract_focal_uses_the_inner_url_and_its_crop() -> None:
    # thumbor's docs/extract_focal_points.rst example.
    request = parse_path(
        "unsafe/300x100/filters:extract_focal()/localhost:8888/unsafe/240x220:480x260/"
        "https%3A%2F%2Fgithub.com%2Fthumbor%2Fthumbor%2Fraw%2Fmaster%2Fexample.jpg"
    )
    assert request.source == "https://github.com/thumbor/thumbor/raw/master/example.jpg"
    assert request.options.focal == CropBox(240, 220, 480, 260)


def test_extract_focal_without_a_crop_keeps_the_source() -> None:
    request = parse_path("unsafe/300x100/filters:extract_focal()/example.com/a.jpg")
    assert request.source == "http://example.com/a.jpg"
    assert request.options.focal is None


@pytest.mark.parametrize(
    "filters",
    [
        "brightness()",
        "brightness(1.5)",
        "brightness(1001)",
        "rgb(1,2)",
        "round_corner(a,0,0,0)",
        "round_corner(20,0,0)",
        "round_corner(20,0,0,0,maybe)",
        "sharpen(2,1.0)",
        "sharpen(x,1.0,true)",
        "noise(-1)",
        "convolution(1;2;1;2,3,true)",
        "convolution(" + ";".join(["1"] * 64) + ",8,true)",
        "curve([(0,0),(255,255)])",
        "curve([(10,0),(5,255)],[(0,0),(255,255)],[(0,0),(255,255)],[(0,0),(255,255)])",
        "watermark(http://a.com/w.png,left,10,50)",
        "watermark(http://a.com/w.png,10,10,101)",
        "watermark(ftp://a.com/w.png,10,10,50)",
        "focal(1x2)",
        "max_age(-1)",
        "gifv(avi)",
        "colorize(10,20,30,nocolor)",
    ],
)
def test_bad_arguments_are_named(filters: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        options(filters)
    assert caught.value.reason in ("bad_filter", "bad_source")


@pytest.mark.parametrize("fmt", ["heic", "heif"])
def test_hevc_output_is_refused_as_unsupported(fmt: str) -> None:
    with pytest.raises(UnsupportedMedia) as caught:
        options(f"format({fmt})")
    assert caught.value.reason == "unsupported_format"
    assert "HEVC" in caught.value.detail


# --- arithmetic, from thumbor's C extensions (values worked by hand) -----------------------


def test_brightness_and_rgb_add_a_truncated_percentage_of_255() -> None:
    # 255 * 40 / 100 = 102; 255 * -33 / 100 = -84.15 -> -84 (C truncates towards zero)
    assert brightness.table(40)[:3] == [102, 103, 104]
    assert brightness.table(40)[200] == 255
    assert rgb.table(-33)[100] == 16
    assert rgb.table(-33)[50] == 0


def test_contrast_scales_around_128_in_integers() -> None:
    # amount 40: factor (140*140)//100 = 196; level 0: 196*-128/100 = -250.88 -> -250 + 128 < 0
    levels = contrast.table(40)
    assert levels[0] == 0 and levels[128] == 128 and levels[255] == 255
    assert levels[140] == 128 + (196 * 12) // 100  # 151
    assert contrast.table(-100) == [128] * 256  # factor 0: flat grey


def test_curve_passes_through_its_points_and_holds_the_ends() -> None:
    levels = curve.table(curve.parse("32,59;128,153;255,212"))
    assert levels[32] == 59 and levels[128] == 153
    assert levels[:32] == [59] * 32  # before the first point: its y
    assert levels[255] == 212
    assert curve.table(curve.parse("0,0;255,255")) == list(range(256))


def test_equalize_spreads_the_levels_used() -> None:
    histogram = [0] * 256
    histogram[10], histogram[20], histogram[30] = 2, 1, 1
    table = equalize.tables([histogram] * 3, 4)[0]
    assert (table[10], table[20], table[30]) == (0, 127, 255)


@pytest.mark.parametrize(
    ("position", "length", "mark", "expected"),
    [
        ("10", 100, 20, [10]),
        ("-10", 100, 20, [70]),
        ("center", 100, 20, [40]),
        ("repeat", 100, 20, [0, 20, 40, 60, 80]),
        ("repeat", 30, 20, [0, 30]),  # fewer than two fit: ceil(1.5) copies, 10 apart
    ],
)
def test_watermark_offsets(position: str, length: int, mark: int, expected: list[int]) -> None:
    assert watermark.offsets(position, length, mark) == expected


def test_watermark_percent_positions_and_ratio_sizes() -> None:
    assert watermark.resolve("20p", 300) == "60"
    assert watermark.resolve("-20p", 300) == "-60"
    # thumbor's tests/filters/test_watermark.py: a 300x200 image, 50% of its width.
    assert watermark.fitted_size((300, 200), (100, 50), 0.5, None) == (150, 75)
    assert watermark.fitted_size((300, 200), (100, 50), None, 0.5) == (200, 100)
    assert watermark.fitted_size((300, 200), (100, 50), 0.1, 0.5) == (30, 15)
