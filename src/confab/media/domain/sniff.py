"""Content sniffing by magic bytes: what a body really is, whatever its headers claim.

Pure functions over a prefix of the data (no I/O). A prefix of a few KiB is enough for
every kind here, so a fetcher can decide before it has read a whole body.
"""

from __future__ import annotations

import re
import struct
from typing import Final

#: Every kind `sniff` can return: things a renderer may be able to load.
SNIFF_KINDS: Final = frozenset(
    {"jpeg", "png", "gif", "webp", "avif", "heif", "tiff", "svg", "pdf", "bmp", "ico", "jxl"}
)

#: How many leading bytes the sniffers look at, at most.
SNIFF_PREFIX_BYTES: Final = 16 * 1024

_UTF8_BOM: Final = b"\xef\xbb\xbf"
_AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})
_HEIF_BRANDS: Final = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
)
# BITMAPCOREHEADER, INFOHEADER, V2/V3 (Adobe), OS/2 v2 (both sizes), V4, V5.
_BMP_DIB_SIZES: Final = frozenset({12, 40, 52, 56, 16, 64, 108, 124})
_JXL_CONTAINER: Final = b"\x00\x00\x00\x0cJXL \r\n\x87\n"

# Leading noise an XML document may carry before its root element.
_XML_PROLOG_ITEM: Final = re.compile(
    rb"\s+|<\?xml.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>",
    re.DOTALL | re.IGNORECASE,
)
_SVG_ROOT: Final = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?svg[\s>/]")
# The WHATWG MIME sniffing standard's "HTML" patterns, after leading whitespace.
_HTML_START: Final = re.compile(
    rb"<(?:!DOCTYPE\s+HTML|HTML|HEAD|SCRIPT|IFRAME|H1|DIV|FONT|TABLE|A|STYLE|TITLE|B|BODY|BR|P"
    rb"|!--)[\s>]",
    re.IGNORECASE,
)


def sniff(data: bytes) -> str | None:
    """The kind of media `data` starts with, judged by magic bytes, or None.

    Returns one of SNIFF_KINDS. Only the first SNIFF_PREFIX_BYTES bytes are looked at.
    """
    head = data[:SNIFF_PREFIX_BYTES]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        return _iso_bmff_kind(head)
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "tiff"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\xff\x0a") or head.startswith(_JXL_CONTAINER):
        return "jxl"
    if _is_bmp(head):
        return "bmp"
    if _is_ico(head):
        return "ico"
    if _is_svg(head):
        return "svg"
    return None


def is_html(data: bytes) -> bool:
    """Whether `data` looks like an HTML document (WHATWG sniffing patterns)."""
    head = data[:SNIFF_PREFIX_BYTES]
    head = head.removeprefix(_UTF8_BOM).lstrip(b" \t\n\r\x0c")
    return _HTML_START.match(head) is not None


def _iso_bmff_kind(head: bytes) -> str | None:
    """AVIF or HEIF from an ISO-BMFF `ftyp` box: major brand, then compatible brands."""
    (box_size,) = struct.unpack(">I", head[:4])
    if box_size < 16 or len(head) < 12:
        return None
    major = head[8:12]
    end = min(box_size, len(head))
    compatible = {head[i : i + 4] for i in range(16, end - 3, 4)}
    if major in _AVIF_BRANDS:
        return "avif"
    if major in _HEIF_BRANDS - {b"mif1", b"msf1"}:
        return "heif"
    # A generic image brand: the compatible brands say which codec is inside.
    if compatible & _AVIF_BRANDS:
        return "avif"
    if major in _HEIF_BRANDS or compatible & _HEIF_BRANDS:
        return "heif"
    return None  # some other ISO-BMFF file: MP4, QuickTime, 3GP...


def _is_bmp(head: bytes) -> bool:
    # "BM" alone is too weak a signal; the DIB header size must be a known one.
    if len(head) < 18 or not head.startswith(b"BM"):
        return False
    (dib_size,) = struct.unpack("<I", head[14:18])
    return dib_size in _BMP_DIB_SIZES


def _is_ico(head: bytes) -> bool:
    # Reserved 0, type 1 (icon), then a non-zero image count; first entry's reserved byte 0.
    if len(head) < 22 or not head.startswith(b"\x00\x00\x01\x00"):
        return False
    (count,) = struct.unpack("<H", head[4:6])
    return count > 0 and head[9] == 0


def _is_svg(head: bytes) -> bool:
    """An XML document whose root element is <svg> (optionally namespace-prefixed)."""
    text = head.removeprefix(_UTF8_BOM)
    position = 0
    while True:
        item = _XML_PROLOG_ITEM.match(text, position)
        if item is None or item.end() == position:
            break
        position = item.end()
    return _SVG_ROOT.match(text, position) is not None
