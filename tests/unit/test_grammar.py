"""thumbor's URL grammar: documented examples, normalization and every error path."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, replace

import pytest

from confab.core import jsoncodec
from confab.core.errors import InvalidInput
from confab.media.domain.colors import CSS_COLORS, parse_color
from confab.media.domain.grammar import MAX_DIMENSION, parse_path
from confab.media.domain.options import CropBox, RenderOptions

UPLOAD_ID = "3f" * 32
UPLOAD = f"upload/{UPLOAD_ID}"
WEB = "http://example.com/a.jpg"
DEFAULT = RenderOptions()


def options(path: str) -> RenderOptions:
    return parse_path(f"unsafe/{path}").options


def source(path: str) -> str:
    return parse_path(f"unsafe/{path}").source


def refused(path: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_path(path)
    return caught.value


# ---------------------------------------------------------------- structure


def test_unsafe_and_signed_paths() -> None:
    unsafe = parse_path(f"unsafe/300x200/{WEB}")
    assert unsafe.signature is None
    assert unsafe.signed_path == f"300x200/{WEB}"
    signed = parse_path(f"8ammJH8D-7tXy6kU3lTvoXlhu4o=/300x200/{WEB}")
    assert signed.signature == "8ammJH8D-7tXy6kU3lTvoXlhu4o="
    assert signed.signed_path == f"300x200/{WEB}"
    assert signed.options == unsafe.options
    assert signed.source == unsafe.source == WEB


def test_signature_with_encoded_padding_is_decoded() -> None:
    request = parse_path(f"8ammJH8D-7tXy6kU3lTvoXlhu4o%3D/300x200/{WEB}")
    assert request.signature == "8ammJH8D-7tXy6kU3lTvoXlhu4o="
    assert request.signed_path == f"300x200/{WEB}"


def test_signed_path_is_the_raw_text_with_its_query() -> None:
    path = "fit-in/10x10/filters:fill(%23ff0000)/http%3A%2F%2Fexample.com%2Fa.jpg?x=1"
    assert parse_path(f"sig/{path}").signed_path == path


def test_no_options_at_all() -> None:
    request = parse_path(f"unsafe/{WEB}")
    assert request.options == DEFAULT
    assert request.source == WEB


# ---------------------------------------------------------------- documented examples


@pytest.mark.parametrize(
    ("size", "width", "height", "width_orig", "height_orig"),
    [
        # thumbor's usage docs, "Image Size"
        ("300x200", 300, 200, False, False),
        ("300x", 300, 0, False, False),
        ("300x0", 300, 0, False, False),
        ("x200", 0, 200, False, False),
        ("0x200", 0, 200, False, False),
        ("0x0", 0, 0, False, False),
        ("300xorig", 300, 0, False, True),
        ("origx300", 0, 300, True, False),
        ("origxorig", 0, 0, False, False),  # the source size, like 0x0
        ("x", 0, 0, False, False),
        (f"{MAX_DIMENSION}x{MAX_DIMENSION}", MAX_DIMENSION, MAX_DIMENSION, False, False),
    ],
)
def test_image_size(
    size: str, width: int, height: int, width_orig: bool, height_orig: bool
) -> None:
    parsed = options(f"{size}/{WEB}")
    assert (parsed.width, parsed.height) == (width, height)
    assert (parsed.width_orig, parsed.height_orig) == (width_orig, height_orig)
    assert not parsed.flip_horizontal and not parsed.flip_vertical


@pytest.mark.parametrize(
    ("size", "width", "height", "flip_h", "flip_v"),
    [
        ("-300x-200", 300, 200, True, True),
        ("-300x200", 300, 200, True, False),
        ("300x-200", 300, 200, False, True),
        ("-0x0", 0, 0, True, False),  # libthumbor's flip without a size
        ("-0x-0", 0, 0, True, True),
        ("-x-", 0, 0, True, True),
        ("-origx-100", 0, 100, True, True),
    ],
)
def test_flips(size: str, width: int, height: int, flip_h: bool, flip_v: bool) -> None:
    parsed = options(f"{size}/{WEB}")
    assert (parsed.width, parsed.height) == (width, height)
    assert (parsed.flip_horizontal, parsed.flip_vertical) == (flip_h, flip_v)


@pytest.mark.parametrize(
    ("part", "fit"),
    [("fit-in", "fit-in"), ("adaptive-fit-in", "adaptive-fit-in"), ("full-fit-in", "full-fit-in")],
)
def test_fit_modes(part: str, fit: str) -> None:
    parsed = options(f"{part}/300x200/{WEB}")
    assert parsed.fit == fit
    assert (parsed.width, parsed.height) == (300, 200)
    assert options(f"300x200/{WEB}").fit == "crop"


@pytest.mark.parametrize(
    ("parts", "halign", "valign"),
    [
        ("left/", "left", "middle"),
        ("right/", "right", "middle"),
        ("center/", "center", "middle"),
        ("top/", "center", "top"),
        ("bottom/", "center", "bottom"),
        ("middle/", "center", "middle"),
        ("left/top/", "left", "top"),
        ("right/bottom/", "right", "bottom"),
        ("", "center", "middle"),
    ],
)
def test_alignment(parts: str, halign: str, valign: str) -> None:
    parsed = options(f"300x200/{parts}{WEB}")
    assert (parsed.halign, parsed.valign) == (halign, valign)


def test_smart() -> None:
    assert options(f"300x200/smart/{WEB}").smart
    assert not options(f"300x200/{WEB}").smart


@pytest.mark.parametrize(
    ("part", "corner", "tolerance"),
    [
        ("trim", "top-left", 0),
        ("trim:top-left", "top-left", 0),
        ("trim:bottom-right", "bottom-right", 0),
        ("trim:bottom-right:50", "bottom-right", 50),
        ("trim:top-left:442", "top-left", 442),
        ("trim:30", "top-left", 30),
        ("trim::10", "top-left", 10),  # what libthumbor writes for a tolerance alone
    ],
)
def test_trim(part: str, corner: str, tolerance: int) -> None:
    parsed = options(f"{part}/300x200/{WEB}")
    assert parsed.trim
    assert (parsed.trim_corner, parsed.trim_tolerance) == (corner, tolerance)
    assert not options(f"300x200/{WEB}").trim


def test_manual_crop() -> None:
    parsed = options(f"10x20:300x400/{WEB}")
    assert parsed.crop == CropBox(left=10, top=20, right=300, bottom=400)
    assert options(f"0x0:0x0/{WEB}").crop is None  # no crop, as libthumbor writes it


def test_every_part_together() -> None:
    path = (
        "trim:bottom-right:12/10x20:310x420/full-fit-in/-300x-200/right/bottom/smart/"
        "filters:format(webp):quality(70):strip_exif():strip_icc():grayscale():blur(3):"
        "fill(blue):background_color(white):no_upscale():max_bytes(50000)/" + WEB
    )
    assert options(path) == RenderOptions(
        width=300,
        height=200,
        flip_horizontal=True,
        flip_vertical=True,
        fit="full-fit-in",
        halign="right",
        valign="bottom",
        smart=True,
        trim=True,
        trim_corner="bottom-right",
        trim_tolerance=12,
        crop=CropBox(10, 20, 310, 420),
        format="webp",
        quality=70,
        strip_exif=True,
        strip_icc=True,
        grayscale=True,
        blur=3.0,
        fill="0000ff",
        background_color="ffffff",
        upscale=False,
        max_bytes=50000,
    )


def test_libthumbor_composed_urls_parse() -> None:
    # URLs from libthumbor's test suite (the filters there are thumbor-only ones).
    parsed = options("10x10:200x200/300x200/my.server.com/some/path/to/image.jpg")
    assert parsed.crop == CropBox(10, 10, 200, 200)
    assert (parsed.width, parsed.height) == (300, 200)
    flipped = options("10x11:12x13/-300x-300/center/middle/smart/my.server.com/image.jpg")
    assert flipped.flip_horizontal and flipped.flip_vertical and flipped.smart


# ---------------------------------------------------------------- filters


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ("format(jpeg)", {"format": "jpeg"}),
        ("format(jpg)", {"format": "jpeg"}),
        ("format(JPG)", {"format": "jpeg"}),
        ("format('png')", {"format": "png"}),
        ("format(webp)", {"format": "webp"}),
        ("format(avif)", {"format": "avif"}),
        ("format(gif)", {"format": "gif"}),
        ("quality(1)", {"quality": 1}),
        ("quality(100)", {"quality": 100}),
        ("quality(085)", {"quality": 85}),
        ("strip_exif()", {"strip_exif": True}),
        ("strip_icc()", {"strip_icc": True}),
        ("grayscale()", {"grayscale": True}),
        ("blur(5)", {"blur": 5.0}),
        ("blur(150)", {"blur": 150.0}),
        ("blur(4,2)", {"blur": 2.0}),
        ("blur(4, 2.5)", {"blur": 2.5}),
        ("blur(4,0)", {"blur": 4.0}),
        ("blur(4,9)", {"blur": 4.0}),  # thumbor's kernel stops at the radius
        ("blur(0)", {}),
        ("fill(blur)", {"fill": "blur"}),
        ("fill(transparent)", {"fill": "transparent"}),
        ("fill(auto)", {"fill": "auto"}),
        ("fill(Auto)", {"fill": "auto"}),
        ("fill(red)", {"fill": "ff0000"}),
        ("fill(f00)", {"fill": "ff0000"}),
        ("fill(FF0000)", {"fill": "ff0000"}),
        ("fill(%23ff0000)", {"fill": "ff0000"}),
        ("fill(ff000080)", {"fill": "ff000080"}),
        ("fill(red,false)", {"fill": "ff0000"}),
        ("background_color(white)", {"background_color": "ffffff"}),
        ("background_color(0f0)", {"background_color": "00ff00"}),
        ("background_color(transparent)", {}),
        ("no_upscale()", {"upscale": False}),
        ("upscale()", {"upscale": True}),
        ("max_bytes(1)", {"max_bytes": 1}),
        ("max_bytes(1048576)", {"max_bytes": 1048576}),
        ("srgb()", {}),
        ("grayscale():grayscale()", {"grayscale": True}),
        ("quality( 80 )", {"quality": 80}),
        ("blur(4,%202)", {"blur": 2.0}),
    ],
)
def test_filters(filters: str, expected: dict[str, object]) -> None:
    assert options(f"300x200/filters:{filters}/{WEB}") == replace(
        RenderOptions(width=300, height=200), **expected
    )


def test_filters_without_a_size() -> None:
    assert options(f"filters:quality(50)/{WEB}") == RenderOptions(quality=50)


# ---------------------------------------------------------------- normalization


EQUIVALENT = [
    [
        f"300x200/{WEB}",
        f"300x200/center/{WEB}",
        f"300x200/middle/{WEB}",
        f"300x200/center/middle/{WEB}",
        f"0300x0200/{WEB}",
        f"0x0:0x0/300x200/{WEB}",
        f"300x200/filters:srgb()/{WEB}",
        f"300x200/filters:blur(0)/{WEB}",
        f"300x200/filters:background_color(transparent)/{WEB}",
    ],
    [f"{WEB}", f"0x0/{WEB}", f"x/{WEB}", f"origxorig/{WEB}", f"origx0/{WEB}", f"0xorig/{WEB}"],
    [
        f"filters:format(jpg)/{WEB}",
        f"filters:format(jpeg)/{WEB}",
        f"filters:format(JPEG)/{WEB}",
        f"filters:format('jpg')/{WEB}",
    ],
    [
        f"filters:quality(80):grayscale():format(webp)/{WEB}",
        f"filters:format(webp):grayscale():quality(80)/{WEB}",
        f"filters:grayscale():format(webp):quality(80):grayscale()/{WEB}",
    ],
    [
        f"fit-in/10x10/filters:fill(red)/{WEB}",
        f"fit-in/10x10/filters:fill(RED)/{WEB}",
        f"fit-in/10x10/filters:fill(f00)/{WEB}",
        f"fit-in/10x10/filters:fill(ff0000)/{WEB}",
        f"fit-in/10x10/filters:fill(ff0000ff)/{WEB}",
        f"fit-in/10x10/filters:fill(%23FF0000)/{WEB}",
        f"fit-in/10x10/filters:fill(red,false)/{WEB}",
    ],
    [
        f"trim/{WEB}",
        f"trim:top-left/{WEB}",
        f"trim:top-left:0/{WEB}",
        f"trim:0/{WEB}",
        f"trim::0/{WEB}",
    ],
    [f"filters:blur(4)/{WEB}", f"filters:blur(4,4)/{WEB}", f"filters:blur(4, 0)/{WEB}"],
    [f"filters:background_color(grey)/{WEB}", f"filters:background_color(gray)/{WEB}"],
]


@pytest.mark.parametrize("group", EQUIVALENT, ids=lambda g: g[0])
def test_equivalent_urls_share_a_cache_key(group: list[str]) -> None:
    keys = {options(path).cache_key() for path in group}
    assert len(keys) == 1, group


def test_different_urls_have_different_cache_keys() -> None:
    distinct = [
        f"300x200/{WEB}",
        f"200x300/{WEB}",
        f"fit-in/300x200/{WEB}",
        f"adaptive-fit-in/300x200/{WEB}",
        f"full-fit-in/300x200/{WEB}",
        f"-300x200/{WEB}",
        f"300x-200/{WEB}",
        f"300xorig/{WEB}",
        f"300x0/{WEB}",
        f"300x200/left/{WEB}",
        f"300x200/top/{WEB}",
        f"300x200/smart/{WEB}",
        f"trim/300x200/{WEB}",
        f"trim:bottom-right/300x200/{WEB}",
        f"trim:5/300x200/{WEB}",
        f"1x1:20x20/300x200/{WEB}",
        f"300x200/filters:quality(80)/{WEB}",
        f"300x200/filters:format(png)/{WEB}",
        f"300x200/filters:upscale()/{WEB}",
        f"300x200/filters:no_upscale()/{WEB}",
        f"300x200/filters:blur(2)/{WEB}",
        f"300x200/filters:fill(blur)/{WEB}",
        f"300x200/filters:max_bytes(1000)/{WEB}",
    ]
    assert len({options(path).cache_key() for path in distinct}) == len(distinct)


# ---------------------------------------------------------------- sources


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (UPLOAD, UPLOAD),
        (f"upload%2F{UPLOAD_ID}", UPLOAD),
        ("http://example.com/a.jpg", "http://example.com/a.jpg"),
        ("https://example.com/a.jpg", "https://example.com/a.jpg"),
        ("HTTPS://example.com/a.jpg", "https://example.com/a.jpg"),
        ("http://example.com/a.jpg?w=1&h=2", "http://example.com/a.jpg?w=1&h=2"),
        ("http://example.com:8080/a.jpg", "http://example.com:8080/a.jpg"),
        ("http://127.0.0.1:9/a.jpg", "http://127.0.0.1:9/a.jpg"),
        ("http://[::1]:8080/a.jpg", "http://[::1]:8080/a.jpg"),
        ("http://example.com/a%20b.jpg", "http://example.com/a%20b.jpg"),  # kept as sent
        ("http%3A%2F%2Fexample.com%2Fa.jpg", "http://example.com/a.jpg"),
        ("http%3a%2f%2fexample.com%2fa.jpg", "http://example.com/a.jpg"),
        ("https%3A%2F%2Fexample.com%2Fa.jpg%3Fw%3D1", "https://example.com/a.jpg?w=1"),
        ("http%3A%2F%2Fexample.com%2Fa%2520b.jpg", "http://example.com/a%20b.jpg"),
        ("http%3A//example.com/1%2B2.png", "http://example.com/1+2.png"),  # urllib.quote
        ("http:/example.com/a.jpg", "http://example.com/a.jpg"),  # merged slashes
        ("my.server.com/some/path/to/image.jpg", "http://my.server.com/some/path/to/image.jpg"),
        ("localhost:8080/a.jpg", "http://localhost:8080/a.jpg"),
        ("example.com%2Fa.jpg", "http://example.com/a.jpg"),
        ("[::1]:8080/a.jpg", "http://[::1]:8080/a.jpg"),
    ],
)
def test_sources(text: str, expected: str) -> None:
    assert source(f"300x200/{text}") == expected


def test_a_plain_url_keeps_its_query_that_arrived_appended() -> None:
    path = "50x50/http://127.0.0.2:8000/redirect?to=http://127.0.0.1:9/secret.jpg"
    request = parse_path(f"unsafe/{path}")
    assert request.source == "http://127.0.0.2:8000/redirect?to=http://127.0.0.1:9/secret.jpg"
    assert request.signed_path == path


def test_plain_and_encoded_forms_name_the_same_source() -> None:
    plain = source("300x200/http://example.com/a%20b.jpg?q=a%26b")
    encoded = source("300x200/http%3A%2F%2Fexample.com%2Fa%2520b.jpg%3Fq%3Da%2526b")
    assert plain == encoded == "http://example.com/a%20b.jpg?q=a%26b"


def test_utf8_sent_unescaped_is_read_as_utf8() -> None:
    # The web layer reads raw bytes as Latin-1; UTF-8 sent raw must come back as text.
    raw = "unsafe/300x200/http://example.com/caf\u00e9.jpg".encode().decode("latin-1")
    request = parse_path(raw)
    assert request.source == "http://example.com/caf\u00e9.jpg"
    assert request.signed_path == "300x200/http://example.com/caf\u00e9.jpg"


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("path", "code", "names"),
    [
        # structure
        (f"/300x200/{WEB}", "bad_options", "signature"),
        ("unsafe", "bad_source", "no source"),
        ("unsafe/", "bad_source", "no source"),
        ("unsafe/300x200", "bad_source", "300x200"),
        ("unsafe/300x200/", "bad_source", "no source"),
        ("unsafe/fit-in/300x200/smart", "bad_source", "smart"),
        ("unsafe/300x200/filters:quality(80)", "bad_source", "filters:quality(80)"),
        # options out of order, repeated or malformed
        (f"unsafe/smart/300x200/{WEB}", "bad_options", "300x200"),
        (f"unsafe/300x200/fit-in/{WEB}", "bad_options", "fit-in"),
        (f"unsafe/300x200/300x200/{WEB}", "bad_options", "300x200"),
        (f"unsafe/top/left/{WEB}", "bad_options", "left"),
        (f"unsafe/fit-in/trim/{WEB}", "bad_options", "trim"),
        (f"unsafe/trim:middle/{WEB}", "bad_options", "trim:middle"),
        (f"unsafe/fitin/300x200/{WEB}", "bad_options", "fitin"),
        (f"unsafe/300x200x/{WEB}", "bad_options", "300x200x"),
        (f"unsafe/--300x200/{WEB}", "bad_options", "--300x200"),
        (f"unsafe/sepia/{WEB}", "bad_options", "sepia"),
        (f"unsafe/full-adaptive-fit-in/300x200/{WEB}", "bad_options", "full-adaptive-fit-in"),
        (f"unsafe/300x200/meta/{WEB}", "bad_options", "meta"),
        (f"unsafe/meta/debug/300x200/{WEB}", "bad_options", "debug"),
        # limits
        (f"unsafe/{MAX_DIMENSION + 1}x10/{WEB}", "bad_options", "width"),
        (f"unsafe/10x{MAX_DIMENSION + 1}/{WEB}", "bad_options", "height"),
        (f"unsafe/{'9' * 5000}x10/{WEB}", "bad_options", "width"),
        (f"unsafe/trim:443/{WEB}", "bad_options", "trim tolerance"),
        (f"unsafe/10x10:5x20/{WEB}", "bad_options", "10x10:5x20"),
        (f"unsafe/10x10:20x10/{WEB}", "bad_options", "10x10:20x10"),
        (f"unsafe/0x0:0x10/{WEB}", "bad_options", "0x0:0x10"),
        (f"unsafe/0x0:9999999x10/{WEB}", "bad_options", "crop coordinate"),
        # filters
        (f"unsafe/300x200/filters:sepia()/{WEB}", "bad_filter", "sepia"),
        (f"unsafe/300x200/filters:quality(80):sepia(1)/{WEB}", "bad_filter", "sepia"),
        (f"unsafe/filters:Quality(80)/{WEB}", "bad_filter", "Quality"),
        (f"unsafe/filters:watermark(a.png,10,10)/{WEB}", "bad_filter", "watermark"),
        (f"unsafe/filters:brightness(bright)/{WEB}", "bad_filter", "brightness"),
        (f"unsafe/filters:round_corner(20,256,255,255)/{WEB}", "bad_filter", "round_corner"),
        (f"unsafe/filters:text_watermark(hi)/{WEB}", "bad_filter", "not supported"),
        (f"unsafe/filters:grayscale/{WEB}", "bad_filter", "grayscale"),
        (f"unsafe/filters:quality(80):/{WEB}", "bad_filter", "quality(80)"),
        (f"unsafe/filters:(80)/{WEB}", "bad_filter", "(80)"),
        (f"unsafe/filters:quality(0)/{WEB}", "bad_filter", "quality(0)"),
        (f"unsafe/filters:quality(101)/{WEB}", "bad_filter", "quality"),
        (f"unsafe/filters:quality(-5)/{WEB}", "bad_filter", "quality(-5)"),
        (f"unsafe/filters:quality(high)/{WEB}", "bad_filter", "quality(high)"),
        (f"unsafe/filters:quality()/{WEB}", "bad_filter", "quality()"),
        (f"unsafe/filters:quality(80,90)/{WEB}", "bad_filter", "quality(80,90)"),
        (f"unsafe/filters:quality(80):quality(90)/{WEB}", "bad_filter", "quality"),
        (f"unsafe/filters:format(bmp)/{WEB}", "bad_filter", "format(bmp)"),
        (f"unsafe/filters:format()/{WEB}", "bad_filter", "format()"),
        (f"unsafe/filters:format(png):format(webp)/{WEB}", "bad_filter", "format"),
        (f"unsafe/filters:grayscale(1)/{WEB}", "bad_filter", "grayscale(1)"),
        (f"unsafe/filters:strip_exif(true)/{WEB}", "bad_filter", "strip_exif(true)"),
        (f"unsafe/filters:blur(151)/{WEB}", "bad_filter", "blur"),
        (f"unsafe/filters:blur(-1)/{WEB}", "bad_filter", "blur(-1)"),
        (f"unsafe/filters:blur(1.5)/{WEB}", "bad_filter", "blur(1.5)"),
        (f"unsafe/filters:blur(4,x)/{WEB}", "bad_filter", "blur(4,x)"),
        (f"unsafe/filters:blur(4,-1)/{WEB}", "bad_filter", "blur(4,-1)"),
        (f"unsafe/filters:blur(4,nan)/{WEB}", "bad_filter", "blur(4,nan)"),
        (f"unsafe/filters:blur()/{WEB}", "bad_filter", "blur()"),
        (f"unsafe/filters:fill(notacolour)/{WEB}", "bad_filter", "notacolour"),
        (f"unsafe/filters:fill(ff0000000)/{WEB}", "bad_filter", "ff0000000"),
        (f"unsafe/filters:fill(ff00000)/{WEB}", "bad_filter", "ff00000"),
        (f"unsafe/filters:fill(red,yes)/{WEB}", "bad_filter", "fill(red,yes)"),
        (f"unsafe/filters:fill()/{WEB}", "bad_filter", "fill()"),
        (f"unsafe/filters:background_color(blur)/{WEB}", "bad_filter", "background_color"),
        (f"unsafe/filters:background_color(auto)/{WEB}", "bad_filter", "background_color"),
        (f"unsafe/filters:max_bytes(0)/{WEB}", "bad_filter", "max_bytes(0)"),
        (f"unsafe/filters:max_bytes(-1)/{WEB}", "bad_filter", "max_bytes(-1)"),
        (f"unsafe/filters:max_bytes({'9' * 30})/{WEB}", "bad_filter", "max_bytes"),
        (f"unsafe/filters:upscale():no_upscale()/{WEB}", "bad_filter", "no_upscale"),
        (f"unsafe/filters:no_upscale():upscale()/{WEB}", "bad_filter", "upscale"),
        # sources
        ("unsafe/300x200/file:///etc/passwd", "bad_source", "file"),
        ("unsafe/300x200/file%3A%2F%2F%2Fetc%2Fpasswd", "bad_source", "file"),
        ("unsafe/300x200/ftp://example.com/a.jpg", "bad_source", "ftp"),
        ("unsafe/300x200/data:image/png;base64,iVBORw0KGgo=", "bad_source", "data"),
        ("unsafe/300x200/javascript:alert(1)", "bad_source", "javascript"),
        ("unsafe/300x200/gopher%3A%2F%2Fexample.com%2F", "bad_source", "gopher"),
        ("unsafe/300x200/http:example.com/a.jpg", "bad_source", "host"),
        ("unsafe/300x200/http:///a.jpg", "bad_source", "host"),
        ("unsafe/300x200/http://example.com:99999/a.jpg", "bad_source", "example.com"),
        ("unsafe/300x200/http://example.com:port/a.jpg", "bad_source", "example.com"),
        ("unsafe/300x200/http%3A%2F%2Fexample.com%2Fa%00.jpg", "bad_source", "control"),
        ("unsafe/300x200/http%3A%2F%2Fexample.com%2Fa.jpg%0D%0AX:1", "bad_source", "control"),
        ("unsafe/300x200/http://example.com\\@evil.com/a.jpg", "bad_source", "backslash"),
        ("unsafe/300x200//example.com/a.jpg", "bad_source", "host/path"),
        ("unsafe/300x200/upload", "bad_source", "upload"),
        ("unsafe/300x200/upload/", "bad_source", "upload id"),
        ("unsafe/300x200/upload/abc", "bad_source", "abc"),
        (f"unsafe/300x200/upload/{UPLOAD_ID.upper()}", "bad_source", UPLOAD_ID.upper()[:40]),
        (f"unsafe/300x200/upload/{UPLOAD_ID}0", "bad_source", "upload id"),
        (f"unsafe/300x200/upload/{UPLOAD_ID}.jpg", "bad_source", ".jpg"),
        (f"unsafe/300x200/upload/{UPLOAD_ID}?v=2", "bad_source", "?v=2"),
        (f"unsafe/300x200/upload/{UPLOAD_ID}/more", "bad_source", "/more"),
        (f"unsafe/300x200/upload/../{UPLOAD_ID}", "bad_source", "../"),
    ],
)
def test_errors_name_the_offending_part(path: str, code: str, names: str) -> None:
    error = refused(path)
    assert error.reason == code, error.detail
    assert names in error.detail, error.detail


def test_long_input_is_clipped_in_error_details() -> None:
    error = refused(f"unsafe/300x200/upload/{'z' * 5000}")
    assert len(error.detail) < 200


def test_errors_are_invalid_input_that_pickle() -> None:
    import pickle

    error = refused(f"unsafe/300x200/filters:sepia()/{WEB}")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, InvalidInput)
    assert copy.reason == "bad_filter"
    assert "sepia" in copy.detail


# ---------------------------------------------------------------- colours


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("red", "ff0000"),
        ("Red", "ff0000"),
        ("rebeccapurple", "663399"),
        ("f00", "ff0000"),
        ("#f00", "ff0000"),
        ("F00A", "ff0000aa"),
        ("00ff00", "00ff00"),
        ("00ff00ff", "00ff00"),
        ("00ff0080", "00ff0080"),
        ("add", "aadddd"),
        ("bad", "bbaadd"),
        ("nope", None),
        ("", None),
        ("ff00", "ffff0000"),
        ("ff000", None),
        ("#", None),
    ],
)
def test_parse_color(text: str, expected: str | None) -> None:
    assert parse_color(text) == expected


def test_named_colours_match_pillows_table() -> None:
    image_color = pytest.importorskip("PIL.ImageColor")
    pillow = {name: value.removeprefix("#") for name, value in image_color.colormap.items()}
    assert pillow == CSS_COLORS


def test_cache_keys_are_those_of_the_options_as_a_dict() -> None:
    # Result caches already written stay valid: the key is the digest of the options'
    # fields as a JSON object, in field order (as `asdict` gives them).
    opts = options(f"10x20:300x400/fit-in/-640x0/filters:fill(blur):quality(70)/{WEB}")
    as_dict = hashlib.sha256(jsoncodec.dumps(asdict(opts))).hexdigest()[:32]
    assert opts.cache_key() == as_dict
