"""Content-Encoding decoding that never produces more than a byte cap.

We ask for `Accept-Encoding: identity`, but a hostile server may compress anyway: a few
KiB of gzip can inflate to gigabytes. httpx's own decoders inflate each network chunk in
full before we see it, so the fetcher reads raw bytes and inflates them here, asking zlib
for at most the bytes still allowed under the cap.
"""

from __future__ import annotations

import zlib
from typing import NoReturn

from confab.core.errors import TooLarge, UpstreamFailed

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS


class BoundedDecoder:
    """Decodes a body (identity, gzip or deflate) chunk by chunk, up to `limit` bytes."""

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        self._limit = limit
        self._total = 0
        codings = [
            coding.strip().lower()
            for coding in (content_encoding or "").split(",")
            if coding.strip().lower() not in ("", "identity")
        ]
        if len(codings) > 1:
            raise UpstreamFailed(
                f"stacked Content-Encoding {content_encoding!r} is not supported",
                code="upstream_error",
            )
        self._coding = codings[0] if codings else None
        self._inflater: zlib._Decompress | None = None
        self._started = False
        if self._coding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(_GZIP_WBITS)
        elif self._coding == "deflate":
            self._inflater = zlib.decompressobj(_ZLIB_WBITS)
        elif self._coding is not None:
            raise UpstreamFailed(
                f"Content-Encoding {self._coding!r} is not supported", code="upstream_error"
            )

    @property
    def total(self) -> int:
        """Decoded bytes produced so far."""
        return self._total

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes of the next raw chunk; TooLarge once past the cap."""
        if self._inflater is None:
            return self._count(data)
        return self._count(self._inflate(data))

    def flush(self) -> bytes:
        """Whatever the decoder still holds at the end of the body."""
        if self._inflater is None:
            return b""
        try:
            return self._count(self._inflater.flush())
        except zlib.error as exc:
            raise UpstreamFailed(f"corrupt compressed body: {exc}", code="upstream_error") from None

    def _inflate(self, data: bytes) -> bytes:
        assert self._inflater is not None
        # One byte more than the room left: getting it means the cap is exceeded.
        room = self._limit - self._total + 1
        first = not self._started
        self._started = True
        try:
            out = self._inflater.decompress(data, room)
        except zlib.error as exc:
            if not (first and self._coding == "deflate"):
                raise UpstreamFailed(
                    f"corrupt compressed body: {exc}", code="upstream_error"
                ) from None
            # Some servers send raw deflate without the zlib header the RFC asks for.
            self._inflater = zlib.decompressobj(_RAW_DEFLATE_WBITS)
            try:
                out = self._inflater.decompress(data, room)
            except zlib.error as raw_exc:
                raise UpstreamFailed(
                    f"corrupt compressed body: {raw_exc}", code="upstream_error"
                ) from None
        if self._inflater.unconsumed_tail:
            self._over()
        return out

    def _count(self, out: bytes) -> bytes:
        self._total += len(out)
        if self._total > self._limit:
            self._over()
        return out

    def _over(self) -> NoReturn:
        raise TooLarge(f"source is over the cap of {self._limit} bytes", code="source_too_large")
