"""thumbor's filters on libvips, one module per filter (as thumbor's thumbor/filters/).

Arguments are parsed and checked by `confab.media.domain.pixelfilters` (the domain may not
touch the image library); the modules here only draw. `apply_filters` runs on each shaped
frame: first the pixel filters in URL order (thumbor's pipeline), then blur, grayscale,
fill, and flattening onto the background colour (or white, when the output has no alpha),
which Confab has always run in that fixed order.
"""

from __future__ import annotations

from collections.abc import Callable

from confab.media.domain.options import OutputFormat, PixelFilter, RenderOptions
from confab.media.imaging.filters import (
    brightness,
    colorize,
    contrast,
    convolution,
    curve,
    equalize,
    frame,
    noise,
    proportion,
    rgb,
    rotate,
    round_corner,
    saturation,
    sharpen,
    watermark,
)
from confab.media.imaging.filters._pixels import Image
from confab.media.imaging.filters.background_color import flatten
from confab.media.imaging.filters.blur import apply as blur
from confab.media.imaging.filters.fill import apply as fill
from confab.media.imaging.filters.overlays import Overlays
from confab.media.imaging.geometry import Layout

__all__ = ["Overlays", "apply_filters", "apply_pipeline", "blur", "fill", "flatten"]

Step = Callable[..., Image]

# Filters that take only their own arguments.
_PLAIN: dict[str, Step] = {
    "brightness": brightness.apply,
    "contrast": contrast.apply,
    "equalize": equalize.apply,
    "rotate": rotate.apply,
    "noise": noise.apply,
    "rgb": rgb.apply,
    "round_corner": round_corner.apply,
    "sharpen": sharpen.apply,
    "saturation": saturation.apply,
    "colorize": colorize.apply,
    "convolution": convolution.apply,
    "curve": curve.apply,
    "proportion": proportion.apply,
}
# Filters that draw another image too.
_WITH_OVERLAYS: dict[str, Step] = {
    "watermark": watermark.apply,
    "frame": frame.apply,
}


def apply_pipeline(image: Image, pipeline: tuple[PixelFilter, ...], overlays: Overlays) -> Image:
    """The pixel filters, in order.

    The shaped frame is brought into memory first (it is thumbnail-sized): several
    filters read their input more than once, and the source was opened for one
    sequential pass.
    """
    if pipeline:
        image = image.copy_memory()
    for step in pipeline:
        plain = _PLAIN.get(step.name)
        if plain is not None:
            image = plain(image, *step.args)
        else:
            image = _WITH_OVERLAYS[step.name](image, *step.args, overlays)
    return image


def apply_filters(
    image: Image,
    layout: Layout,
    options: RenderOptions,
    fmt: OutputFormat,
    overlays: Overlays,
) -> Image:
    """Every filter of `options`, in order, on one shaped frame."""
    if options.pipeline:
        image = apply_pipeline(image, options.pipeline, overlays)
    if options.blur:
        image = blur(image, options.blur)
    if options.grayscale:
        image = image.colourspace("b-w")
    if options.fill is not None and layout.canvas is not None:
        image = fill(image, layout, options.fill, options.fill_transparent)
    return flatten(image, fmt, options.background_color)
