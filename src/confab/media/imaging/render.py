"""One render, start to finish: header checks, layout, shrink-on-load, shaping, encoding.

`render`, `probe` and `plan` are the work behind the media tasks. They translate every
libvips failure into a Confab error and apply the loader policy themselves, so they behave
the same in a configured worker process and when called in-process.
"""

from __future__ import annotations

import math
from typing import Any

import pyvips

from confab.media.domain.options import (
    OutputFormat,
    Rendered,
    RenderOptions,
    SourceInfo,
    VideoFormat,
)
from confab.media.imaging import encoding, video
from confab.media.imaging.failures import vips_errors
from confab.media.imaging.filters import Overlays, apply_filters, flatten
from confab.media.imaging.formats import ANIMATED_OUTPUTS, LOSSY_OUTPUTS, choose_format
from confab.media.imaging.geometry import Box, Layout, jpeg_shrink, plan_layout
from confab.media.imaging.limits import RenderLimits
from confab.media.imaging.runtime import ensure_loaders
from confab.media.imaging.shaping import orient, shape, smart_window, to_srgb
from confab.media.imaging.source import Header, Source, decode_checked, load, read_header

Image = Any  # pyvips.Image


def render(
    source: Source,
    options: RenderOptions,
    auto_formats: tuple[OutputFormat, ...],
    limits: RenderLimits,
    overlays: dict[str, bytes] | None = None,
) -> Rendered:
    """Render `source` (a file path or bytes) as `options` ask.

    `overlays` are the fetched images the filters draw (watermark, frame), by URL.
    """
    ensure_loaders(limits.extra_loaders)
    drawn = Overlays(overlays or {}, limits)
    with vips_errors():
        header = read_header(source, limits)
        return decode_checked(
            header, lambda checked: _render(checked, options, auto_formats, limits, drawn)
        )


def _render(
    header: Header,
    options: RenderOptions,
    auto_formats: tuple[OutputFormat, ...],
    limits: RenderLimits,
    drawn: Overlays,
) -> Rendered:
    fmt = _format(header, options, auto_formats)
    frames = _frames(header, fmt, options)
    trim, upright = _trim(header, options) if options.trim else (None, None)
    layout = plan_layout(header.size, options, limits.max_output_side, trim=trim)
    if upright is not None:
        image = _picture(upright, layout, options, fmt, header.icc, drawn)
    elif frames > 1:
        image = _animation(header, layout, options, fmt, frames, drawn)
    else:
        loaded = load(header, downscale=layout.downscale, shrink=_shrink(header, layout))
        upright = orient(loaded, header.orientation, _spare_scale(header, layout, loaded))
        image = _picture(upright, layout, options, fmt, header.icc, drawn)
    page_height = int(image.get("page-height")) if frames > 1 else image.height
    width = image.width
    out: OutputFormat | VideoFormat = fmt
    if options.gifv is not None and header.format == "gif":
        # thumbor's gifv(): the GIF it would have written, as a video instead.
        delays = list(image.get("delay")) if image.get_typeof("delay") else []
        # Videos have no alpha: onto background_color, or white (thumbor's default).
        image = flatten(image, "jpeg", options.background_color)
        data = video.encode(image, page_height, delays, options.gifv)
        out = options.gifv
        width, page_height = width - width % 2, page_height - page_height % 2
    else:
        data = encoding.encode(image, fmt, options.quality, options.max_bytes)
    return Rendered(
        data=data,
        format=out,
        width=width,
        height=page_height,
        frames=frames,
        source=header.info(),
        operations=tuple(_describe(op) for op in operations(layout, options, fmt)),
    )


def _format(
    header: Header, options: RenderOptions, auto_formats: tuple[OutputFormat, ...]
) -> OutputFormat:
    """The output format; thumbor's autojpg() turns an opaque PNG into a JPEG."""
    requested = options.format
    if options.gifv is not None and header.format == "gif":
        requested = "gif"  # frames for the video: flattened, every one kept
    if requested is None and options.autojpg and header.format == "png" and not header.alpha:
        requested = "jpeg"
    return choose_format(
        header.format,
        animated=header.animated and not options.cover,
        alpha=header.alpha,
        requested=requested,
        auto_formats=auto_formats,
    )


def probe(data: bytes, limits: RenderLimits) -> SourceInfo:
    """What `data` is, refusing what a render would refuse.

    The header is checked first (format enabled, pixel cap), so bombs cost nothing; then
    the pixels are decoded once at the cheapest scale (1/8 for JPEG) and dropped, which
    catches truncated and corrupt files before they are stored.
    """
    ensure_loaders(limits.extra_loaders)
    with vips_errors():
        header = read_header(data, limits)
        check_decodes(header)
    return header.info()


def check_decodes(header: Header, pages: int | None = None) -> None:
    """Decode the pixels of `header`'s source (its first `pages` frames, default all) at
    the cheapest scale, keeping none: Unprocessable if their data is truncated or corrupt,
    or (a JPEG) holds fewer pixels than its header claims (`decode_checked`, as every
    render decodes)."""
    count = header.pages if pages is None else min(pages, header.pages)
    decode_checked(
        header,
        lambda checked: load(checked, downscale=0.125, shrink=8, pages=count).avg(),
    )


def plan(source: Source, options: RenderOptions, limits: RenderLimits) -> dict[str, Any]:
    """thumbor's /meta: the source, the operations planned and the output size.

    Without an Accept header to go by, the format is the requested or the source's one.
    """
    ensure_loaders(limits.extra_loaders)
    with vips_errors():
        header = read_header(source, limits)
        # A file every render would refuse is refused here too. Every render decodes the
        # first frame (a still, cover(), or an animation's first), so that one is enough:
        # a GIF's later frames cost /meta nothing (256 frames of 400x400: 296 ms -> 2 ms).
        # A corrupt later frame fails the animated renders only; uploads are probed whole.
        check_decodes(header, pages=1)
        fmt = _format(header, options, ())
        trim = _trim(header, options)[0] if options.trim else None
    layout = plan_layout(header.size, options, limits.max_output_side, trim=trim)
    info = header.info()
    output = layout.output
    ops = operations(layout, options, fmt)
    return {
        # thumbor's own shape (its JSON engine), then Confab's details beside it.
        "thumbor": {
            "source": {
                "url": "",  # filled in by the service, which knows the URL
                "width": info.width,
                "height": info.height,
                "frameCount": info.frames,
            },
            "operations": [op for op in ops if op["type"] in _THUMBOR_OPERATIONS],
            "target": {"width": output.width, "height": output.height},
            **_focal_points(options),
        },
        "source": {
            "width": info.width,
            "height": info.height,
            "format": info.format,
            "frames": info.frames,
            "orientation": info.orientation,
        },
        "operations": ops,
        "target": {"width": output.width, "height": output.height},
        "format": fmt,
        "frames": _frames(header, fmt, options),
    }


# The operation types thumbor's JSON engine records (the rest are Confab's own detail).
_THUMBOR_OPERATIONS = frozenset({"crop", "resize", "flip_horizontally", "flip_vertically"})


def _focal_points(options: RenderOptions) -> dict[str, Any]:
    """thumbor lists focal points (from focal()/extract_focal()) when there are any."""
    box = options.focal
    if box is None:
        return {}
    width, height = box.right - box.left, box.bottom - box.top
    point = {
        "x": box.left + width / 2,
        "y": box.top + height / 2,
        "z": 1.0,
        "height": height,
        "width": width,
        "origin": "alignment",
    }
    return {"focal_points": [point]}


def operations(layout: Layout, options: RenderOptions, fmt: OutputFormat) -> list[dict[str, Any]]:
    """Every operation a render performs, in order (geometry, filters, encoding)."""
    ops = [op for op in layout.operations() if op["type"] != "fill"]
    if options.blur:
        ops.append({"type": "blur", "sigma": options.blur})
    if options.grayscale:
        ops.append({"type": "grayscale"})
    ops += [{"type": step.name, "arguments": list(step.args)} for step in options.pipeline]
    if options.fill is not None:
        ops += [{**op, "color": options.fill} for op in layout.operations() if op["type"] == "fill"]
    if options.background_color is not None:
        ops.append({"type": "background_color", "color": options.background_color})
    encode: dict[str, Any] = {"type": "format", "format": fmt}
    if fmt in LOSSY_OUTPUTS:
        encode["quality"] = options.quality or encoding.DEFAULT_QUALITY
        if options.max_bytes is not None:
            encode["max_bytes"] = options.max_bytes
    ops.append(encode)
    return ops


def _describe(op: dict[str, Any]) -> str:
    details = ",".join(f"{key}={value}" for key, value in op.items() if key != "type")
    return f"{op['type']}({details})"


def _frames(header: Header, fmt: OutputFormat, options: RenderOptions) -> int:
    """Frames in the output: all (up to the cap) when `fmt` animates; a trimmed render is
    a still (the trim is measured on the first frame), and cover() asks for one."""
    animate = fmt in ANIMATED_OUTPUTS and not options.trim and not options.cover
    return header.pages if animate else 1


def _shrink(header: Header, layout: Layout) -> int:
    return jpeg_shrink(layout) if header.format == "jpeg" else 1


def _spare_scale(header: Header, layout: Layout, loaded: Image) -> float:
    """How much more the loaded pixels could shrink before the layout's own resize."""
    stored_width = layout.source.height if header.turned else layout.source.width
    return min(1.0, layout.downscale * stored_width / float(loaded.width))


def _picture(
    upright: Image,
    layout: Layout,
    options: RenderOptions,
    fmt: OutputFormat,
    icc: bool,
    overlays: Overlays,
) -> Image:
    """One upright frame through the layout, colour conversion and filters."""
    image = to_srgb(shape(upright, layout), icc)
    return apply_filters(image, layout, options, fmt, overlays)


def _animation(
    header: Header,
    layout: Layout,
    options: RenderOptions,
    fmt: OutputFormat,
    frames: int,
    overlays: Overlays,
) -> Image:
    """Every frame through the same layout, joined back into an animation strip."""
    strip = load(header, downscale=layout.downscale, pages=frames)
    page_height = strip.get("page-height") if strip.get_typeof("page-height") else strip.height
    count = max(1, min(frames, strip.height // page_height))
    pages = [strip.crop(0, i * page_height, strip.width, page_height) for i in range(count)]
    # The smart crop is found once, on the first frame (decoded on its own: the strip is
    # read once, in order), so the window does not jump from frame to frame.
    window = None
    if layout.smart:
        window = smart_window(load(header, downscale=layout.downscale), layout)
    shaped = [_frame(page, layout, options, fmt, header.icc, window, overlays) for page in pages]
    joined = pyvips.Image.arrayjoin(shaped, across=1).copy()
    # Filters may change the frame size (rotate, frame, proportion): every frame alike.
    joined.set_type(pyvips.GValue.gint_type, "page-height", shaped[0].height)
    for name in ("delay", "loop", "gif-loop"):
        if strip.get_typeof(name):
            value = strip.get(name)
            if name == "delay":
                joined.set_type(pyvips.GValue.array_int_type, name, list(value)[:count])
            else:
                joined.set_type(pyvips.GValue.gint_type, name, int(value))
    return joined


def _frame(
    page: Image,
    layout: Layout,
    options: RenderOptions,
    fmt: OutputFormat,
    icc: bool,
    window: tuple[int, int] | None,
    overlays: Overlays,
) -> Image:
    image = to_srgb(shape(page, layout, window), icc)
    return apply_filters(image, layout, options, fmt, overlays)


def _trim_threshold(tolerance: int) -> float:
    """thumbor's tolerance (a euclidean RGB distance) as find_trim's threshold.

    find_trim compares the mean over bands of the absolute difference, which is between
    1/3 and 1/sqrt(3) of the euclidean distance; we take the latter. Tolerance 0 means
    "exactly the corner's colour", so any difference at all must count as the subject.
    """
    return max(0.5, tolerance / math.sqrt(3))


def _trim(header: Header, options: RenderOptions) -> tuple[Box | None, Image]:
    """The box left after trimming the edges that have the colour of the chosen corner
    (within the tolerance), and the upright full-size pixels it was measured on (reused
    for the render, so the source is decoded once).
    """
    loaded = load(header).copy_memory()
    upright = loaded.autorot() if header.orientation != 1 else loaded
    measured = upright
    if measured.hasalpha():
        measured = measured.flatten(background=[255.0] * (measured.bands - 1))
    if options.trim_corner == "bottom-right":
        background = measured.getpoint(measured.width - 1, measured.height - 1)
    else:
        background = measured.getpoint(0, 0)
    left, top, width, height = measured.find_trim(
        threshold=_trim_threshold(options.trim_tolerance), background=background
    )
    if width <= 0 or height <= 0 or (width, height) == (upright.width, upright.height):
        return None, upright
    return Box(left, top, width, height), upright
