"""thumbor's pixel filters: blur, grayscale, fill (padding) and background_color.

They run on the shaped (small) image, in this fixed order: blur, grayscale, fill, then
flattening of transparency onto the background colour when asked or when the output
format has no alpha (JPEG), onto white by default.
"""

from __future__ import annotations

from typing import Any

from confab.media.domain.options import OutputFormat, RenderOptions
from confab.media.imaging.colors import RGBA, pixel, rgba
from confab.media.imaging.formats import ALPHA_OUTPUTS
from confab.media.imaging.geometry import Layout

Image = Any  # pyvips.Image

WHITE: RGBA = (255, 255, 255, 255)


def apply_filters(image: Image, layout: Layout, options: RenderOptions, fmt: OutputFormat) -> Image:
    """Every filter of `options`, in order, on one shaped frame."""
    if options.blur:
        image = blur(image, options.blur)
    if options.grayscale:
        image = image.colourspace("b-w")
    if options.fill is not None and layout.canvas is not None:
        image = fill(image, layout, options.fill)
    return flatten(image, fmt, options.background_color)


def blur(image: Image, sigma: float) -> Image:
    """A Gaussian blur (the grammar turns thumbor's radius and sigma into one sigma)."""
    return image.gaussblur(max(0.3, sigma))


def fill(image: Image, layout: Layout, how: str) -> Image:
    """Pad a fit-in result to its box: a colour, `auto`, `transparent` or `blur`."""
    canvas = layout.canvas
    if canvas is None:
        return image
    left, top = layout.placement
    if how == "transparent":
        if not image.hasalpha():
            image = image.bandjoin_const([255])
        return image.embed(
            left,
            top,
            canvas.width,
            canvas.height,
            extend="background",
            background=[0] * image.bands,
        )
    if how == "blur":
        return _blurred_fill(image, layout)
    if how == "auto":
        image = image.copy_memory()  # measured, then written: compute the pixels once
        color = _border_color(image)
    else:
        color = rgba(how)
    if color[3] < 255:  # a translucent colour: the padding keeps its alpha
        if not image.hasalpha():
            image = image.bandjoin_const([255])
        background = pixel(color, image.bands, with_alpha=True)
    else:
        if image.hasalpha():
            image = image.flatten(background=pixel(color, image.bands - 1, with_alpha=False))
        background = pixel(color, image.bands, with_alpha=False)
    return image.embed(
        left, top, canvas.width, canvas.height, extend="background", background=background
    )


def flatten(image: Image, fmt: OutputFormat, background_color: str | None) -> Image:
    """Composite transparency onto `background_color` (or white when `fmt` has no alpha)."""
    if not image.hasalpha():
        return image
    if background_color is None and fmt in ALPHA_OUTPUTS:
        return image
    color = rgba(background_color) if background_color is not None else WHITE
    return image.flatten(background=pixel(color, image.bands - 1, with_alpha=False))


def _border_color(image: Image) -> RGBA:
    """thumbor's fill(auto), approximately: the mean colour of the outermost pixels.

    `image` must be in memory (it is read several times).
    """
    width, height = image.width, image.height
    edges = [
        image.crop(0, 0, width, 1),
        image.crop(0, height - 1, width, 1),
        image.crop(0, 0, 1, height),
        image.crop(width - 1, 0, 1, height),
    ]
    colour_bands = image.bands - 1 if image.hasalpha() else image.bands
    totals = [0.0] * colour_bands
    count = 0
    for edge in edges:
        pixels = edge.width * edge.height
        for band in range(colour_bands):
            totals[band] += edge.extract_band(band).avg() * pixels
        count += pixels
    means = [round(total / count) for total in totals]
    if len(means) < 3:
        means = [means[0]] * 3
    return means[0], means[1], means[2], 255


def _blurred_fill(image: Image, layout: Layout) -> Image:
    """The picture over a blurred, enlarged copy of itself that covers the box."""
    canvas = layout.canvas
    assert canvas is not None
    left, top = layout.placement
    picture = image.copy_memory()  # read twice: once for the background, once on top
    background = (
        picture.flatten(background=pixel(WHITE, picture.bands - 1, with_alpha=False))
        if picture.hasalpha()
        else picture
    )
    scale = max(canvas.width / background.width, canvas.height / background.height)
    background = background.resize(scale, kernel="linear")
    background = background.crop(
        (background.width - canvas.width) // 2,
        (background.height - canvas.height) // 2,
        min(canvas.width, background.width),
        min(canvas.height, background.height),
    ).embed(0, 0, canvas.width, canvas.height, extend="copy")
    background = background.gaussblur(max(2.0, max(canvas.width, canvas.height) / 40))
    if picture.hasalpha():
        return background.composite2(picture, "over", x=left, y=top).flatten().cast("uchar")
    return background.insert(picture, left, top)
