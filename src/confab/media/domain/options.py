"""What a thumbnail request asks for, as plain immutable data.

The grammar (`confab.media.domain.grammar`) builds these from a thumbor URL path; the
renderer (`confab.media.imaging`) consumes them in a worker process (they pickle); the
result cache keys on their normalized form (`RenderOptions.cache_key()`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Fit = Literal["crop", "fit-in", "adaptive-fit-in", "full-fit-in", "adaptive-full-fit-in"]
HAlign = Literal["left", "center", "right"]
VAlign = Literal["top", "middle", "bottom"]
TrimCorner = Literal["top-left", "bottom-right"]
OutputFormat = Literal["jpeg", "png", "webp", "avif", "gif"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("jpeg", "png", "webp", "avif", "gif")
VideoFormat = Literal["mp4", "webm"]  # thumbor's gifv(): an animation as a video


@dataclass(frozen=True, slots=True)
class CropBox:
    """Manual crop `AxB:CxD` in source pixels (left, top, right, bottom)."""

    left: int
    top: int
    right: int
    bottom: int


FilterArg = int | float | str | bool | None


@dataclass(frozen=True, slots=True)
class PixelFilter:
    """One of thumbor's pixel filters (brightness, watermark, ...), normalized.

    They run in the order of the URL, as thumbor's filter pipeline does, on the shaped
    image. `args` are checked and normalized by `confab.media.domain.pixelfilters`, so
    the renderer reads them positionally without parsing again.
    """

    name: str
    args: tuple[FilterArg, ...] = ()


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Everything that changes the output image. Defaults are thumbor's defaults.

    `width`/`height` of 0 mean "derive from the aspect ratio" (both 0: source size);
    `*_orig` mean "the source's own size" (thumbor's `orig`). Negative sizes in the URL
    become the `flip_*` flags. `format` None keeps the source's format (or lets the
    service pick one from Accept). `upscale` None means the mode's default.
    """

    width: int = 0
    height: int = 0
    width_orig: bool = False
    height_orig: bool = False
    flip_horizontal: bool = False
    flip_vertical: bool = False
    fit: Fit = "crop"
    halign: HAlign = "center"
    valign: VAlign = "middle"
    smart: bool = False
    trim: bool = False
    trim_corner: TrimCorner = "top-left"  # the pixel whose colour trim removes
    trim_tolerance: int = 0  # 0..442: euclidean RGB distance still trimmed
    crop: CropBox | None = None
    # filters
    format: OutputFormat | None = None
    quality: int | None = None
    strip_exif: bool = False
    strip_icc: bool = False
    grayscale: bool = False
    blur: float | None = None
    fill: str | None = None
    background_color: str | None = None
    upscale: bool | None = None
    max_bytes: int | None = None
    fill_transparent: bool = False  # fill(colour, true): transparent pixels take the fill
    pipeline: tuple[PixelFilter, ...] = ()  # thumbor's pixel filters, in URL order
    focal: CropBox | None = None  # focal()/extract_focal(): what a crop keeps in view
    stretch: bool = False  # stretch(): scale to WxH exactly, ignoring the aspect ratio
    cover: bool = False  # cover(): an animation's first frame only
    autojpg: bool = False  # autojpg(): a PNG without alpha becomes a JPEG
    max_age: int | None = None  # max_age(seconds): the response's Cache-Control
    gifv: VideoFormat | None = None  # gifv(mp4|webm): an animation as a video

    def cache_key(self) -> str:
        """Stable digest of the normalized options (the same for equivalent URLs).

        The codec serializes the dataclass itself, field by field, as it would
        `asdict(self)` (same bytes, so the same keys) in a tenth of the time: `asdict`
        deep-copies every field, and this runs on every request.
        """
        # Imported here: render workers load this module for the dataclasses alone, and
        # hashlib would map OpenSSL's libcrypto (3.4 MiB resident) into each of them.
        import hashlib

        from confab.core import jsoncodec

        return hashlib.sha256(jsoncodec.dumps(self)).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class ThumbnailRequest:
    """A parsed thumbor URL: the signature part, the signed path, options and source."""

    signature: str | None  # None for `unsafe`
    signed_path: str  # the part after the signature, as signed
    options: RenderOptions
    source: str  # `upload/<id>` or an absolute http(s) URL, decoded
    meta: bool = False  # thumbor's `meta/`: answer the /meta JSON instead of the image
    debug: bool = False  # thumbor's `debug/`: accepted, changes nothing here

    @property
    def overlays(self) -> tuple[str, ...]:
        """Sources the pixel filters need besides the image (watermark, frame), in order."""
        return tuple(
            str(f.args[0]) for f in self.options.pipeline if f.name in ("watermark", "frame")
        )


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the renderer learned about a source from its header."""

    width: int
    height: int
    format: str
    frames: int = 1
    orientation: int = 1


@dataclass(frozen=True, slots=True)
class Rendered:
    """The output of one render (crosses the process boundary)."""

    data: bytes
    format: OutputFormat | VideoFormat
    width: int
    height: int
    frames: int = 1
    source: SourceInfo | None = None
    operations: tuple[str, ...] = field(default_factory=tuple)
