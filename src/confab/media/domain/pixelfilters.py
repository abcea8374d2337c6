"""Arguments of thumbor's pixel and request filters, checked and normalized.

One parser per thumbor 7.8 filter (thumbor/filters/<name>.py declares each one's argument
regexes; the documented defaults are kept). A parser returns the `RenderOptions` fields it
sets: pixel filters append a `PixelFilter` to the ordered `pipeline`, request filters
(focal, max_age, cover, stretch, autojpg, gifv) set their own field. thumbor silently skips
a filter whose arguments do not match; here that is a `bad_filter` error naming the fault,
so a typo does not give a silently different picture.

The renderer (`confab.media.imaging.filters`) reads the normalized arguments positionally.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from confab.core.errors import InvalidInput
from confab.media.domain.colors import parse_color
from confab.media.domain.options import CropBox, FilterArg, PixelFilter

Changes = dict[str, Any]
SourceParser = Callable[[str], str]
Parser = Callable[[str, list[str], SourceParser], Changes]

# thumbor's BaseFilter argument regexes.
_NUMBER = re.compile(r"-?\d+", re.ASCII)
_DECIMAL = re.compile(r"-?(?:\d+\.?\d*|\d*\.?\d+)", re.ASCII)
_BOOLEAN = {"true": True, "1": True, "false": False, "0": False}
_RADIUS = re.compile(r"(\d+)(?:\|(\d+))?", re.ASCII)
_FOCAL = re.compile(r"(\d+)x(\d+):(\d+)x(\d+)", re.ASCII)
_CURVE = re.compile(r"\[(?:\(\d+,\d+\),?)*\]", re.ASCII)
_CURVE_POINT = re.compile(r"\((\d+),(\d+)\)", re.ASCII)
_POSITION = re.compile(r"(-?)(\d+)(p?)|center|repeat", re.ASCII)
_RATIO = re.compile(r"-?\d+|none", re.ASCII)
_MATRIX = re.compile(r"-?\d+(?:\.\d*)?(?:;-?\d+(?:\.\d*)?)*", re.ASCII)

MAX_AMOUNT = 1000  # brightness, contrast, rgb, noise, colorize: far past saturation
MAX_ANGLE = 1_000_000
MAX_RADIUS = 16384
MAX_DECIMAL = 1000.0
MAX_KERNEL_ITEMS = 49  # a 7x7 convolution: more is a denial of service, not a filter
MAX_AGE = 10 * 365 * 24 * 3600


def bad(name: str, args: list[str], expected: str) -> InvalidInput:
    """The error for arguments that do not fit `name`."""
    call = f"{name}({','.join(args)})"
    if len(call) > 80:
        call = call[:77] + "..."
    return InvalidInput(f"bad argument in filter '{call}': {expected}", code="bad_filter")


def _arity(name: str, args: list[str], least: int, most: int) -> None:
    if not least <= len(args) <= most:
        counts = str(least) if least == most else f"{least} to {most}"
        raise bad(name, args, f"{name}() takes {counts} argument(s)")


def _int(name: str, args: list[str], text: str, least: int, most: int) -> int:
    if not _NUMBER.fullmatch(text) or not least <= int(text) <= most:
        raise bad(name, args, f"expected an integer from {least} to {most}")
    return int(text)


def _decimal(name: str, args: list[str], text: str, least: float, most: float) -> float:
    if not _DECIMAL.fullmatch(text) or not least <= float(text) <= most:
        raise bad(name, args, f"expected a number from {least:g} to {most:g}")
    return float(text)


def _bool(name: str, args: list[str], text: str) -> bool:
    value = _BOOLEAN.get(text.lower())
    if value is None:
        raise bad(name, args, "expected true, false, 1 or 0")
    return value


def _pipe(name: str, *args: FilterArg) -> Changes:
    return {"pipeline": (PixelFilter(name, tuple(args)),)}


def _amount(name: str, args: list[str], _source: SourceParser) -> Changes:
    """brightness(amount), contrast(amount): an integer percentage (documented -100..100)."""
    _arity(name, args, 1, 1)
    return _pipe(name, _int(name, args, args[0], -MAX_AMOUNT, MAX_AMOUNT))


def _no_args(name: str, args: list[str], _source: SourceParser) -> Changes:
    """equalize()."""
    _arity(name, args, 0, 0)
    return _pipe(name)


def _red_eye(name: str, args: list[str], _source: SourceParser) -> Changes:
    """red_eye(): thumbor corrects eyes only inside faces its face detector found.

    Confab has no face detector (smart crops use libvips' attention measure), so like
    thumbor without a detector configured (its default) the filter changes nothing.
    """
    _arity(name, args, 0, 0)
    return {}


def _rotate(name: str, args: list[str], _source: SourceParser) -> Changes:
    """rotate(angle): multiples of 90 turn the image counter-clockwise; others do nothing."""
    _arity(name, args, 1, 1)
    angle = _int(name, args, args[0], -MAX_ANGLE, MAX_ANGLE)
    if angle % 90 or angle % 360 == 0:
        return {}
    return _pipe(name, angle % 360)


def _noise(name: str, args: list[str], _source: SourceParser) -> Changes:
    """noise(amount[, seed]): amount is the spread of the added values, seed 0 is random."""
    _arity(name, args, 1, 2)
    amount = _int(name, args, args[0], 0, MAX_AMOUNT)
    seed = _int(name, args, args[1], 0, 2**31 - 1) if len(args) == 2 else 0
    return _pipe(name, amount, seed) if amount else {}


def _rgb(name: str, args: list[str], _source: SourceParser) -> Changes:
    """rgb(r, g, b): percentages of 255 added to each channel."""
    _arity(name, args, 3, 3)
    red, green, blue = (_int(name, args, a, -MAX_AMOUNT, MAX_AMOUNT) for a in args)
    return _pipe(name, red, green, blue)


def _round_corner(name: str, args: list[str], _source: SourceParser) -> Changes:
    """round_corner(a[|b], r, g, b[, transparent])."""
    _arity(name, args, 4, 5)
    radius = _RADIUS.fullmatch(args[0])
    if radius is None:
        raise bad(name, args, "the radius is 'a' or 'a|b' in pixels")
    a_radius = _int(name, args, radius[1], 0, MAX_RADIUS)
    b_radius = _int(name, args, radius[2], 0, MAX_RADIUS) if radius[2] else a_radius
    red, green, blue = (_int(name, args, a, 0, 255) for a in args[1:4])
    transparent = _bool(name, args, args[4]) if len(args) == 5 else False
    return _pipe(name, a_radius, b_radius, red, green, blue, transparent)


def _sharpen(name: str, args: list[str], _source: SourceParser) -> Changes:
    """sharpen(amount, radius, luminance_only)."""
    _arity(name, args, 3, 3)
    amount = _decimal(name, args, args[0], 0.0, MAX_DECIMAL)
    radius = _decimal(name, args, args[1], 0.0, 100.0)
    return _pipe(name, amount, radius, _bool(name, args, args[2]))


def _saturation(name: str, args: list[str], _source: SourceParser) -> Changes:
    """saturation(change): a factor (1 keeps, 0 greys, 2 doubles)."""
    _arity(name, args, 1, 1)
    return _pipe(name, _decimal(name, args, args[0], -MAX_DECIMAL, MAX_DECIMAL))


def _colorize(name: str, args: list[str], _source: SourceParser) -> Changes:
    """colorize(red%, green%, blue%, fill): blend each channel towards the fill colour."""
    _arity(name, args, 4, 4)
    percents = [_int(name, args, a, 0, 100) for a in args[:3]]
    color = parse_color(args[3].removeprefix("#"))
    if color is None or len(color) != 6:
        raise bad(name, args, "the fill is an rrggbb colour")
    return _pipe(name, *percents, color)


def _convolution(name: str, args: list[str], _source: SourceParser) -> Changes:
    """convolution(items;..., columns[, normalize]): items separated by ';'."""
    _arity(name, args, 2, 3)
    if not _MATRIX.fullmatch(args[0]):
        raise bad(name, args, "matrix items are numbers separated by ';'")
    items = [float(item) for item in args[0].split(";")]
    columns = _int(name, args, args[1], 1, MAX_KERNEL_ITEMS)
    if len(items) > MAX_KERNEL_ITEMS or len(items) % columns:
        raise bad(name, args, f"at most {MAX_KERNEL_ITEMS} items, a whole number of rows")
    normalize = _bool(name, args, args[2]) if len(args) == 3 else True
    return _pipe(name, ";".join(f"{item:g}" for item in items), columns, normalize)


def _curve(name: str, args: list[str], _source: SourceParser) -> Changes:
    """curve([(x,y),...] for all channels, then red, green and blue).

    The grammar splits arguments on commas, so the four lists arrive in pieces: they are
    joined back and cut at the brackets.
    """
    text = ",".join(args).replace(" ", "")
    curves = re.findall(r"\[[^\]]*\]", text)
    if len(curves) != 4 or "".join(f"{c}," for c in curves).rstrip(",") != text:
        raise bad(name, args, "expected four lists of points like [(0,0),(255,255)]")
    normalized: list[str] = []
    for curve in curves:
        points = [(int(x), int(y)) for x, y in _CURVE_POINT.findall(curve)]
        if not _CURVE.fullmatch(curve) or len(points) < 2:
            raise bad(name, args, "each curve needs at least two (x,y) points")
        xs = [x for x, _ in points]
        if any(v > 255 for p in points for v in p) or xs != sorted(set(xs)):
            raise bad(name, args, "points are 0..255, with increasing x")
        normalized.append(";".join(f"{x},{y}" for x, y in points))
    return _pipe(name, *normalized)


def _watermark(name: str, args: list[str], source: SourceParser) -> Changes:
    """watermark(url, x, y, alpha[, w_ratio[, h_ratio]]).

    x and y: pixels from the left/top (negative: from the right/bottom), `Np` for a
    percentage of the image's side, `center` or `repeat`. alpha: 0 (opaque) to 100.
    The ratios: the watermark's largest share of the image's side, in percent, or none.
    """
    _arity(name, args, 4, 6)
    url = source(args[0])
    x, y = (_position(name, args, a) for a in args[1:3])
    alpha = _int(name, args, args[3], 0, 100)
    ratios: list[FilterArg] = []
    for text in (*args[4:], "none", "none")[:2]:
        if not _RATIO.fullmatch(text):
            raise bad(name, args, "the ratios are percentages or none")
        ratios.append(None if text == "none" or int(text) <= 0 else min(int(text), 100))
    return _pipe(name, url, x, y, alpha, *ratios)


def _position(name: str, args: list[str], text: str) -> str:
    match = _POSITION.fullmatch(text)
    if match is None or (match[2] is not None and int(match[2]) > MAX_RADIUS):
        raise bad(name, args, "positions are pixels, Np (percent), center or repeat")
    return text


def _frame(name: str, args: list[str], source: SourceParser) -> Changes:
    """frame(url): a nine-patch PNG drawn around the image."""
    _arity(name, args, 1, 1)
    return _pipe(name, source(args[0]))


def _proportion(name: str, args: list[str], _source: SourceParser) -> Changes:
    """proportion(p): scale the result by p (0 < p <= 1; thumbor ignores other values)."""
    _arity(name, args, 1, 1)
    value = _decimal(name, args, args[0], -MAX_DECIMAL, MAX_DECIMAL)
    return _pipe(name, value) if 0 < value < 1 else {}


def _focal(name: str, args: list[str], _source: SourceParser) -> Changes:
    """focal(LxT:RxB): the box a crop keeps in view (thumbor ignores an empty one)."""
    _arity(name, args, 1, 1)
    match = _FOCAL.fullmatch(args[0])
    if match is None:
        raise bad(name, args, "expected <left>x<top>:<right>x<bottom>")
    left, top, right, bottom = (min(int(v), 1_000_000) for v in match.groups())
    if right <= left or bottom <= top:
        return {}
    return {"focal": CropBox(left, top, right, bottom)}


def _max_age(name: str, args: list[str], _source: SourceParser) -> Changes:
    """max_age(seconds): the Cache-Control max-age of the response (0: no caching)."""
    _arity(name, args, 1, 1)
    return {"max_age": _int(name, args, args[0], 0, MAX_AGE)}


def _flag(field: str) -> Parser:
    def parse(name: str, args: list[str], _source: SourceParser) -> Changes:
        _arity(name, args, 0, 0)
        return {field: True}

    return parse


def _autojpg(name: str, args: list[str], _source: SourceParser) -> Changes:
    """autojpg([enabled]): a PNG without transparency is written as JPEG."""
    _arity(name, args, 0, 1)
    return {"autojpg": _bool(name, args, args[0]) if args else True}


def _gifv(name: str, args: list[str], _source: SourceParser) -> Changes:
    """gifv([mp4|webm]): the animation as a video (mp4 by default)."""
    _arity(name, args, 0, 1)
    container = args[0].lower() if args and args[0] else "mp4"
    if container not in ("mp4", "webm"):
        raise bad(name, args, "expected mp4 or webm")
    return {"gifv": container}


PARSERS: dict[str, Parser] = {
    "brightness": _amount,
    "contrast": _amount,
    "equalize": _no_args,
    "rotate": _rotate,
    "noise": _noise,
    "red_eye": _red_eye,
    "redeye": _red_eye,
    "rgb": _rgb,
    "round_corner": _round_corner,
    "sharpen": _sharpen,
    "saturation": _saturation,
    "colorize": _colorize,
    "convolution": _convolution,
    "curve": _curve,
    "watermark": _watermark,
    "frame": _frame,
    "proportion": _proportion,
    "focal": _focal,
    "extract_focal": _flag("extract_focal"),
    "max_age": _max_age,
    "cover": _flag("cover"),
    "stretch": _flag("stretch"),
    "autojpg": _autojpg,
    "gifv": _gifv,
}
