"""The list of sources a batch works on: URLs, local files and folders of images.

Sources come from the command line and from a list file (one per line, `-` for stdin,
blank lines and `#` comments skipped). Folders expand to the image files inside them,
recursively and sorted, so a run is reproducible. Nothing here touches the network.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from confab.core.errors import InvalidInput

SourceKind = Literal["url", "file"]

# Folder expansion picks files by extension: reading every file's magic bytes would make
# a large tree slow to list, and a stray non-image still fails cleanly at render time.
IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".png",
        ".gif",
        ".webp",
        ".avif",
        ".heic",
        ".heif",
        ".tif",
        ".tiff",
        ".bmp",
        ".jxl",
        ".svg",
    }
)


@dataclass(frozen=True, slots=True)
class Source:
    """One thing to thumbnail.

    `value` is the URL as given, or the absolute path of a local file; `display` is
    what the user wrote (or the path found inside a folder), for messages and reports.
    """

    kind: SourceKind
    value: str
    display: str

    @property
    def identity(self) -> str:
        """What names the output: the same source always gets the same file name."""
        return f"{self.kind}:{self.value}"


def parse_source_lines(lines: Iterable[str]) -> list[str]:
    """The sources in a list file's lines: stripped, without blanks and `#` comments."""
    found: list[str] = []
    for line in lines:
        text = line.strip()
        if text and not text.startswith("#"):
            found.append(text)
    return found


def read_source_list(name: str, stdin: TextIO) -> list[str]:
    """The sources listed in file `name` (`-` reads `stdin`).

    Raises InvalidInput(code="unreadable_source_list") when the file cannot be read.
    """
    if name == "-":
        return parse_source_lines(stdin)
    try:
        with open(name, encoding="utf-8") as handle:
            return parse_source_lines(handle)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidInput(
            f"cannot read the source list {name}: {reason}", code="unreadable_source_list"
        ) from None


def is_url(text: str) -> bool:
    """Whether `text` names a remote source rather than a local path.

    Any `scheme://` counts, so `ftp://...` is reported as a bad URL by the fetcher
    instead of being looked for on disk.
    """
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.isascii() and scheme.isalpha()


def is_image_file(path: Path) -> bool:
    """Whether a file found in a folder is taken as an image (by its extension)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _folder_images(folder: Path, exclude: Path | None) -> list[Path]:
    found: list[Path] = []
    for path in folder.rglob("*"):
        # Never feed the batch its own output (`-o photos/thumbs` inside `photos`).
        if exclude is not None and path.is_relative_to(exclude):
            continue
        if is_image_file(path) and path.is_file():
            found.append(path)
    return sorted(found)


def expand_sources(raw: Sequence[str], *, exclude: Path | None = None) -> list[Source]:
    """Sources for the raw arguments, in order, folders expanded, duplicates dropped.

    A path that does not exist stays in the list as a file source: it fails on its own
    (reason `source_not_found`) without stopping the others. `exclude` is a folder
    (the output folder) whose files are never taken from a folder expansion.
    """
    excluded = exclude.resolve() if exclude is not None else None
    seen: set[str] = set()
    sources: list[Source] = []

    def add(source: Source) -> None:
        if source.identity not in seen:
            seen.add(source.identity)
            sources.append(source)

    for text in raw:
        if is_url(text):
            add(Source("url", text, text))
            continue
        path = Path(text).expanduser()
        if path.is_dir():
            folder = path.resolve()
            for image in _folder_images(folder, excluded):
                add(Source("file", str(image), str(path / image.relative_to(folder))))
        else:
            add(Source("file", str(path.resolve()), text))
    return sources
