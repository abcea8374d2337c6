"""The chat HTTP API under `/api` (JSON; OpenAPI at `/api/openapi.json`).

Bodies are validated with pydantic, then by the domain: any bad input is a 422 with a
reason code, never a 500. Every route but registration, sign-in and the OpenAPI document
takes `Authorization: Bearer <token>`.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, request_response
from starlette.types import Receive, Scope, Send

from confab.chat.domain import User, iso, room_json
from confab.chat.services import ChatServices
from confab.chat.services.config import POST
from confab.chat.web import schemas
from confab.chat.web.api_messages import message_routes
from confab.chat.web.api_rooms import room_routes
from confab.chat.web.httpkit import Endpoint
from confab.chat.web.httpkit import bearer as _bearer
from confab.chat.web.httpkit import endpoint as _endpoint
from confab.chat.web.httpkit import json_response as _json
from confab.chat.web.httpkit import read_body as _body
from confab.chat.web.openapi import openapi_document
from confab.core import jsoncodec
from confab.core.errors import excerpt
from confab.node.errors import json_error


def client_address(request: Request) -> str:
    """The client's address (the proxy's X-Forwarded-For only from CONFAB_TRUSTED_PROXIES)."""
    return request.client.host if request.client else "unknown"


class _AnyMethod:
    """An endpoint for every method: Starlette gives a plain function GET only."""

    def __init__(self, handler: Endpoint) -> None:
        self._app = request_response(handler)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def api_routes(services: ChatServices, extra: Sequence[BaseRoute] = ()) -> list[BaseRoute]:
    """Every route of the chat HTTP API; `extra`: more `/api` routes from other modules."""
    accounts, rooms = services.accounts, services.rooms
    document: list[bytes] = []

    async def user_of(request: Request) -> User:
        return await accounts.authenticate(_bearer(request))

    async def writer_of(request: Request) -> User:
        """The user, if they may write now (HTTP writes are limited per user)."""
        user = await user_of(request)
        await services.limiter.ratelimit(POST, user.username)
        return user

    async def openapi(request: Request) -> Response:
        if not document:
            document.append(jsoncodec.dumps(openapi_document()))
        return Response(document[0], media_type="application/json")

    @_endpoint
    async def register(request: Request) -> Response:
        body = await _body(request, schemas.Credentials)
        user = await accounts.register(body.username, body.password, client_address(request))
        return _json({"username": user.username}, 201)

    @_endpoint
    async def sign_in(request: Request) -> Response:
        body = await _body(request, schemas.Credentials)
        token = await accounts.sign_in(body.username, body.password, client_address(request))
        return _json({"token": token.token, "expires_at": iso(token.expires_at)})

    @_endpoint
    async def sign_out(request: Request) -> Response:
        # Its live connections close too, on every node (confab.chat.userfeed).
        await services.sessions.sign_out(_bearer(request))
        return Response(status_code=204)

    @_endpoint
    async def list_rooms(request: Request) -> Response:
        user = await user_of(request)
        return _json({"rooms": [room_json(view) for view in await rooms.list_for(user)]})

    @_endpoint
    async def create_room(request: Request) -> Response:
        user = await writer_of(request)
        body = await _body(request, schemas.NewRoom)
        view = await rooms.create(user, body.name, body.topic, body.private, body.title)
        return _json(room_json(view), 201)

    @_endpoint
    async def get_room(request: Request) -> Response:
        user = await user_of(request)
        return _json(room_json(await rooms.get(user, request.path_params["room"])))

    room = "/api/rooms/{room}"
    routes: list[BaseRoute] = [
        Route("/api/openapi.json", openapi, methods=["GET"]),
        Route("/api/accounts", register, methods=["POST"]),
        Route("/api/tokens", sign_in, methods=["POST"]),
        Route("/api/tokens/current", sign_out, methods=["DELETE"]),
        Route("/api/rooms", list_rooms, methods=["GET"]),
        Route("/api/rooms", create_room, methods=["POST"]),
        Route(room, get_room, methods=["GET"]),
        *room_routes(services, user_of, writer_of),
        *message_routes(services, user_of, writer_of),
        *extra,
    ]

    async def unmatched(request: Request) -> Response:
        # Claims all of /api, so that the client's catch-all mount never answers for it.
        allowed = sorted(
            {
                method
                for route in routes
                if isinstance(route, Route)
                for method in route.methods or ()
                if route.matches({**request.scope, "method": method})[0] == Match.FULL
            }
        )
        if allowed:
            response = json_error(405, "method_not_allowed", f"use {', '.join(allowed)}")
            response.headers["Allow"] = ", ".join(allowed)
            return response
        return json_error(404, "not_found", f"no API route {excerpt(request.url.path)}")

    # Any method (TRACE, QUERY... too): a 405 always says in `Allow` what the path takes.
    return [*routes, Route("/api/{rest:path}", _AnyMethod(unmatched))]
