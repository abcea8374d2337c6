"""fill(colour|auto|blur|transparent[, fill_transparent]): pad a fit-in result to its box.

The picture is centred on the canvas. Without fill_transparent its own transparent pixels
stay transparent (thumbor pastes it unmerged); with it they show the fill colour.
"""

from __future__ import annotations

from confab.media.imaging.colors import RGBA, pixel, rgba
from confab.media.imaging.filters._pixels import Image
from confab.media.imaging.filters.background_color import WHITE
from confab.media.imaging.geometry import Layout, Size


def _placement(image: Image, canvas: Size) -> tuple[int, int, Size]:
    """Centre the picture; a filter that made it larger (rotate, frame) widens the canvas."""
    size = Size(max(canvas.width, image.width), max(canvas.height, image.height))
    return (size.width - image.width) // 2, (size.height - image.height) // 2, size


def apply(image: Image, layout: Layout, how: str, merge: bool) -> Image:
    """Pad a fit-in result to its box: a colour, `auto`, `transparent` or `blur`."""
    if layout.canvas is None:
        return image
    left, top, canvas = _placement(image, layout.canvas)
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
        return _blurred_fill(image, left, top, canvas)
    if how == "auto":
        image = image.copy_memory()  # measured, then written: compute the pixels once
        color = _border_color(image)
    else:
        color = rgba(how)
    if color[3] < 255:  # a translucent colour: the padding keeps its alpha
        if not image.hasalpha():
            image = image.bandjoin_const([255])
        background = pixel(color, image.bands, with_alpha=True)
    elif image.hasalpha() and not merge:
        # thumbor pastes the picture as it is: its transparent pixels stay transparent.
        background = pixel(color, image.bands, with_alpha=True)
    else:
        if image.hasalpha():
            image = image.flatten(background=pixel(color, image.bands - 1, with_alpha=False))
        background = pixel(color, image.bands, with_alpha=False)
    return image.embed(
        left, top, canvas.width, canvas.height, extend="background", background=background
    )


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


def _blurred_fill(image: Image, left: int, top: int, canvas: Size) -> Image:
    """The picture over a blurred, enlarged copy of itself that covers the box."""
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
