"""watermark(url, x, y, alpha[, w_ratio[, h_ratio]]): another image pasted over this one
(thumbor's watermark filter, with the same placement arithmetic).

- alpha 0..100 lowers the watermark's opacity by that percentage of 255 (_alpha.c);
- w_ratio/h_ratio (percent of the image's sides) resize the watermark to fit inside them;
- x/y: pixels from the left/top, negative from the right/bottom, `Np` percent of the
  side, `center`, or `repeat` (tiled, at most 6x6 when that would be over 100 tiles).
"""

from __future__ import annotations

import math
import re

from confab.media.imaging.filters._pixels import Image, c_div
from confab.media.imaging.filters.overlays import Overlays
from confab.media.imaging.geometry import Size
from confab.media.imaging.shaping import resize

_PERCENT = re.compile(r"(-?)(\d+)p")


def fitted_size(
    image: tuple[int, int], mark: tuple[int, int], w_ratio: float | None, h_ratio: float | None
) -> tuple[int, int]:
    """The watermark's size inside w_ratio x h_ratio of the image (thumbor's arithmetic)."""
    max_w = image[0] * w_ratio if w_ratio else None
    max_h = image[1] * h_ratio if h_ratio else None
    if max_w is None:
        assert max_h is not None
        max_w = mark[0] * max_h / mark[1]
    if max_h is None:
        max_h = mark[1] * max_w / mark[0]
    if mark[0] / max_w >= mark[1] / max_h:
        return max(1, round(max_w)), max(1, round(mark[1] * max_w / mark[0]))
    return max(1, round(mark[0] * max_h / mark[1])), max(1, round(max_h))


def resolve(position: str, length: int) -> str:
    """`Np` as pixels of `length` (thumbor rounds length * N / 100)."""
    match = _PERCENT.fullmatch(position)
    if match is None:
        return position
    return f"{match[1]}{round(length * float(match[2]) / 100 + 1e-5)}"


def offsets(position: str, length: int, mark: int) -> list[int]:
    """Where the watermark's copies start along one side."""
    if position == "center":
        return [int((length - mark) / 2)]
    if position == "repeat":
        count, spare = divmod(length, mark)
        if length / mark < 2:
            count, spare = math.ceil(length / mark), 10
        space = spare // (max(count, 2) - 1)
        return [i * space + i * mark for i in range(count)]
    value = int(position)
    return [length - mark + value if position.startswith("-") else value]


def _tiles(
    xs: list[int], ys: list[int], size: Size, mark: tuple[int, int]
) -> tuple[list[int], list[int]]:
    """thumbor's cap when tiling both ways: over 100 tiles become at most 6x6."""
    if len(xs) * len(ys) <= 100:
        return xs, ys
    capped = []
    for length, side, count in ((size.width, mark[0], len(xs)), (size.height, mark[1], len(ys))):
        count = min(6, count)
        space = (length - count * side) // (max(count, 2) - 1)
        capped.append([i * space + i * side for i in range(count)])
    return capped[0], capped[1]


def apply(
    image: Image,
    url: str,
    x: str,
    y: str,
    alpha: int,
    w_ratio: int | None,
    h_ratio: int | None,
    overlays: Overlays,
) -> Image:
    """The image with the watermark composited over it."""
    mark = overlays.rgba(url)
    if alpha:
        delta = -c_div(255 * alpha, 100)
        mark = mark.extract_band(0, n=3).bandjoin((mark.extract_band(3) + delta).cast("uchar"))
    if w_ratio or h_ratio:
        width, height = fitted_size(
            (image.width, image.height),
            (mark.width, mark.height),
            w_ratio / 100 if w_ratio else None,
            h_ratio / 100 if h_ratio else None,
        )
        mark = resize(mark, Size(width, height))
    size = Size(image.width, image.height)
    xs = offsets(resolve(x, size.width), size.width, mark.width)
    ys = offsets(resolve(y, size.height), size.height, mark.height)
    if x == "repeat" and y == "repeat":
        xs, ys = _tiles(xs, ys, size, (mark.width, mark.height))
    had_alpha = image.hasalpha()
    base = image if had_alpha else image.bandjoin_const([255])
    if base.bands == 2:
        base = base.colourspace("srgb")
    for left in xs:
        for top in ys:
            base = base.composite2(mark, "over", x=left, y=top)
    base = base.cast("uchar")
    return base if had_alpha else base.extract_band(0, n=base.bands - 1)
