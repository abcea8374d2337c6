"""Bounded Content-Encoding decoding: compressed bodies never inflate past the cap."""

from __future__ import annotations

import gzip
import zlib

import pytest

from confab.core.errors import TooLarge, UpstreamFailed
from confab.media.fetch.decoding import BoundedDecoder

BODY = bytes(range(256)) * 64  # 16 KiB


def _decode(encoding: str | None, data: bytes, limit: int, chunk: int = 1000) -> bytes:
    decoder = BoundedDecoder(encoding, limit)
    out = b"".join(decoder.feed(data[i : i + chunk]) for i in range(0, len(data), chunk))
    return out + decoder.flush()


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [
        (None, BODY),
        ("identity", BODY),
        ("gzip", gzip.compress(BODY)),
        ("x-gzip", gzip.compress(BODY)),
        ("GZIP", gzip.compress(BODY)),
        ("deflate", zlib.compress(BODY)),
        ("deflate", _raw_deflate(BODY)),  # what some servers send as "deflate"
    ],
)
def test_supported_encodings_decode(encoding: str | None, encoded: bytes) -> None:
    assert _decode(encoding, encoded, limit=len(BODY)) == BODY


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compression_bomb_stops_at_the_cap(encoding: str) -> None:
    zeros = b"\0" * (16 * 1024 * 1024)
    bomb = gzip.compress(zeros) if encoding == "gzip" else zlib.compress(zeros, 9)
    assert len(bomb) < 100_000
    decoder = BoundedDecoder(encoding, 1024 * 1024)
    with pytest.raises(TooLarge) as caught:
        decoder.feed(bomb)  # one chunk holding the whole bomb
    assert caught.value.reason == "source_too_large"
    assert decoder.total <= 1024 * 1024


def test_identity_over_the_cap_is_too_large() -> None:
    with pytest.raises(TooLarge):
        _decode(None, BODY, limit=len(BODY) - 1)


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, gzip"])
def test_other_encodings_are_upstream_errors(encoding: str) -> None:
    with pytest.raises(UpstreamFailed) as caught:
        BoundedDecoder(encoding, 1000)
    assert caught.value.reason == "upstream_error"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_corrupt_compressed_data_is_an_upstream_error(encoding: str) -> None:
    with pytest.raises(UpstreamFailed):
        _decode(encoding, b"this is not compressed at all" * 10, limit=10_000)
