"""HTTP routes of the media role (thumbor's URL grammar under `/media/`)."""

from __future__ import annotations

from dataclasses import asdict

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message

from confab.core import jsoncodec
from confab.core.errors import InvalidInput
from confab.media.services.thumbnails import ThumbnailPlan, ThumbnailService
from confab.media.services.uploads import UploadService
from confab.node.bodies import read_capped

_IMMUTABLE = "public, max-age=31536000, immutable"
_UNSIGNED = "public, max-age=3600"
_PREFIX = b"/media/"
# Multipart framing around a file stays well under this.
_MULTIPART_SLACK = 64 * 1024


def _json(body: object, status: int = 200) -> Response:
    return Response(jsoncodec.dumps(body), status_code=status, media_type="application/json")


def _media_path(request: Request, prefix: bytes) -> str:
    """The path after `prefix`, as sent (undecoded: signatures cover the raw text)."""
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw.split(b"?", 1)[0][len(prefix) :].decode("latin-1")
    query = request.scope.get("query_string", b"")
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


def _image_headers(plan: ThumbnailPlan) -> dict[str, str]:
    headers = {"ETag": plan.etag, "Cache-Control": _IMMUTABLE if plan.signed else _UNSIGNED}
    if plan.varies_on_accept:
        headers["Vary"] = "Accept"
    return headers


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def media_routes(thumbnails: ThumbnailService, uploads: UploadService) -> list[BaseRoute]:
    """The routes of the media role."""

    async def upload(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        is_multipart = content_type.startswith("multipart/form-data")
        cap = uploads.max_bytes + (_MULTIPART_SLACK if is_multipart else 0)
        body = await read_capped(request, cap, code="upload_too_large")
        data = await _multipart_file(request, body) if is_multipart else body
        info, created = await uploads.upload(data)
        return _json(asdict(info), 201 if created else 200)

    async def meta(request: Request) -> Response:
        return _json(await thumbnails.meta(_media_path(request, b"/media/meta/")))

    async def thumbnail(request: Request) -> Response:
        plan = thumbnails.plan(_media_path(request, _PREFIX), request.headers.get("accept"))
        headers = _image_headers(plan)
        if _matches(request.headers.get("if-none-match"), plan.etag):
            return Response(status_code=304, headers=headers)
        result = await thumbnails.produce(plan)
        headers["X-Cache"] = "HIT" if result.cache_hit else "MISS"
        body = b"" if request.method == "HEAD" else result.data
        response = Response(body, media_type=result.media_type, headers=headers)
        if request.method == "HEAD":
            response.headers["Content-Length"] = str(len(result.data))
        return response

    return [
        Route("/media/uploads", upload, methods=["POST"]),
        Route("/media/meta/{path:path}", meta, methods=["GET"]),
        Route("/media/{path:path}", thumbnail, methods=["GET", "HEAD"]),
    ]
