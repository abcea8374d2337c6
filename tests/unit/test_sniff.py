"""Content sniffing by magic bytes."""

from __future__ import annotations

import struct

import pytest
import pyvips

from confab.media.domain.sniff import SNIFF_KINDS, is_html, sniff


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00" * 32


def _bmp_header(dib_size: int) -> bytes:
    return b"BM" + struct.pack("<IHHI", 70, 0, 0, 54) + struct.pack("<I", dib_size) + b"\0" * 40


HANDMADE = [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "jpeg"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
    (b"GIF87a\x01\x00\x01\x00", "gif"),
    (b"GIF89a\x01\x00\x01\x00", "gif"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "webp"),
    (_ftyp(b"avif", b"mif1", b"miaf"), "avif"),
    (_ftyp(b"avis", b"msf1"), "avif"),
    (_ftyp(b"mif1", b"avif", b"miaf"), "avif"),
    (_ftyp(b"heic", b"mif1"), "heif"),
    (_ftyp(b"mif1", b"heic"), "heif"),
    (_ftyp(b"msf1", b"hevc"), "heif"),
    (b"II*\x00\x08\x00\x00\x00", "tiff"),
    (b"MM\x00*\x00\x00\x00\x08", "tiff"),
    (b"II+\x00\x08\x00\x00\x00", "tiff"),  # BigTIFF
    (b"%PDF-1.7\n%\xe2\xe3", "pdf"),
    (_bmp_header(40), "bmp"),
    (_bmp_header(124), "bmp"),
    (b"\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00\x01\x00\x20\x00" + b"\0" * 16, "ico"),
    (b"\xff\x0a\xfa\x7f", "jxl"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n\x00\x00\x00\x14ftypjxl ", "jxl"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="1"/>', "svg"),
    (
        b"\xef\xbb\xbf  <?xml version='1.0'?>\n<!-- made by hand -->\n"
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd">\n<svg>',
        "svg",
    ),
    (b'<!DOCTYPE svg [ <!ENTITY a "b"> ]>\n<svg:svg xmlns:svg="x">', "svg"),
]

NOT_MEDIA = [
    b"",
    b"\xff\xd8",  # too short for a JPEG
    b"hello world",
    b"<!DOCTYPE html><html><body><svg></svg></body></html>",
    b"<html><svg/></html>",
    b"<?xml version='1.0'?><rss><channel/></rss>",
    b"<svgfoo/>",
    b"BM" + b"\0" * 30,  # "BM" without a known DIB header size
    b"RIFF\x24\x00\x00\x00WAVEfmt ",
    _ftyp(b"isom", b"mp41"),  # an MP4 video
    b"\x00\x00\x01\x00\x00\x00" + b"\0" * 20,  # ICO header with zero images
    b"PK\x03\x04",
    b'{"json": true}',
]


@pytest.mark.parametrize(("data", "kind"), HANDMADE)
def test_magic_bytes_name_the_kind(data: bytes, kind: str) -> None:
    assert sniff(data) == kind
    assert kind in SNIFF_KINDS


@pytest.mark.parametrize("data", NOT_MEDIA)
def test_other_content_is_not_media(data: bytes) -> None:
    assert sniff(data) is None


@pytest.mark.parametrize(
    ("suffix", "kind"),
    [(".jpg", "jpeg"), (".png", "png"), (".gif", "gif"), (".webp", "webp"), (".tif", "tiff")],
)
def test_real_encoder_output_is_recognised(suffix: str, kind: str) -> None:
    image = pyvips.Image.black(8, 8).bandjoin([128, 255]).cast("uchar")
    data = bytes(image.write_to_buffer(suffix))
    assert sniff(data) == kind


def test_real_avif_or_heif_output_is_recognised() -> None:
    image = pyvips.Image.black(16, 16).bandjoin([128, 255]).cast("uchar")
    try:
        data = bytes(image.heifsave_buffer(compression="av1"))
    except pyvips.Error:
        pytest.skip("this libvips has no AV1 encoder")
    assert sniff(data) == "avif"


def test_the_decision_needs_only_a_prefix() -> None:
    big_jpeg = b"\xff\xd8\xff\xe0" + b"\0" * 100_000
    assert sniff(big_jpeg) == "jpeg"
    # An SVG whose root element sits past the sniffed prefix is not recognised.
    assert sniff(b"<!--" + b"x" * 20_000 + b"--><svg>") is None


@pytest.mark.parametrize(
    "data",
    [
        b"<!DOCTYPE html><html><head><title>t</title>",
        b"  \n<HTML lang=en>",
        b"\xef\xbb\xbf<html>",
        b"<head>",
        b"<!-- comment -->\n<p>",
        b"<p>hello</p>",
        b"<a href=x>link</a>",
    ],
)
def test_html_is_recognised(data: bytes) -> None:
    assert is_html(data)


@pytest.mark.parametrize(
    "data", [b"", b"hello", b"<svg>", b"<?xml version='1.0'?><rss/>", b"<abbr>", b"<html"]
)
def test_non_html_is_not_html(data: bytes) -> None:
    assert not is_html(data)
