"""Turn libvips failures into Confab's errors, so no pyvips.Error leaves the renderer.

Details are plain words about the file: libvips' messages name its own functions and
loaders ("VipsJpeg: ...", "gifload_source: ...") and sometimes how it was built, which
means nothing to whoever sent the file and tells an attacker what runs here. The raw
message is matched against known failures only to pick the words.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyvips

from confab.core.errors import ConfabError, TooLarge, Unprocessable, UnsupportedMedia

# What libvips says when no enabled loader recognises the bytes (or one is blocked).
_UNSUPPORTED = (
    "not in a known format",
    "is not a known file format",
    "not a known format",
    "operation is blocked",
    "unable to load from buffer",
    "unable to load from file",
)

# Lower-cased fragments of decoder messages -> what they mean, in plain words. First
# match wins; anything unknown is "could not be decoded".
_PLAIN_WORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        (
            "premature end",
            "truncated",
            "unexpected end",
            "end of file",
            "not enough data",
            "insufficient data",
            "short read",
            "read error",
            "incomplete",
        ),
        "the file ends before all of its image data",
    ),
    (("crc", "checksum"), "the file's checksums do not match its data"),
    (
        ("unsupported", "not supported", "no decoding plugin", "unknown compression"),
        "the image uses a feature this server cannot decode",
    ),
    (
        ("too large", "too big", "too many", "exceeds", "limit"),
        "the image's dimensions are beyond what its decoder accepts",
    ),
    (
        (
            "corrupt",
            "invalid",
            "bad ",
            "error",
            "damaged",
            "wrong",
            "illegal",
            "huffman",
            "marker",
            "overflow",
        ),
        "the image data is corrupt",
    ),
)
_UNKNOWN = "the image could not be decoded"


def unsupported(detail: str) -> UnsupportedMedia:
    """The error for content no enabled loader can read."""
    return UnsupportedMedia(detail, code="unsupported_format")


def out_of_memory() -> TooLarge:
    """The error for a render that needed more memory than its worker may use."""
    return TooLarge(
        "the image needs more memory to render than this server allows", code="out_of_memory"
    )


def corrupt(words: str) -> Unprocessable:
    """The error for a file a decoder gave up on, described in `words`."""
    return Unprocessable(f"corrupt or truncated image: {words}", code="corrupt_image")


def plain_words(message: str) -> str:
    """What a decoder's `message` means, in words that name no library."""
    text = message.lower()
    for markers, words in _PLAIN_WORDS:
        if any(marker in text for marker in markers):
            return words
    return _UNKNOWN


def translate(error: pyvips.Error) -> ConfabError:
    """The Confab error a libvips failure stands for."""
    text = f"{error.message}\n{error.detail or ''}"
    if "out of memory" in text:
        return out_of_memory()
    if any(marker in text for marker in _UNSUPPORTED):
        return unsupported("not an image, or a format this server does not read")
    return corrupt(plain_words(error.detail or error.message))


@contextmanager
def vips_errors() -> Iterator[None]:
    """Run a block of libvips work, re-raising its failures as Confab errors."""
    try:
        yield
    except pyvips.Error as exc:
        raise translate(exc) from None
    except MemoryError:
        raise out_of_memory() from None
