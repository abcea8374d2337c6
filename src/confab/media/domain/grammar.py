"""thumbor's URL grammar: `<signature|unsafe>/<options>/<source>` as a ThumbnailRequest.

    debug/ meta/ trim[:top-left|:bottom-right][:tolerance]/ AxB:CxD/
    fit-in/|adaptive-fit-in/|full-fit-in/|adaptive-full-fit-in/
    [-]WxH/ left|center|right/ top|middle|bottom/ smart/ filters:NAME(ARGS):NAME(ARGS)/ <source>

Every part is optional and comes in that order (thumbor's own regex, from libthumbor).
The parts are matched on the text as sent; the filters and the source are then
percent-decoded once, as thumbor's router does. Equivalent spellings give equal
`RenderOptions` (`jpg` is `jpeg`, `red` is `f00` is `ff0000`, an explicit `center/middle`
is the default), so they share a result-cache key. Pixel filters (brightness, watermark, ...)
run in URL order, as in thumbor; the others set options, so their order is free. Nothing is
clamped: an out-of-range value is an `InvalidInput` that names the part at fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from confab.core.errors import InvalidInput, UnsupportedMedia
from confab.media.domain.colors import parse_color
from confab.media.domain.options import (
    CropBox,
    Fit,
    HAlign,
    OutputFormat,
    PixelFilter,
    RenderOptions,
    ThumbnailRequest,
    TrimCorner,
    VAlign,
)
from confab.media.domain.pixelfilters import PARSERS

MAX_DIMENSION = 16384
MAX_CROP_COORDINATE = 1_000_000
MAX_TRIM_TOLERANCE = 442  # the largest euclidean distance between two RGB colours
MAX_BLUR_RADIUS = 150  # thumbor's own limit
MAX_BYTES_LIMIT = 1 << 30

_OPTIONS = re.compile(
    r"(?:(?P<debug>debug)/)?(?:(?P<meta>meta)/)?"
    r"(?:(?P<trim>trim(?::(?:top-left|bottom-right)?)?(?::\d+)?)/)?"
    r"(?:(?P<crop>\d+x\d+:\d+x\d+)/)?"
    r"(?:(?P<fit>(?:adaptive-)?(?:full-)?fit-in)/)?"
    r"(?:(?P<hflip>-)?(?P<width>\d+|orig)?x(?P<vflip>-)?(?P<height>\d+|orig)?/)?"
    r"(?:(?P<halign>left|right|center)/)?"
    r"(?:(?P<valign>top|bottom|middle)/)?"
    r"(?:(?P<smart>smart)/)?"
    r"(?:filters:(?P<filters>.+?\))/)?"
    r"(?P<source>.*)",
    re.DOTALL | re.ASCII,
)
# A segment left in front of the source that is an option in the wrong place.
_OPTION_LIKE = re.compile(
    r"trim(?::.*)?|\d+x\d+:\d+x\d+|(?:adaptive-)?(?:full-)?fit-in"
    r"|-?(?:\d+|orig)?x-?(?:\d+|orig)?|left|right|center|top|bottom|middle|smart"
    r"|filters:.*|meta|debug|unsafe",
    re.DOTALL | re.ASCII,
)
_FILTER_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\((.*)\)", re.DOTALL)
_DECIMAL = re.compile(r"\d+(?:\.\d*)?|\.\d+", re.ASCII)
_PLAIN_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:/")
# `host:8080/...` is a host and a port, not a scheme.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):(?!\d+(?:[/?#]|$))")
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_UPLOAD_ID = re.compile(r"[0-9a-f]{64}")

_FITS: dict[str, Fit] = {
    "fit-in": "fit-in",
    "adaptive-fit-in": "adaptive-fit-in",
    "full-fit-in": "full-fit-in",
    "adaptive-full-fit-in": "adaptive-full-fit-in",
}
_FORMATS: dict[str, OutputFormat] = {
    "jpeg": "jpeg",
    "jpg": "jpeg",
    "png": "png",
    "webp": "webp",
    "avif": "avif",
    "gif": "gif",
}
_FILL_KEYWORDS = ("blur", "transparent", "auto")
# Filters of thumbor plugins (not of thumbor 7.8 itself): named as such, not unknown.
_THUMBOR_ONLY_FILTERS = frozenset(
    {"distributed_collage", "drop_shadow", "head_frame", "responsive", "text_watermark"}
)
# thumbor can write these; libvips here has no HEVC encoder (or decoder).
_HEVC_FORMATS = ("heic", "heif")
# extract_focal() follows at most this many nested thumbor URLs (thumbor's MAX_LEVEL).
_EXTRACT_FOCAL_LEVELS = 10


def parse_path(path: str) -> ThumbnailRequest:
    """Parse the URL path after `/media/` (raw, with `?query` appended when there was one).

    Raises `InvalidInput` with code `bad_options`, `bad_filter` or `bad_source`.
    """
    text = _as_text(path)
    head, slash, signed_path = text.partition("/")
    if not head:
        raise InvalidInput("the URL has no signature (or 'unsafe') part", code="bad_options")
    if not slash:
        raise InvalidInput(
            "expected <signature|unsafe>/[options/]<source>, got no source", code="bad_source"
        )
    # Some clients percent-encode the signature's `=` padding.
    signature = None if head == "unsafe" else unquote(head)
    match = _OPTIONS.fullmatch(signed_path)
    if match is None:  # pragma: no cover - the source group takes anything
        raise InvalidInput("unreadable URL", code="bad_options")
    options, extract_focal = _options(match)
    raw_source = match["source"]
    if extract_focal:
        raw_source, focal = _extract_focal(raw_source)
        if focal is not None:
            options = replace(options, focal=focal)
    return ThumbnailRequest(
        signature=signature,
        signed_path=signed_path,
        options=options,
        source=_source(raw_source),
        meta=match["meta"] is not None,
        debug=match["debug"] is not None,
    )


def _extract_focal(raw: str) -> tuple[str, CropBox | None]:
    """thumbor's extract_focal(): when the source is itself a thumbor URL with a manual
    crop (`host/<signature|unsafe>/[...]/AxB:CxD/.../<image>`), render its image with
    that crop box as the focal point. Otherwise the source is kept as it is.
    """
    text = raw if _PLAIN_URL.match(raw) else unquote(raw)
    for _ in range(_EXTRACT_FOCAL_LEVELS):
        # thumbor drops everything up to the first slash after an optional scheme.
        text = re.sub(r"^(?:https?://)?.*?/", "", text, count=1)
        head, slash, rest = text.partition("/")
        inner = _OPTIONS.fullmatch(rest) if head and slash else None
        if inner is None or not inner["source"]:
            return raw, None
        if inner["crop"]:
            left, top, right, bottom = (
                _bounded(n, MAX_CROP_COORDINATE, "crop coordinate")
                for n in re.split(r"[x:]", inner["crop"])
            )
            if right > left and bottom > top:
                return inner["source"], CropBox(left, top, right, bottom)
            return raw, None
        text = inner["source"]
    return raw, None


def _as_text(path: str) -> str:
    """Undo the web layer's Latin-1 reading of raw bytes when they were UTF-8.

    A client that sends a non-ASCII URL unescaped signed its UTF-8 text (thumbor and
    libthumbor sign `text.encode("utf-8")`), so that is the text to parse and verify.
    """
    try:
        return path.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return path


def _clip(text: str, limit: int = 80) -> str:
    """`text` short enough to echo in an error detail."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- options


def _options(match: re.Match[str]) -> tuple[RenderOptions, bool]:
    """The options of the URL, and whether extract_focal() was among its filters."""
    width, width_orig = _dimension(match["width"], "width")
    height, height_orig = _dimension(match["height"], "height")
    if not width and not height:
        # `origxorig`, `origx0` and `0x0` all mean the source's own size.
        width_orig = height_orig = False
    trim, trim_corner, trim_tolerance = _trim(match["trim"])
    options = RenderOptions(
        width=width,
        height=height,
        width_orig=width_orig,
        height_orig=height_orig,
        flip_horizontal=match["hflip"] is not None,
        flip_vertical=match["vflip"] is not None,
        fit=_fit(match["fit"]),
        # The regex admits only the literal values.
        halign=cast(HAlign, match["halign"] or "center"),
        valign=cast(VAlign, match["valign"] or "middle"),
        smart=match["smart"] is not None,
        trim=trim,
        trim_corner=trim_corner,
        trim_tolerance=trim_tolerance,
        crop=_crop(match["crop"]),
    )
    return _apply_filters(options, match["filters"])


def _bounded(digits: str, maximum: int, what: str, *, code: str = "bad_options") -> int:
    """A decimal integer no larger than `maximum` (never clamped)."""
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(maximum)) or int(significant) > maximum:
        raise InvalidInput(f"{what} {_clip(digits)} is over the maximum of {maximum}", code=code)
    return int(significant)


def _dimension(text: str | None, what: str) -> tuple[int, bool]:
    """(size, is `orig`) of one side of `WxH`; a missing side is 0 (keep the aspect)."""
    if text is None:
        return 0, False
    if text == "orig":
        return 0, True
    return _bounded(text, MAX_DIMENSION, what), False


def _fit(text: str | None) -> Fit:
    if text is None:
        return "crop"
    fit = _FITS.get(text)
    if fit is None:
        raise InvalidInput(
            f"'{text}' is not supported: use fit-in, adaptive-fit-in or full-fit-in",
            code="bad_options",
        )
    return fit


def _trim(text: str | None) -> tuple[bool, TrimCorner, int]:
    """`trim[:top-left|:bottom-right][:tolerance]` (the regex has checked its shape).

    The corner may be empty: libthumbor writes `trim::10` for a tolerance alone.
    """
    if text is None:
        return False, "top-left", 0
    corner: TrimCorner = "top-left"
    tolerance = 0
    for part in text.split(":")[1:]:
        if part == "bottom-right":
            corner = "bottom-right"
        elif part.isdigit():
            tolerance = _bounded(part, MAX_TRIM_TOLERANCE, "trim tolerance")
    return True, corner, tolerance


def _crop(text: str | None) -> CropBox | None:
    """The manual crop `AxB:CxD` (left-top and right-bottom points)."""
    if text is None:
        return None
    left, top, right, bottom = (
        _bounded(n, MAX_CROP_COORDINATE, "crop coordinate") for n in re.split(r"[x:]", text)
    )
    if left == top == right == bottom == 0:
        return None  # libthumbor writes no crop for this; thumbor does not crop
    if right <= left or bottom <= top:
        raise InvalidInput(
            f"manual crop '{text}' is empty: the right-bottom point must lie right of and "
            "below the left-top point",
            code="bad_options",
        )
    return CropBox(left=left, top=top, right=right, bottom=bottom)


# ---------------------------------------------------------------- filters

Changes = dict[str, Any]
FilterHandler = Callable[[str, list[str]], Changes]


def _apply_filters(options: RenderOptions, text: str | None) -> tuple[RenderOptions, bool]:
    """Apply `name(args):name(args)...`: pixel filters are kept in order in `pipeline`;
    the others set options, so their order is free. Also says whether extract_focal()
    was given (it changes the source, which the caller handles)."""
    if text is None:
        return options, False
    changes: Changes = {}
    set_by: dict[str, str] = {}
    pipeline: list[PixelFilter] = []
    extract_focal = False
    for name, args in _split_filters(unquote(text)):
        for field, value in _filter_handler(name)(name, args).items():
            if field == "pipeline":
                pipeline += value
                continue
            if field == "extract_focal":
                extract_focal = True
                continue
            if field in changes and changes[field] != value:
                earlier = set_by[field]
                detail = (
                    f"filter '{name}' is given twice with different arguments"
                    if earlier == name
                    else f"filter '{name}' conflicts with '{earlier}' given before it"
                )
                raise InvalidInput(detail, code="bad_filter")
            changes[field] = value
            set_by[field] = name
    return replace(options, pipeline=tuple(pipeline), **changes), extract_focal


def _split_filters(text: str) -> list[tuple[str, list[str]]]:
    """The (name, arguments) of each filter, split the way thumbor does (on `):`)."""
    pieces = text.split("):")
    calls: list[tuple[str, list[str]]] = []
    for index, piece in enumerate(pieces):
        call = piece if index == len(pieces) - 1 else piece + ")"
        match = _FILTER_CALL.fullmatch(call)
        if match is None:
            raise InvalidInput(
                f"malformed filter '{_clip(call)}': expected name(arguments)", code="bad_filter"
            )
        arguments = match[2].strip()
        calls.append((match[1], [a.strip() for a in arguments.split(",")] if arguments else []))
    return calls


def _filter_handler(name: str) -> FilterHandler:
    handler = _FILTERS.get(name)
    if handler is not None:
        return handler
    parser = PARSERS.get(name)
    if parser is not None:
        return lambda name, args: parser(name, args, _filter_source)
    if name in _THUMBOR_ONLY_FILTERS:
        raise InvalidInput(f"filter '{name}' is not supported by this server", code="bad_filter")
    raise InvalidInput(f"unknown filter '{_clip(name)}'", code="bad_filter")


def _bad_argument(name: str, args: list[str], expected: str) -> InvalidInput:
    call = f"{name}({','.join(args)})"
    return InvalidInput(f"bad argument in filter '{_clip(call)}': {expected}", code="bad_filter")


def _arity(name: str, args: list[str], least: int, most: int) -> None:
    if not least <= len(args) <= most:
        counts = str(least) if least == most else f"{least} to {most}"
        raise _bad_argument(name, args, f"{name}() takes {counts} argument(s)")


def _integer(name: str, args: list[str], text: str, least: int, most: int) -> int:
    if not text.isascii() or not text.isdigit():
        raise _bad_argument(name, args, f"expected an integer from {least} to {most}")
    value = _bounded(text, most, f"{name}() argument", code="bad_filter")
    if value < least:
        raise _bad_argument(name, args, f"expected an integer from {least} to {most}")
    return value


def _flag(field: str, value: bool) -> FilterHandler:
    """A filter without arguments that sets `field`."""

    def handle(name: str, args: list[str]) -> Changes:
        _arity(name, args, 0, 0)
        return {field: value}

    return handle


def _no_op(name: str, args: list[str]) -> Changes:
    # srgb(): the renderer always converts to sRGB.
    _arity(name, args, 0, 0)
    return {}


def _format(name: str, args: list[str]) -> Changes:
    _arity(name, args, 1, 1)
    requested = args[0].strip("'\"").lower()
    fmt = _FORMATS.get(requested)
    if requested in _HEVC_FORMATS:
        raise UnsupportedMedia(
            f"format({requested}) needs an HEVC encoder, which this server's image library "
            "does not have: ask for avif (the same container, AV1) or webp",
            code="unsupported_format",
        )
    if fmt is None:
        raise _bad_argument(name, args, "expected jpeg, jpg, png, webp, avif or gif")
    return {"format": fmt}


def _quality(name: str, args: list[str]) -> Changes:
    _arity(name, args, 1, 1)
    return {"quality": _integer(name, args, args[0], 1, 100)}


def _blur(name: str, args: list[str]) -> Changes:
    """blur(radius[, sigma]): stored as the Gaussian's sigma, which is the radius by default.

    thumbor cuts its kernel at the radius, so a sigma above the radius blurs no wider
    than the radius: that is what we keep. A radius of 0 leaves the image as it is.
    """
    _arity(name, args, 1, 2)
    radius = _integer(name, args, args[0], 0, MAX_BLUR_RADIUS)
    sigma = 0.0
    if len(args) == 2:
        if not _DECIMAL.fullmatch(args[1]):
            raise _bad_argument(name, args, "sigma must be a number >= 0")
        sigma = float(args[1])
    if radius == 0:
        return {"blur": None}
    return {"blur": float(radius) if sigma == 0 else min(sigma, float(radius))}


def _color(name: str, args: list[str], text: str) -> str:
    color = parse_color(text.removeprefix("#"))
    if color is None:
        raise _bad_argument(name, args, f"'{_clip(text)}' is not a colour name or hex value")
    return color


def _fill(name: str, args: list[str]) -> Changes:
    """fill(colour|blur|transparent|auto[, fill_transparent]): what pads a fit-in image to
    its box; with fill_transparent true, the image's transparent pixels take the fill too."""
    _arity(name, args, 1, 2)
    merge = False
    if len(args) == 2:
        flag = args[1].lower()
        if flag not in ("true", "1", "false", "0"):
            raise _bad_argument(name, args, "fill_transparent is true, false, 1 or 0")
        merge = flag in ("true", "1")
    keyword = args[0].lower()
    if keyword in _FILL_KEYWORDS:
        return {"fill": keyword, "fill_transparent": merge}
    return {"fill": _color(name, args, args[0]), "fill_transparent": merge}


def _background_color(name: str, args: list[str]) -> Changes:
    _arity(name, args, 1, 1)
    if args[0].lower() == "transparent":
        return {"background_color": None}  # composing over nothing changes nothing
    return {"background_color": _color(name, args, args[0])}


def _max_bytes(name: str, args: list[str]) -> Changes:
    _arity(name, args, 1, 1)
    return {"max_bytes": _integer(name, args, args[0], 1, MAX_BYTES_LIMIT)}


_FILTERS: dict[str, FilterHandler] = {
    "format": _format,
    "quality": _quality,
    "strip_exif": _flag("strip_exif", True),
    "strip_icc": _flag("strip_icc", True),
    "grayscale": _flag("grayscale", True),
    "blur": _blur,
    "fill": _fill,
    "background_color": _background_color,
    "no_upscale": _flag("upscale", False),
    "upscale": _flag("upscale", True),
    "max_bytes": _max_bytes,
    "srgb": _no_op,
}


# ---------------------------------------------------------------- source


def _filter_source(raw: str) -> str:
    """A source named inside a filter (watermark, frame): same forms as the main one.

    Parentheses and commas in it must be percent-encoded (thumbor's rule), so it is
    decoded once more here when still encoded.
    """
    return _source(raw.strip())


def _source(raw: str) -> str:
    """`upload/<id>` or an absolute http(s) URL.

    A plain URL (`http://host/a%20b.jpg`) is already a URL and is kept as sent: decoding
    it would change what it names. Any other form is thumbor's percent-encoded one
    (`http%3A%2F%2Fhost%2Fa%2520b.jpg`) and is decoded once, so both give the same source.
    """
    if not raw:
        raise InvalidInput("the URL names no source image", code="bad_source")
    _reject_misplaced_option(raw)
    text = raw if _PLAIN_URL.match(raw) else unquote(raw)
    if text == "upload" or text.startswith("upload/"):
        return _upload(text)
    return _web_url(text)


def _reject_misplaced_option(raw: str) -> None:
    """Name an option that thumbor's regex left in front of the source."""
    segment, _, rest = raw.partition("/")
    segment = unquote(segment)
    if not _OPTION_LIKE.fullmatch(segment):
        return
    if not rest:
        raise InvalidInput(
            f"the URL names no source image after '{_clip(segment)}'", code="bad_source"
        )
    if segment in ("meta", "debug"):
        raise InvalidInput(
            f"'{segment}/' must come first, right after the signature (debug/ before meta/)",
            code="bad_options",
        )
    if segment.startswith("filters:"):
        raise InvalidInput(
            f"malformed filters '{_clip(segment)}': expected filters:name(args):name(args)",
            code="bad_filter",
        )
    raise InvalidInput(
        f"option '{_clip(segment)}' is malformed, repeated or out of order (the order is "
        "trim/AxB:CxD/fit-in/WxH/halign/valign/smart/filters:...)",
        code="bad_options",
    )


def _upload(text: str) -> str:
    upload_id = text.removeprefix("upload").removeprefix("/")
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise InvalidInput(
            f"upload id '{_clip(upload_id)}' is not 64 lowercase hex digits", code="bad_source"
        )
    return f"upload/{upload_id}"


def _web_url(text: str) -> str:
    if _UNSAFE_CHARS.search(text):
        raise InvalidInput(
            "the source URL has control characters or a backslash", code="bad_source"
        )
    scheme_match = _SCHEME.match(text)
    if scheme_match is None:
        return _schemeless_url(text)
    scheme = scheme_match[1].lower()
    if scheme not in ("http", "https"):
        raise InvalidInput(
            f"source scheme '{_clip(scheme)}:' is not allowed: use http(s) or upload/<id>",
            code="bad_source",
        )
    rest = text[scheme_match.end() :]
    if not rest.startswith("/"):
        raise InvalidInput(f"source URL '{_clip(text)}' has no //host", code="bad_source")
    if not rest.startswith("//"):
        # A proxy that merges slashes (nginx does by default) turns `http://` into `http:/`.
        rest = "/" + rest
    return _checked_url(f"{scheme}:{rest}")


def _schemeless_url(text: str) -> str:
    """thumbor's `host/path`, fetched over http."""
    if text.startswith("/"):
        raise InvalidInput(
            "the source must be upload/<id>, an http(s) URL or host/path", code="bad_source"
        )
    url = _checked_url(f"http://{text}")
    host = urlsplit(url).hostname or ""
    if "." not in host and ":" not in host and host != "localhost":
        # Not a plausible host: most likely a misspelt option (`fitin/`, `300x200x/`).
        segment = text.split("/", 1)[0]
        raise InvalidInput(
            f"'{_clip(segment)}' is neither a known option nor a source host name",
            code="bad_options",
        )
    return url


def _checked_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise InvalidInput(
            f"malformed source URL '{_clip(url)}': {exc}", code="bad_source"
        ) from None
    if not parts.hostname:
        raise InvalidInput(f"source URL '{_clip(url)}' has no host", code="bad_source")
    return url
