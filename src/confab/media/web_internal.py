"""The media role's internal endpoints: what a chat node elsewhere calls instead of the
in-process client (`confab.core.internal_api` describes them and their signatures).

They answer with exactly what the in-process client gives, so a message's signed URLs
are the same whether chat and media share a process or not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from confab.core import internal_api, jsoncodec
from confab.core.errors import InvalidInput
from confab.media.services.client import InProcessMediaClient
from confab.node.bodies import read_capped

Handler = Callable[[Any], Awaitable[dict[str, Any]]]


def _json(body: object) -> Response:
    return Response(
        jsoncodec.dumps(body), media_type="application/json", headers={"Cache-Control": "no-store"}
    )


def _strings(body: Any, field: str, cap: int, max_length: int) -> list[str]:
    """`body[field]`: a list of at most `cap` strings of at most `max_length` characters."""
    value = body.get(field) if isinstance(body, dict) else None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInput(f'the body must be {{"{field}": [string, ...]}}', code=f"bad_{field}")
    if len(value) > cap:
        raise InvalidInput(f"at most {cap} {field} per request", code=f"too_many_{field}")
    if any(len(item) > max_length for item in value):
        raise InvalidInput(f"{field} are at most {max_length} characters", code=f"bad_{field}")
    return value


def internal_routes(client: InProcessMediaClient, key: bytes) -> list[BaseRoute]:
    """`POST /media/internal/attachments` and `/previews`, signed with `key`."""

    def endpoint(path: str, handle: Handler) -> Route:
        async def route(request: Request) -> Response:
            body = await read_capped(
                request, internal_api.MAX_BODY_BYTES, code="internal_body_too_large"
            )
            header = request.headers.get(internal_api.HEADER)
            internal_api.verify_request(key, path, body, header)
            try:
                payload = jsoncodec.loads(body)
            except ValueError as error:
                raise InvalidInput("the body is not JSON", code="invalid_json") from error
            return _json(await handle(payload))

        return Route(path, route, methods=["POST"])

    async def attachments(payload: Any) -> dict[str, Any]:
        ids = _strings(payload, "ids", internal_api.MAX_IDS, 64)
        found = await client.describe_attachments(ids)
        # Request order, each once; ids that name no stored upload are left out.
        ordered = [found[i] for i in dict.fromkeys(ids) if i in found]
        return {"attachments": [asdict(view) for view in ordered]}

    async def previews(payload: Any) -> dict[str, Any]:
        urls = _strings(payload, "urls", internal_api.MAX_URLS, internal_api.MAX_URL_LENGTH)
        found = await client.link_previews(urls)
        return {"previews": [asdict(preview) for preview in found]}

    return [
        endpoint(internal_api.ATTACHMENTS, attachments),
        endpoint(internal_api.PREVIEWS, previews),
    ]
