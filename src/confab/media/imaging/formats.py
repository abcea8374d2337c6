"""Which format a render writes: pure rules, no image library."""

from __future__ import annotations

from confab.media.domain.options import OutputFormat

ANIMATED_OUTPUTS: frozenset[str] = frozenset({"gif", "webp"})
LOSSY_OUTPUTS: frozenset[str] = frozenset({"jpeg", "webp", "avif"})
ALPHA_OUTPUTS: frozenset[str] = frozenset({"png", "webp", "avif", "gif"})
_KEPT: frozenset[str] = frozenset({"jpeg", "png", "gif", "webp", "avif"})

# libvips loader nickname prefix -> the format name we report.
_LOADER_FORMATS: dict[str, str] = {
    "jpegload": "jpeg",
    "uhdrload": "jpeg",
    "pngload": "png",
    "gifload": "gif",
    "webpload": "webp",
    "heifload": "heif",
    "tiffload": "tiff",
    "svgload": "svg",
    "pdfload": "pdf",
    "jxlload": "jxl",
    "jp2kload": "jp2k",
    "magickload": "magick",
}


def format_of_loader(loader: str, heif_compression: str | None = None) -> str:
    """The source format behind a libvips loader nickname (`jpegload_buffer` -> `jpeg`)."""
    base = loader.split("_", 1)[0]
    name = _LOADER_FORMATS.get(base, base.removesuffix("load"))
    if name == "heif" and heif_compression == "av1":
        return "avif"
    return name


def choose_format(
    source_format: str,
    *,
    animated: bool,
    alpha: bool,
    requested: OutputFormat | None,
    auto_formats: tuple[OutputFormat, ...],
) -> OutputFormat:
    """The output format: the requested one, else the first acceptable modern one, else
    the source's own (other sources become PNG when they have alpha, JPEG otherwise).

    An animated source skips modern formats that cannot animate (AVIF here), so a GIF
    offered `avif, webp` becomes an animated WebP rather than one still frame.
    """
    if requested is not None:
        return requested
    for fmt in auto_formats:
        if animated and fmt not in ANIMATED_OUTPUTS:
            continue
        return fmt
    if source_format in _KEPT:
        return source_format  # type: ignore[return-value]
    if source_format == "tiff":
        return "png"  # as thumbor writes TIFF sources: lossless, whatever their alpha
    return "png" if alpha else "jpeg"
