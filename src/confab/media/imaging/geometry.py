"""Where every output pixel comes from: a pure function of the source size and the options.

Both `plan` (thumbor's /meta) and `render` call `plan_layout`, so what /meta announces is
what a render produces. Sizes are in the source's pixels *after* EXIF orientation (what a
viewer sees), frame by frame for animations.

The steps follow thumbor's transformer: trim, then the manual crop box, then the target size
(a 0 side keeps the aspect ratio, `orig` keeps the source side), then either crop-to-fill
(scale to cover the box, cut the overflow at the alignment) or one of the fit-in modes
(scale to fit inside; `adaptive-` turns the box to the source's orientation; `full-` scales
so the box is covered without cutting), then flips. Unlike thumbor we scale first and cut
after, which gives the same picture with exact output sizes. Every side of the output is
capped by `max_output_side`: larger requests are scaled down, keeping their aspect ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from confab.media.domain.options import RenderOptions


@dataclass(frozen=True, slots=True)
class Size:
    """A width and height in pixels."""

    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in pixels: left/top corner and size."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def size(self) -> Size:
        return Size(self.width, self.height)

    def as_dict(self) -> dict[str, int]:
        """thumbor's way of describing a box in /meta."""
        return {"left": self.left, "top": self.top, "right": self.right, "bottom": self.bottom}


@dataclass(frozen=True, slots=True)
class Layout:
    """The geometric plan of one render.

    `region` (source pixels) is scaled to `resize`; `crop` is then the window of the
    resized image that is kept (crop-to-fill only; with `smart` its position is chosen by
    interest at render time, its size is fixed here); the result is flipped, then padded
    to `canvas`, centred, when a fill asks for it.
    """

    source: Size
    region: Box
    trim: Box | None
    resize: Size
    crop: Box | None
    smart: bool
    canvas: Size | None
    flip_horizontal: bool
    flip_vertical: bool

    @property
    def image(self) -> Size:
        """The picture's size before any padding."""
        return self.crop.size if self.crop is not None else self.resize

    @property
    def output(self) -> Size:
        """The size of the output (of each frame)."""
        return self.canvas if self.canvas is not None else self.image

    @property
    def placement(self) -> tuple[int, int]:
        """Where the picture sits on the canvas (centred)."""
        out, image = self.output, self.image
        return (out.width - image.width) // 2, (out.height - image.height) // 2

    @property
    def downscale(self) -> float:
        """How much smaller than the region the resized image is (1.0: no shrink)."""
        return min(
            1.0, max(self.resize.width / self.region.width, self.resize.height / self.region.height)
        )

    def operations(self) -> list[dict[str, Any]]:
        """The geometric operations in order, in the shape of thumbor's /meta."""
        ops: list[dict[str, Any]] = []
        if self.trim is not None:
            ops.append({"type": "trim", **self.trim.as_dict()})
        if self.region != (self.trim or Box(0, 0, self.source.width, self.source.height)):
            ops.append({"type": "crop", **self.region.as_dict()})
        if self.resize != self.region.size:
            ops.append({"type": "resize", "width": self.resize.width, "height": self.resize.height})
        if self.crop is not None:
            ops.append({"type": "smart_crop" if self.smart else "crop", **self.crop.as_dict()})
        if self.flip_horizontal:
            ops.append({"type": "flip_horizontally"})
        if self.flip_vertical:
            ops.append({"type": "flip_vertically"})
        if self.canvas is not None:
            left, top = self.placement
            ops.append(
                {
                    "type": "fill",
                    "width": self.canvas.width,
                    "height": self.canvas.height,
                    "left": left,
                    "top": top,
                }
            )
        return ops


def plan_layout(
    source: Size, options: RenderOptions, max_output_side: int, trim: Box | None = None
) -> Layout:
    """The layout of rendering a `source`-sized image (oriented) with `options`.

    `trim` is the box a trim found (it needs the pixels, so the caller measures it).
    """
    region = _region(source, options, trim)
    width, height = _requested(region, options)
    target_w, target_h = _target(region, width, height)
    if options.fit == "crop" and options.stretch and options.width and options.height:
        # thumbor's stretch(): scale to the box exactly, no crop.
        resize, crop, canvas = Size(*_cap(target_w, target_h, max_output_side)), None, None
    elif options.fit == "crop":
        resize, crop, canvas = _fill_box(region, target_w, target_h, options, max_output_side)
    else:
        resize, canvas = _fit_box(region, target_w, target_h, options, max_output_side)
        crop = None
    return Layout(
        source=source,
        region=region,
        trim=trim,
        resize=resize,
        crop=crop,
        smart=options.smart and crop is not None and options.focal is None,
        canvas=canvas,
        flip_horizontal=options.flip_horizontal,
        flip_vertical=options.flip_vertical,
    )


def jpeg_shrink(layout: Layout) -> int:
    """The largest JPEG shrink-on-load factor (1, 2, 4 or 8) that keeps enough pixels.

    Like Pillow's draft mode: the image is decoded at 1/k scale (in the DCT, nearly for
    free) as long as the decoded region is still at least as large as the resized one.
    """
    region, resize = layout.region, layout.resize
    for factor in (8, 4, 2):
        if region.width // factor >= resize.width and region.height // factor >= resize.height:
            return factor
    return 1


def _round(value: float) -> int:
    """Round half up, never below one pixel."""
    return max(1, math.floor(value + 0.5))


def _clamp(value: int, low: int, high: int) -> int:
    return min(max(value, low), high)


def _region(source: Size, options: RenderOptions, trim: Box | None) -> Box:
    """The part of the source kept: the trim box, then the manual crop inside it."""
    region = trim if trim is not None else Box(0, 0, source.width, source.height)
    box = options.crop
    if box is None:
        return region
    # The crop box is in source coordinates; thumbor clamps it and ignores an empty one.
    left = _clamp(box.left - region.left, 0, region.width)
    right = _clamp(box.right - region.left, 0, region.width)
    top = _clamp(box.top - region.top, 0, region.height)
    bottom = _clamp(box.bottom - region.top, 0, region.height)
    if left >= right or top >= bottom:
        return region
    return Box(region.left + left, region.top + top, right - left, bottom - top)


def _requested(region: Box, options: RenderOptions) -> tuple[int, int]:
    """The requested sides (0: derive), `orig` resolved, thumbor's no_upscale() applied."""
    width = region.width if options.width_orig else options.width
    height = region.height if options.height_orig else options.height
    if options.upscale is False:
        # thumbor's no_upscale(): each requested side is capped by the source's.
        width, height = min(width, region.width), min(height, region.height)
    return width, height


def _target(region: Box, width: int, height: int) -> tuple[int, int]:
    """The target box: a missing side follows the source's aspect ratio."""
    if not width and not height:
        return region.width, region.height
    if not width:
        width = _round(height * region.width / region.height)
    if not height:
        height = _round(width * region.height / region.width)
    return width, height


def _cap(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Scale a box down, keeping its aspect ratio, so no side exceeds `max_side`."""
    biggest = max(width, height)
    if biggest <= max_side:
        return width, height
    factor = max_side / biggest
    return max(1, math.floor(width * factor)), max(1, math.floor(height * factor))


def _fill_box(
    region: Box, target_w: int, target_h: int, options: RenderOptions, max_side: int
) -> tuple[Size, Box | None, Size | None]:
    """Crop-to-fill: scale the region to cover the target, cut the overflow at the alignment."""
    target_w, target_h = _cap(target_w, target_h, max_side)
    if target_w * region.height >= target_h * region.width:
        resize = Size(target_w, max(target_h, _round(region.height * target_w / region.width)))
    else:
        resize = Size(max(target_w, _round(region.width * target_h / region.height)), target_h)
    if resize == Size(target_w, target_h):
        return resize, None, None
    spare_w, spare_h = resize.width - target_w, resize.height - target_h
    left = {"left": 0, "center": spare_w // 2, "right": spare_w}[options.halign]
    top = {"top": 0, "middle": spare_h // 2, "bottom": spare_h}[options.valign]
    focus = _focus(region, options)
    if focus is not None:
        # thumbor centres the crop on the focal point's centre, kept inside the image.
        left = _clamp(round(focus[0] * resize.width / region.width - target_w / 2), 0, spare_w)
        top = _clamp(round(focus[1] * resize.height / region.height - target_h / 2), 0, spare_h)
    return resize, Box(left, top, target_w, target_h), None


def _focus(region: Box, options: RenderOptions) -> tuple[float, float] | None:
    """The centre of the focal box in region coordinates (None: none, or outside it)."""
    box = options.focal
    if box is None:
        return None
    x = (box.left + box.right) / 2 - region.left
    y = (box.top + box.bottom) / 2 - region.top
    if not (0 <= x <= region.width and 0 <= y <= region.height):
        return None  # thumbor drops focal points the manual crop cut away
    return x, y


def _fit_box(
    region: Box, target_w: int, target_h: int, options: RenderOptions, max_side: int
) -> tuple[Size, Size | None]:
    """The fit-in modes: scale to fit inside the box (or to cover it for full-fit-in)."""
    if options.fit in ("adaptive-fit-in", "adaptive-full-fit-in") and (
        (region.width < region.height and target_w > target_h)
        or (region.width > region.height and target_w < target_h)
    ):
        target_w, target_h = target_h, target_w
    full = options.fit in ("full-fit-in", "adaptive-full-fit-in")
    # thumbor: fit-in never enlarges unless upscale() is given; full-fit-in does.
    upscale = options.upscale if options.upscale is not None else full
    by_width = (region.width * target_h >= region.height * target_w) != full
    scale = target_w / region.width if by_width else target_h / region.height
    if scale >= 1 and not upscale:
        scale = 1.0
        resize = region.size
    elif by_width:
        resize = Size(target_w, _round(region.height * scale))
    else:
        resize = Size(_round(region.width * scale), target_h)
    canvas = (
        Size(max(target_w, resize.width), max(target_h, resize.height))
        if options.fill is not None
        else resize
    )
    biggest = max(canvas.width, canvas.height)
    if biggest > max_side:
        factor = max_side / biggest
        resize = Size(
            min(max_side, _round(region.width * scale * factor)),
            min(max_side, _round(region.height * scale * factor)),
        )
        canvas = Size(
            max(resize.width, math.floor(canvas.width * factor)),
            max(resize.height, math.floor(canvas.height * factor)),
        )
    return resize, (canvas if canvas != resize else None)
