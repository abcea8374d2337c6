"""Serves the browser client: the static files shipped in `confab/chat/static/`."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# The client loads nothing from elsewhere: scripts, styles and sockets stay on this origin,
# images may also be local blobs (the preview of a picture being uploaded).
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_HEADERS = {
    # Revalidate every time (cheap 304s): a new release is picked up on the next load.
    "Cache-Control": "no-cache",
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class ClientFiles(StaticFiles):
    """StaticFiles with the client's caching and security headers."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        """The file's response, with headers that keep the client fresh and confined."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(_HEADERS)
        return response


def client_routes() -> list[BaseRoute]:
    """The client's route: a catch-all Mount at `/`, so it must come after every other route."""
    return [Mount("/", app=ClientFiles(directory=STATIC_DIR, html=True), name="client")]
