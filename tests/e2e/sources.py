"""Test images and a tiny HTTP origin that serves them (and redirects)."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from struct import pack
from urllib.parse import parse_qs, urlparse

import pyvips


def jpeg(width: int = 800, height: int = 600, quality: int = 90) -> bytes:
    """A photo-like JPEG (a gradient with noise, so it is not trivially compressible)."""
    image = pyvips.Image.xyz(width, height)[0] / width * 255
    noise = pyvips.Image.gaussnoise(width, height, sigma=20)
    rgb = (image + noise).bandjoin([image.flip("horizontal"), noise + 128]).cast("uchar")
    return bytes(rgb.jpegsave_buffer(Q=quality))


def jpeg_claiming(width: int, height: int, data: bytes | None = None) -> bytes:
    """A whole JPEG (ending in EOI) whose frame header (SOF) claims `width`x`height`:
    its entropy-coded data holds only the real, smaller picture."""
    data = data if data is not None else jpeg(400, 300)
    position = 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            size = height.to_bytes(2, "big") + width.to_bytes(2, "big")
            return data[: position + 5] + size + data[position + 9 :]
        position += 2 + length
    raise ValueError("no SOF marker")


def png(width: int = 300, height: int = 200) -> bytes:
    image = pyvips.Image.xyz(width, height)[0].cast("uchar")
    return bytes(image.bandjoin([image, image, 255]).pngsave_buffer())


def png_bomb(side: int = 20_000) -> bytes:
    """A valid 1-bit grey PNG of side x side zero pixels: tiny on disk, huge when decoded
    (each pixel becomes a byte: 400M values by default, twice the default cap)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return pack(">I", len(body)) + kind + body + pack(">I", zlib.crc32(kind + body))

    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + (side + 7) // 8)  # filter byte + 1-bit pixels
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


class _Handler(BaseHTTPRequestHandler):
    files: Mapping[str, tuple[str, bytes]] = {}

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", parse_qs(url.query)["to"][0])
            self.end_headers()
            return
        found = self.files.get(url.path)
        if found is None:
            self.send_response(404)
            self.end_headers()
            return
        content_type, body = found
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def origin(host: str, files: Mapping[str, tuple[str, bytes]]) -> Iterator[str]:
    """Serve `files` (path -> (content type, body)) on `host`; yields the base URL."""
    handler = type("Handler", (_Handler,), {"files": dict(files)})
    server = ThreadingHTTPServer((host, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
