"""Helpers for the `confab thumbs` tests: small generated images and a folder on HTTP."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyvips


def write_image(path: Path, width: int, height: int) -> Path:
    """A small gradient image in the format of `path`'s extension (jpg or png)."""
    x = pyvips.Image.xyz(width, height)[0] * (255 / width)
    rgb = x.bandjoin([x.flip("horizontal"), (x + 64) % 255]).cast("uchar")
    rgb.write_to_file(str(path))
    return path


def write_corrupt_jpeg(path: Path) -> Path:
    """A file that starts like a JPEG and then breaks off: it must fail, not crash."""
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00\x01" * 40)
    return path


def image_size(path: Path) -> tuple[int, int]:
    image = pyvips.Image.new_from_file(str(path))
    return image.width, image.height


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve `folder` over HTTP on 127.0.0.1; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
