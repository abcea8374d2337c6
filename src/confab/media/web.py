"""HTTP routes of the media role (thumbor's URL grammar under `/media/`)."""

from __future__ import annotations

from dataclasses import asdict

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from confab.core import jsoncodec
from confab.core.errors import InvalidInput
from confab.core.upload_grants import HEADER as GRANT_HEADER
from confab.media.services.thumbnails import ThumbnailPlan, ThumbnailService
from confab.media.services.upload_gate import UploadGate
from confab.media.services.uploads import UploadService
from confab.node.bodies import read_capped

_IMMUTABLE = b"public, max-age=31536000, immutable"
_UNSIGNED = b"public, max-age=3600"
_PREFIX = b"/media/"
# Multipart framing around a file stays well under this.
_MULTIPART_SLACK = 64 * 1024


def _json(body: object, status: int = 200) -> Response:
    return Response(jsoncodec.dumps(body), status_code=status, media_type="application/json")


def _media_path(scope: Scope, prefix: bytes) -> str:
    """The path after `prefix`, as sent (undecoded: signatures cover the raw text)."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    path = raw.split(b"?", 1)[0][len(prefix) :].decode("latin-1")
    query = scope.get("query_string", b"")
    # A plain source URL's own query string arrives as the request's query string.
    return f"{path}?{query.decode('latin-1')}" if query else path


async def _multipart_file(request: Request, body: bytes) -> bytes:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form(max_files=1, max_fields=10)
    try:
        files = [v for v in form.values() if isinstance(v, UploadFile)]
        if not files:
            raise InvalidInput("the multipart body has no file part", code="no_file")
        return await files[0].read()
    finally:
        await form.close()


def _image_headers(plan: ThumbnailPlan) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"etag", plan.etag.encode()),
        (b"cache-control", _cache_control(plan)),
    ]
    if plan.varies_on_accept:
        headers.append((b"vary", b"Accept"))
    return headers


def _cache_control(plan: ThumbnailPlan) -> bytes:
    """thumbor's max_age() filter wins over the default lifetime; 0 means no caching."""
    max_age = plan.max_age
    if max_age is None:
        return _IMMUTABLE if plan.signed else _UNSIGNED
    return f"public, max-age={max_age}".encode() if max_age else b"no-cache"


def _matches(if_none_match: bytes | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = if_none_match.decode("latin-1").split(",")
    candidates = {tag.strip().removeprefix("W/") for tag in tags}
    return "*" in candidates or etag in candidates


class ThumbnailEndpoint:
    """`GET`/`HEAD /media/<thumbor URL>` as a plain ASGI app.

    Every cache hit comes through here, so it skips Starlette's Request and Response
    objects: it reads the two headers it needs and sends prebuilt header lists. Errors
    still propagate to the app's exception handlers.
    """

    def __init__(self, thumbnails: ThumbnailService) -> None:
        self._thumbnails = thumbnails

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        accept: bytes | None = None
        if_none_match: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"accept":
                accept = value
            elif name == b"if-none-match":
                if_none_match = value
        plan = self._thumbnails.plan(
            _media_path(scope, _PREFIX), accept.decode("latin-1") if accept else None
        )
        if plan.request.meta:
            # thumbor's `meta/` URL form (libthumbor's CryptoURL(meta=True)).
            body = jsoncodec.dumps(await self._thumbnails.describe(plan.request))
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await _send_response(send, 200, headers, b"" if scope["method"] == "HEAD" else body)
            return
        headers = _image_headers(plan)
        if _matches(if_none_match, plan.etag):
            await _send_response(send, 304, headers, b"")
            return
        result = await self._thumbnails.produce(plan)
        headers += [
            (b"x-cache", b"HIT" if result.cache_hit else b"MISS"),
            (b"content-type", result.media_type.encode()),
            (b"content-length", str(len(result.data)).encode()),
        ]
        body = b"" if scope["method"] == "HEAD" else result.data
        await _send_response(send, 200, headers, body)


async def _send_response(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def media_routes(
    thumbnails: ThumbnailService, uploads: UploadService, gate: UploadGate
) -> list[BaseRoute]:
    """The routes of the media role."""

    async def upload(request: Request) -> Response:
        # The grant first: an upload without one costs no body read.
        user = await gate.admit(request.headers.get(GRANT_HEADER))
        content_type = request.headers.get("content-type", "")
        is_multipart = content_type.startswith("multipart/form-data")
        cap = uploads.max_bytes + (_MULTIPART_SLACK if is_multipart else 0)
        body = await read_capped(request, cap, code="upload_too_large")
        data = await _multipart_file(request, body) if is_multipart else body
        await gate.count_bytes(user, len(data))
        info, created = await uploads.upload(data)
        return _json(asdict(info), 201 if created else 200)

    async def meta(request: Request) -> Response:
        return _json(await thumbnails.meta(_media_path(request.scope, b"/media/meta/")))

    return [
        Route("/media/uploads", upload, methods=["POST"]),
        Route("/media/meta/{path:path}", meta, methods=["GET"]),
        Route("/media/{path:path}", ThumbnailEndpoint(thumbnails), methods=["GET", "HEAD"]),
    ]
