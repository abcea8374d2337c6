"""HTTP routes of a room's messages: history, send, edit, delete, threads, reactions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from confab.chat.domain import DEFAULT_LIMIT, message_json
from confab.chat.services import ChatServices
from confab.chat.web import schemas
from confab.chat.web.httpkit import (
    UserOf,
    endpoint,
    int_param,
    json_response,
    message_id,
    read_body,
)


def message_routes(services: ChatServices, user_of: UserOf, writer_of: UserOf) -> list[BaseRoute]:
    """The routes under /api/rooms/{room}/messages."""
    messages, reactions = services.messages, services.reactions

    @endpoint
    async def history(request: Request) -> Response:
        user = await user_of(request)
        limit = int_param(request, "limit")
        page, has_more = await messages.history(
            user,
            request.path_params["room"],
            before=int_param(request, "before"),
            after=int_param(request, "after"),
            limit=DEFAULT_LIMIT if limit is None else limit,
        )
        return json_response({"messages": [message_json(m) for m in page], "has_more": has_more})

    @endpoint
    async def send(request: Request) -> Response:
        user = await writer_of(request)
        body = await read_body(request, schemas.NewMessage)
        message, created = await messages.send(
            user,
            request.path_params["room"],
            body.text,
            body.client_id,
            body.attachments,
            body.reply_to,
        )
        return json_response(message_json(message), 201 if created else 200)

    @endpoint
    async def edit(request: Request) -> Response:
        user = await writer_of(request)
        body = await read_body(request, schemas.MessageEdit)
        message = await messages.edit(
            user, request.path_params["room"], message_id(request), body.text
        )
        return json_response(message_json(message))

    @endpoint
    async def delete(request: Request) -> Response:
        user = await writer_of(request)
        message = await messages.delete(user, request.path_params["room"], message_id(request))
        return json_response(message_json(message))

    @endpoint
    async def thread(request: Request) -> Response:
        user = await user_of(request)
        limit = int_param(request, "limit")
        root, replies, has_more = await messages.thread(
            user,
            request.path_params["room"],
            message_id(request),
            DEFAULT_LIMIT if limit is None else limit,
        )
        return json_response(
            {
                "root": message_json(root),
                "replies": [message_json(m) for m in replies],
                "has_more": has_more,
            }
        )

    async def _react(request: Request, on: bool) -> Response:
        user = await writer_of(request)
        params = request.path_params
        await reactions.react(user, params["room"], message_id(request), params["emoji"], on)
        return Response(status_code=204)

    @endpoint
    async def add_reaction(request: Request) -> Response:
        return await _react(request, True)

    @endpoint
    async def remove_reaction(request: Request) -> Response:
        return await _react(request, False)

    message = "/api/rooms/{room}/messages/{message_id}"
    return [
        Route("/api/rooms/{room}/messages", history, methods=["GET"]),
        Route("/api/rooms/{room}/messages", send, methods=["POST"]),
        Route(message, edit, methods=["PATCH"]),
        Route(message, delete, methods=["DELETE"]),
        Route(f"{message}/thread", thread, methods=["GET"]),
        Route(f"{message}/reactions/{{emoji}}", add_reaction, methods=["PUT"]),
        Route(f"{message}/reactions/{{emoji}}", remove_reaction, methods=["DELETE"]),
    ]
