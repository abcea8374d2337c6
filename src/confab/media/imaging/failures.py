"""Turn libvips failures into Confab's errors, so no pyvips.Error leaves the renderer."""

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


def unsupported(detail: str) -> UnsupportedMedia:
    """The error for content no enabled loader can read."""
    return UnsupportedMedia(detail, code="unsupported_format")


def out_of_memory() -> TooLarge:
    """The error for a render that needed more memory than its worker may use."""
    return TooLarge(
        "the image needs more memory to render than this server allows", code="out_of_memory"
    )


def translate(error: pyvips.Error) -> ConfabError:
    """The Confab error a libvips failure stands for."""
    text = f"{error.message}\n{error.detail or ''}"
    if "out of memory" in text:
        return out_of_memory()
    if any(marker in text for marker in _UNSUPPORTED):
        return unsupported("not an image, or a format this server does not read")
    lines = [line.strip() for line in (error.detail or error.message).splitlines()]
    reason = next((line for line in lines if line), "the image could not be decoded")
    return Unprocessable(f"corrupt or truncated image: {reason[:200]}", code="corrupt_image")


@contextmanager
def vips_errors() -> Iterator[None]:
    """Run a block of libvips work, re-raising its failures as Confab errors."""
    try:
        yield
    except pyvips.Error as exc:
        raise translate(exc) from None
    except MemoryError:
        raise out_of_memory() from None
