"""Opening a source: read the header, refuse what we must refuse, then load the pixels.

Reading a header decodes no pixels (libvips is lazy), so the format and pixel checks run
before any real work: a 15000x15000 PNG bomb is refused in about a millisecond. Pixels are
then loaded with the cheapest shrink-on-load the output allows, sequentially (a streaming
decode, never the whole image in memory unless an operation needs it), and failing on
errors so a truncated file is an error rather than a grey-filled picture.
"""

from __future__ import annotations

import mmap
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import pyvips

from confab.core.errors import NotFound, TooLarge, Unprocessable
from confab.media.domain.frames import FrameRect, GifFrames, decoded_values, scan_gif
from confab.media.domain.options import SourceInfo
from confab.media.imaging import heic
from confab.media.imaging.failures import corrupt, unsupported
from confab.media.imaging.formats import ANIMATED_OUTPUTS, format_of_loader
from confab.media.imaging.geometry import Size
from confab.media.imaging.limits import RenderLimits
from confab.media.imaging.runtime import allowed_formats

Source = str | bytes
T = TypeVar("T")

# "error" fails on truncation and real decode errors, but not on the harmless warnings
# many real-world files trigger (extraneous bytes, unknown markers).
FAIL_ON = "error"
# "warning" fails on the decoder's warnings too: how a JPEG is decoded first.
STRICT = "warning"
# What libjpeg warns when the entropy-coded data ends before the frame header's size.
_FEWER_PIXELS = "premature end of data segment"
# thumbor's SVG_DPI: how an SVG sized in physical units (in, cm, pt) becomes pixels.
# Sizes in px are not affected. libvips' own `dpi` option scales px sizes too, so SVGs
# are read at its 72 dpi and those in physical units scaled by SVG_DPI / 72.
SVG_DPI = 150
_SVG_ROOT = re.compile(rb"<svg\b[^>]*>", re.IGNORECASE)
_SVG_PHYSICAL = re.compile(
    rb"""\b(?:width|height)\s*=\s*["']\s*[\d.]+\s*(?:in|cm|mm|pt|pc)\s*["']"""
)

# Formats whose decoders draw every frame as RGBA into a canvas.
_RGBA_DECODERS = frozenset({"gif", "webp"})


@dataclass(slots=True)
class Header:
    """What the header of a source says, and the lazy image it was read from.

    `load` lets go of the image (None after) when it opens the source again with other
    options, so the source is not held open (mapped) twice while its pixels decode.
    """

    source: Source
    image: pyvips.Image | None
    loader: str
    format: str
    width: int  # as stored (before orientation)
    frame_height: int  # one frame, as stored
    pages: int  # frames of an animation, at most max_frames; 1 otherwise
    orientation: int
    alpha: bool
    icc: bool
    decoded: bool = False  # `image` holds decoded pixels (HEIC), not a lazy libvips load
    svg_scale: float = 1.0  # SVG_DPI / 72 for an SVG sized in physical units
    fail_on: str = FAIL_ON  # how strictly `load` decodes (see `decode_checked`)

    @property
    def animated(self) -> bool:
        return self.pages > 1

    @property
    def turned(self) -> bool:
        """Orientations 5-8 swap width and height."""
        return self.orientation >= 5

    @property
    def size(self) -> Size:
        """One frame's size as a viewer sees it (EXIF orientation applied)."""
        if self.turned:
            return Size(self.frame_height, self.width)
        return Size(self.width, self.frame_height)

    def info(self) -> SourceInfo:
        size = self.size
        return SourceInfo(
            width=size.width,
            height=size.height,
            format=self.format,
            frames=self.pages,
            orientation=self.orientation,
        )


def read_header(source: Source, limits: RenderLimits) -> Header:
    """Open `source` (a file path or bytes) header-only and check it against `limits`.

    Raises UnsupportedMedia for what no enabled loader reads, TooLarge when the pixel
    values of every frame that could be decoded exceed `limits.max_pixels`. libvips errors
    propagate (the caller translates them).
    """
    image, source = _open(source)
    loader = str(image.get("vips-loader"))
    compression = _get_str(image, "heif-compression")
    fmt = format_of_loader(loader, compression)
    if fmt not in allowed_formats(limits.extra_loaders):
        raise unsupported(f"{fmt} images are not enabled on this server")
    svg_scale = _svg_scale(source) if fmt == "svg" else 1.0
    if svg_scale != 1.0:
        image = pyvips.Operation.call(
            loader, source, scale=svg_scale, access="sequential", fail_on=FAIL_ON
        )
    pages = _get_int(image, "n-pages", 1) if fmt in ANIMATED_OUTPUTS else 1
    pages = max(1, min(pages, limits.max_frames))
    frame_height = image.height  # the header loads one page
    _check_pixels(source, fmt, image, frame_height, pages, limits)
    orientation = _get_int(image, "orientation", 1)
    if fmt == "heif" and compression == "hevc":
        return _heic_header(source, image, loader)
    return Header(
        source=source,
        image=image,
        loader=loader,
        format=fmt,
        width=image.width,
        frame_height=frame_height,
        pages=pages,
        orientation=orientation if 1 <= orientation <= 8 else 1,
        alpha=image.hasalpha(),
        icc=image.get_typeof("icc-profile-data") != 0,
        svg_scale=svg_scale,
    )


def _heic_header(source: Source, image: Any, loader: str) -> Header:
    """A HEIC source, decoded by pillow-heif (libvips here has no HEVC decoder)."""
    data = source if isinstance(source, bytes) else _read(source)
    try:
        pixels = heic.decode(data)
    except (ValueError, RuntimeError) as exc:
        raise Unprocessable(
            f"corrupt or truncated HEIC image: {str(exc)[:200]}", code="corrupt_image"
        ) from None
    return Header(
        source=source,
        image=pixels,
        loader=loader,
        format="heic",
        width=pixels.width,
        frame_height=pixels.height,
        pages=1,
        orientation=1,  # libheif has applied the container's rotation and mirroring
        alpha=pixels.hasalpha(),
        icc=False,
        decoded=True,
    )


def _svg_scale(source: Source) -> float:
    """SVG_DPI / 72 when the root element's size is in physical units, else 1."""
    if isinstance(source, str):
        with open(source, "rb") as handle:
            head = handle.read(8192)
    else:
        head = source[:8192]
    root = _SVG_ROOT.search(head)
    if root is None or not _SVG_PHYSICAL.search(root.group(0)):
        return 1.0
    return SVG_DPI / 72


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _check_pixels(
    source: Source, fmt: str, image: Any, frame_height: int, pages: int, limits: RenderLimits
) -> None:
    """TooLarge when decoding would hold more pixel values than `limits.max_pixels`:
    every kept frame's own rectangle (GIF frames may stick out of the screen), times
    the bands the decoder works in (GIF and WebP decoders draw RGBA, whatever the
    image's own bands)."""
    rects: tuple[FrameRect, ...] = ()
    if fmt == "gif":
        scanned = _scan_gif(source, pages)
        rects = scanned.frames if scanned is not None else ()
    bands = 4 if fmt in _RGBA_DECODERS else image.bands
    values = decoded_values(image.width, frame_height, rects, pages, bands)
    if values > limits.max_pixels:
        widest = max((rect.left + rect.width for rect in rects), default=image.width)
        tallest = max((rect.top + rect.height for rect in rects), default=frame_height)
        size = f"{max(widest, image.width)}x{max(tallest, frame_height)}"
        raise TooLarge(
            f"decoding the image would hold {values} pixel values (frames up to {size}"
            f"{f', {pages} frames' if pages > 1 else ''}, {bands} bands); "
            f"the limit is {limits.max_pixels}",
            code="too_many_pixels",
        )


def _scan_gif(source: Source, frames: int) -> GifFrames | None:
    if isinstance(source, bytes):
        return scan_gif(source, frames)
    with open(source, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        view = memoryview(m)
        try:
            return scan_gif(view, frames)
        finally:
            view.release()


def decode_checked(header: Header, work: Callable[[Header], T]) -> T:
    """`work(header)`, refusing a JPEG that holds fewer pixels than its header claims.

    Every decode of a source goes through here: the upload probe, /meta and each render,
    whether the source was uploaded or fetched from a URL. Such a JPEG only makes libjpeg
    warn ("premature end of data segment") and fill the missing rows with grey, so a JPEG
    is decoded strictly first (its warnings fail the work), which costs nothing more for
    a clean file. A strict failure for any other warning (harmless ones, such as bytes
    after the image, are common in the wild) runs the work again with the usual decode.
    """
    if header.format != "jpeg" or header.decoded:
        return work(header)
    header.image = None  # each decode opens the source itself: it is never mapped twice
    try:
        return work(replace(header, fail_on=STRICT))
    except pyvips.Error as exc:
        if _FEWER_PIXELS in f"{exc.message}\n{exc.detail or ''}".lower():
            raise corrupt("the file holds fewer pixels than its header claims") from None
    return work(replace(header, fail_on=FAIL_ON))


def load(
    header: Header,
    *,
    downscale: float = 1.0,
    shrink: int = 1,
    pages: int = 1,
) -> Any:
    """The pixels of `header`'s source, `pages` frames, shrunk on load where possible.

    `shrink` is a JPEG DCT shrink factor; `downscale` (<= 1) is used by loaders that can
    scale while decoding (WebP, SVG). The header says how strictly (`decode_checked`).
    The header's own lazy image is reused when no option differs, which saves parsing
    the header twice.
    """
    if header.decoded:
        return header.image  # already pixels in memory: nothing to shrink on load
    base = header.loader.split("_", 1)[0]
    options: dict[str, Any] = {}
    if base == "jpegload" and shrink > 1:
        options["shrink"] = shrink
    if base == "webpload" and downscale < 1.0:
        options["scale"] = downscale
    if base == "svgload" and (downscale < 1.0 or header.svg_scale != 1.0):
        options["scale"] = min(downscale, 1.0) * header.svg_scale
    if pages > 1:
        options["n"] = pages
    if not options and header.fail_on == FAIL_ON and header.image is not None:
        return header.image
    # Before opening it again: libvips maps a file source whole, and the kernel may map
    # the header's first 2 MiB of it already (a large page-cache folio): ~2 MiB resident
    # per render in flight while both are open.
    header.image = None
    return pyvips.Operation.call(
        header.loader, header.source, access="sequential", fail_on=header.fail_on, **options
    )


def _open(source: Source) -> tuple[Any, Source]:
    """The header-only image and the source to load pixels from (a path or bytes)."""
    if isinstance(source, str):
        if not os.path.isfile(source):
            raise NotFound("the source file is missing", code="source_not_found")
        if "[" in source:
            # libvips would read "[...]" in a file name as load options: read bytes instead.
            with open(source, "rb") as handle:
                source = handle.read()
        else:
            image = pyvips.Image.new_from_file(source, access="sequential", fail_on=FAIL_ON)
            return image, source
    if not source:
        raise unsupported("the source is empty")
    image = pyvips.Image.new_from_buffer(source, "", access="sequential", fail_on=FAIL_ON)
    return image, source


def _get_int(image: Any, name: str, default: int) -> int:
    if image.get_typeof(name) == 0:
        return default
    try:
        return int(image.get(name))
    except (TypeError, ValueError):
        return default


def _get_str(image: Any, name: str) -> str | None:
    if image.get_typeof(name) == 0:
        return None
    return str(image.get(name))
