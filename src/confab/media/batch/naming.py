"""Output file names: stable across runs and collision-free across sources and options.

A name is `<slug of the source's base name>-<12 hex digits>.<ext>`; the digits are a
SHA-256 of the source identity and the normalized render options, so two sources with
the same base name, or one source at two sizes, never overwrite each other, and a rerun
finds the file it wrote before.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from confab.media.batch.sources import Source
from confab.media.domain.options import OUTPUT_FORMATS, OutputFormat, RenderOptions, VideoFormat

_SLUG_MAX = 40
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# File extensions of the formats the renderer writes (jpeg is written `.jpg`).
EXTENSIONS: dict[OutputFormat | VideoFormat, str] = {
    "jpeg": "jpg",
    "png": "png",
    "webp": "webp",
    "avif": "avif",
    "gif": "gif",
    "mp4": "mp4",  # gifv()
    "webm": "webm",
}


def slugify(text: str, fallback: str = "image") -> str:
    """Lower-case ASCII letters and digits joined by `-`, at most 40 characters."""
    slug = _NOT_SLUG.sub("-", text.lower()).strip("-")
    slug = slug[:_SLUG_MAX].rstrip("-")
    return slug or fallback


def base_name(source: Source) -> str:
    """The source's file name without its extension (for URLs: the last path segment)."""
    if source.kind == "url":
        try:
            parts = urlsplit(source.value)
        except ValueError:  # e.g. an unclosed `[` of an IPv6 host; it fails at fetch time
            return ""
        name = PurePosixPath(unquote(parts.path)).name
        if not name:  # `https://host/`: the host names it best
            return parts.hostname or ""
    else:
        name = Path(source.value).name
    stem, _, ext = name.rpartition(".")
    return stem if stem and ext else name


def output_stem(source: Source, options: RenderOptions) -> str:
    """The output name without its extension: `<slug>-<12 hex>`."""
    digest = hashlib.sha256(f"{source.identity}\0{options.cache_key()}".encode()).hexdigest()
    return f"{slugify(base_name(source))}-{digest[:12]}"


def output_path(out_dir: Path, stem: str, fmt: OutputFormat | VideoFormat) -> Path:
    """Where the output of `stem` in format `fmt` goes."""
    return out_dir / f"{stem}.{EXTENSIONS[fmt]}"


def existing_output(out_dir: Path, stem: str, fmt: OutputFormat | None) -> Path | None:
    """The output a previous run left for `stem`, if any.

    With no format asked for, the output keeps the source's format, which is known only
    after rendering, so every format the renderer writes is looked for.
    """
    formats = (fmt,) if fmt is not None else OUTPUT_FORMATS
    for candidate in formats:
        path = output_path(out_dir, stem, candidate)
        if path.is_file():
            return path
    return None
