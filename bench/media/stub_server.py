"""A stand-in for Confab's media endpoints, to develop the harness before they exist.

``python -m bench.media.stub_server --host H --port P --data DIR``: a threaded HTTP server
with ``GET /healthz``, ``POST /media/uploads`` (raw body; 201 with the SHA-256 id) and
``GET /media/unsafe/[fit-in/]WxH/filters:quality(Q)[:format(F)]/upload/<id>`` rendered with
pyvips' thumbnail (shrink-on-load). It is a plain pyvips server, nothing of Confab: use it
with ``run.py --stub-confab`` to test the harness, never as Confab's figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_PATH = re.compile(
    r"^/media/unsafe/(fit-in/)?(\d+)x(\d+)/filters:quality\((\d+)\)(?::format\((\w+)\))?"
    r"/upload/([0-9a-f]{64})$"
)


def make_handler(data: Path) -> type[BaseHTTPRequestHandler]:
    """A request handler class serving uploads and thumbnails from `data`."""
    import pyvips

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Cache", "MISS")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, b'{"ok":true}', "application/json")
                return
            match = _PATH.match(self.path)
            if match is None:
                self._send(404, b"{}", "application/json")
                return
            fit_in, width, height, quality, fmt, blob = match.groups()
            source = data / blob
            if fit_in or height == "0":
                box = int(height) or 10_000_000
                image = pyvips.Image.thumbnail(str(source), int(width), height=box)
            else:
                image = pyvips.Image.thumbnail(
                    str(source), int(width), height=int(height), crop="centre"
                )
            fmt = fmt or ("png" if source.read_bytes()[:4] == b"\x89PNG" else "jpeg")
            options = "" if fmt == "png" else f"[Q={quality}]"
            self._send(200, image.write_to_buffer(f".{fmt}{options}"), f"image/{fmt}")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            digest = hashlib.sha256(body).hexdigest()
            (data / digest).write_bytes(body)
            image = pyvips.Image.new_from_buffer(body, "")
            reply = {"id": digest, "width": image.width, "height": image.height}
            self._send(201, json.dumps(reply).encode(), "application/json")

    return Handler


def main() -> None:
    """Parse flags (confab up's subset) and serve forever."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    ThreadingHTTPServer((args.host, args.port), make_handler(args.data)).serve_forever()


if __name__ == "__main__":
    main()
