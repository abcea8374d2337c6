"""The chat HTTP API under `/api` (JSON; OpenAPI at `/api/openapi.json`).

Bodies are validated with pydantic, then by the domain: any bad input is a 422 with a
reason code, never a 500. Every route but registration, sign-in and the OpenAPI document
takes `Authorization: Bearer <token>`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import wraps
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, request_response
from starlette.types import Receive, Scope, Send

from confab.chat.domain import DEFAULT_LIMIT, User, iso, message_json, room_json
from confab.chat.services import ChatServices
from confab.chat.services.config import POST
from confab.chat.web import schemas
from confab.chat.web.openapi import openapi_document
from confab.core import jsoncodec
from confab.core.errors import InvalidInput, NotFound, Unauthorized, excerpt
from confab.node.bodies import read_capped
from confab.node.errors import error_response, json_error

# A 4000-character text escaped as \uXXXX is 24 KB; nothing valid comes near this.
MAX_BODY = 64 * 1024
# Larger integers than a 64-bit seq or id name nothing (and would overflow the database).
_MAX_INT = 2**63 - 1


Endpoint = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)


def _json(body: object, status: int = 200) -> Response:
    return Response(
        jsoncodec.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _endpoint(handler: Endpoint) -> Endpoint:
    """Answer bad input with 422 and a missing or bad token with 401 + WWW-Authenticate."""

    @wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except InvalidInput as exc:
            return json_error(422, exc.reason, exc.detail)
        except Unauthorized as exc:
            response = error_response(exc)
            response.headers["WWW-Authenticate"] = 'Bearer realm="confab"'
            return response

    return wrapped


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False)[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


async def _body(request: Request, model: type[M]) -> M:
    """The request body as `model`; empty bodies count as `{}`."""
    raw = (await read_capped(request, MAX_BODY, code="body_too_large")).strip() or b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise InvalidInput(_describe(error), code="invalid_body") from None


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token>", code="missing_token")
    return token.strip()


def client_address(request: Request) -> str:
    """The client's address (the proxy's X-Forwarded-For only from CONFAB_TRUSTED_PROXIES)."""
    return request.client.host if request.client else "unknown"


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) > _MAX_INT:
        raise InvalidInput(f"{name} is a non-negative integer", code=f"invalid_{name}")
    return int(raw)


def _message_id(request: Request) -> int:
    raw: str = request.path_params["message_id"]
    # Anything but a 64-bit id names no message (a 404, as the document says).
    if not raw.isascii() or not raw.isdigit() or int(raw) > _MAX_INT:
        raise NotFound("no such message", code="message_not_found")
    return int(raw)


class _AnyMethod:
    """An endpoint for every method: Starlette gives a plain function GET only."""

    def __init__(self, handler: Endpoint) -> None:
        self._app = request_response(handler)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def api_routes(services: ChatServices, extra: Sequence[BaseRoute] = ()) -> list[BaseRoute]:
    """Every route of the chat HTTP API; `extra`: more `/api` routes from other modules."""
    accounts, rooms, messages = services.accounts, services.rooms, services.messages
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
        view = await rooms.create(user, body.name, body.topic, body.private)
        return _json(room_json(view), 201)

    @_endpoint
    async def get_room(request: Request) -> Response:
        user = await user_of(request)
        return _json(room_json(await rooms.get(user, request.path_params["room"])))

    @_endpoint
    async def list_members(request: Request) -> Response:
        user = await user_of(request)
        view = await rooms.get(user, request.path_params["room"])
        return _json({"members": await rooms.members(view.room.name)})

    @_endpoint
    async def add_member(request: Request) -> Response:
        user = await writer_of(request)
        body = await _body(request, schemas.MemberChange)
        room = request.path_params["room"]
        if body.username is None or body.username.lower() == user.username:
            view = await rooms.join(user, room)
        else:
            view = await rooms.invite(user, room, body.username)
        return _json(room_json(view))

    @_endpoint
    async def remove_member(request: Request) -> Response:
        user = await writer_of(request)
        params = request.path_params
        await rooms.remove(user, params["room"], params["username"])
        return Response(status_code=204)

    @_endpoint
    async def ban(request: Request) -> Response:
        user = await writer_of(request)
        body = await _body(request, schemas.Ban)
        await rooms.ban(user, request.path_params["room"], body.username)
        return Response(status_code=204)

    @_endpoint
    async def history(request: Request) -> Response:
        user = await user_of(request)
        limit = _int_param(request, "limit")
        page, has_more = await messages.history(
            user,
            request.path_params["room"],
            before=_int_param(request, "before"),
            after=_int_param(request, "after"),
            limit=DEFAULT_LIMIT if limit is None else limit,
        )
        return _json({"messages": [message_json(m) for m in page], "has_more": has_more})

    @_endpoint
    async def send(request: Request) -> Response:
        user = await writer_of(request)
        body = await _body(request, schemas.NewMessage)
        message, created = await messages.send(
            user, request.path_params["room"], body.text, body.client_id, body.attachments
        )
        return _json(message_json(message), 201 if created else 200)

    @_endpoint
    async def edit(request: Request) -> Response:
        user = await writer_of(request)
        body = await _body(request, schemas.MessageEdit)
        message = await messages.edit(
            user, request.path_params["room"], _message_id(request), body.text
        )
        return _json(message_json(message))

    @_endpoint
    async def delete(request: Request) -> Response:
        user = await writer_of(request)
        message = await messages.delete(user, request.path_params["room"], _message_id(request))
        return _json(message_json(message))

    room = "/api/rooms/{room}"
    routes: list[BaseRoute] = [
        Route("/api/openapi.json", openapi, methods=["GET"]),
        Route("/api/accounts", register, methods=["POST"]),
        Route("/api/tokens", sign_in, methods=["POST"]),
        Route("/api/tokens/current", sign_out, methods=["DELETE"]),
        Route("/api/rooms", list_rooms, methods=["GET"]),
        Route("/api/rooms", create_room, methods=["POST"]),
        Route(room, get_room, methods=["GET"]),
        Route(f"{room}/members", list_members, methods=["GET"]),
        Route(f"{room}/members", add_member, methods=["POST"]),
        Route(f"{room}/members/{{username}}", remove_member, methods=["DELETE"]),
        Route(f"{room}/bans", ban, methods=["POST"]),
        Route(f"{room}/messages", history, methods=["GET"]),
        Route(f"{room}/messages", send, methods=["POST"]),
        Route(f"{room}/messages/{{message_id}}", edit, methods=["PATCH"]),
        Route(f"{room}/messages/{{message_id}}", delete, methods=["DELETE"]),
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
