"""frame(url): draw a nine-patch image around the picture (thumbor's frame filter and
_nine_patch.c, after Android's nine-patch format).

The nine-patch's 1-pixel border marks, in opaque black, which columns (top row) and rows
(left column) stretch, and the content padding (bottom row, right column). The picture is
padded by that padding, then the nine-patch, stretched to the padded size with its
corners kept, is composited over it.
"""

from __future__ import annotations

from confab.media.imaging.filters._pixels import Image
from confab.media.imaging.filters.overlays import Overlays
from confab.media.imaging.geometry import Size
from confab.media.imaging.shaping import resize


def _line(image: Image, *, row: int | None = None, column: int | None = None) -> list[bool]:
    """Which inner pixels of a border row/column are opaque black."""
    if row is not None:
        strip = image.crop(1, row, image.width - 2, 1)
        values = strip.write_to_memory()
        return [values[i * 4 : i * 4 + 4] == b"\0\0\0\xff" for i in range(strip.width)]
    assert column is not None
    strip = image.crop(column, 1, 1, image.height - 2)
    values = strip.write_to_memory()
    return [values[i * 4 : i * 4 + 4] == b"\0\0\0\xff" for i in range(strip.height)]


def _span(marks: list[bool]) -> tuple[int, int]:
    """First and one-past-last marked index (the whole side when nothing is marked)."""
    marked = [i for i, on in enumerate(marks) if on]
    return (marked[0], marked[-1] + 1) if marked else (0, len(marks))


def _padding(marks: list[bool]) -> tuple[int, int]:
    marked = [i for i, on in enumerate(marks) if on]
    return (marked[0], len(marks) - 1 - marked[-1]) if marked else (0, 0)


def _parts(length: int, span: tuple[int, int], target: int) -> list[tuple[int, int, int]]:
    """(start, length, target length) of the fixed, stretched and fixed parts of a side."""
    start, end = span
    fixed = length - (end - start)
    parts = [
        (0, start, start),
        (start, end - start, max(1, target - fixed)),
        (end, length - end, length - end),
    ]
    return [part for part in parts if part[1] > 0 and part[2] > 0]


def _stretch(patch: Image, size: Size, xs: tuple[int, int], ys: tuple[int, int]) -> Image:
    """The patch at `size`: corners kept, the marked middle stretched."""
    rows = []
    for top, height, target_h in _parts(patch.height, ys, size.height):
        tiles = [
            resize(patch.crop(left, top, width, height), Size(target_w, target_h))
            for left, width, target_w in _parts(patch.width, xs, size.width)
        ]
        row = tiles[0]
        for tile in tiles[1:]:
            row = row.join(tile, "horizontal")
        rows.append(row)
    stretched = rows[0]
    for row in rows[1:]:
        stretched = stretched.join(row, "vertical")
    return resize(stretched, size)  # a frame larger than the picture: scaled to fit


def apply(image: Image, url: str, overlays: Overlays) -> Image:
    """The picture inside the frame."""
    nine = overlays.rgba(url)
    if nine.width < 3 or nine.height < 3:
        return image
    left, right = _padding(_line(nine, row=nine.height - 1))
    top, bottom = _padding(_line(nine, column=nine.width - 1))
    xs = _span(_line(nine, row=0))
    ys = _span(_line(nine, column=0))
    patch = nine.crop(1, 1, nine.width - 2, nine.height - 2)
    base = image if image.hasalpha() else image.bandjoin_const([255])
    if base.bands == 2:
        base = base.colourspace("srgb")
    width, height = base.width + left + right, base.height + top + bottom
    base = base.embed(left, top, width, height, extend="background", background=[255, 255, 255, 0])
    framed = base.composite2(_stretch(patch, Size(width, height), xs, ys), "over").cast("uchar")
    return framed if image.hasalpha() else framed.flatten(background=[255, 255, 255]).cast("uchar")
