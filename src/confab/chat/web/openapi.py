"""The OpenAPI 3.1 document of the chat HTTP API, built from the pydantic schemas."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from confab.chat.web import openapi_trust, schemas

_REF = "#/components/schemas/{model}"
_REQUESTS: tuple[type[BaseModel], ...] = (
    schemas.Credentials,
    schemas.NewRoom,
    schemas.MemberChange,
    schemas.Ban,
    schemas.NewMessage,
    schemas.MessageEdit,
    *openapi_trust.REQUESTS,
)
_RESPONSES: tuple[type[BaseModel], ...] = (
    schemas.Account,
    schemas.TokenOut,
    schemas.Room,
    schemas.RoomList,
    schemas.Members,
    schemas.Message,
    schemas.MessagePage,
    schemas.Error,
    *openapi_trust.RESPONSES,
)

_ERRORS = {
    400: "Malformed request",
    401: "Missing, invalid or expired token (`missing_token`, `invalid_token`)",
    403: "Refused by the room's rules (`not_a_member`, `not_owner`, `banned`, ...)",
    404: "No such room (or a private one you are not in), user, message or upload",
    409: "Conflicts with stored data (`username_taken`, `room_taken`, ...)",
    413: "Body over 64 KiB",
    422: "Invalid body or parameter, with a reason code",
    429: "Too many requests: wait the seconds of `Retry-After`",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json_content(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(model)}}


def _path_param(name: str, description: str, kind: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": kind},
    }


def _query_param(name: str, description: str, **limits: int) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "integer", **limits},
    }


_ROOM = _path_param("room", "room name")
_MESSAGE_ID = _path_param("message_id", "message id", "integer")


def _operation(
    op_id: str,
    summary: str,
    ok: dict[int, tuple[str, type[BaseModel] | None]],
    errors: tuple[int, ...],
    *,
    body: type[BaseModel] | None = None,
    params: tuple[dict[str, Any], ...] = (),
    auth: bool = True,
    tag: str = "rooms",
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, (description, model) in ok.items():
        responses[str(status)] = {"description": description}
        if model is not None:
            responses[str(status)]["content"] = _json_content(model)
    all_errors = (*errors, 401) if auth else errors
    for status in sorted(set(all_errors)):
        responses[str(status)] = {
            "description": _ERRORS[status],
            "content": _json_content(schemas.Error),
        }
        if status == 429:
            responses[str(status)]["headers"] = {
                "Retry-After": {
                    "description": "seconds to wait",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
    operation: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "tags": [tag],
        "responses": responses,
    }
    if params:
        operation["parameters"] = list(params)
    if body is not None:
        # An empty body counts as {}: it may be left out when no field is required.
        required = any(field.is_required() for field in body.model_fields.values())
        operation["requestBody"] = {"required": required, "content": _json_content(body)}
    if not auth:
        operation["security"] = []
    return operation


def _paths() -> dict[str, Any]:
    room = "/api/rooms/{room}"
    message = f"{room}/messages/{{message_id}}"
    return {
        "/api/accounts": {
            "post": _operation(
                "register",
                "Create an account",
                {201: ("Created", schemas.Account)},
                (409, 413, 422, 429),
                body=schemas.Credentials,
                auth=False,
                tag="accounts",
            )
        },
        "/api/tokens": {
            "post": _operation(
                "signIn",
                "Sign in: get a bearer token (rate-limited per username and client)",
                {200: ("A new token", schemas.TokenOut)},
                (401, 413, 422, 429),
                body=schemas.Credentials,
                auth=False,
                tag="accounts",
            ),
            **openapi_trust.token_list_operations(_operation),
        },
        "/api/tokens/current": {
            "delete": _operation(
                "signOut",
                "Sign out: revoke the token used",
                {204: ("Revoked", None)},
                (),
                tag="accounts",
            )
        },
        "/api/rooms": {
            "get": _operation(
                "listRooms",
                "My rooms and every public room",
                {200: ("The rooms", schemas.RoomList)},
                (),
            ),
            "post": _operation(
                "createRoom",
                "Create a room (the caller owns it)",
                {201: ("Created", schemas.Room)},
                (409, 413, 422, 429),
                body=schemas.NewRoom,
            ),
        },
        room: {
            "get": _operation(
                "getRoom",
                "One room",
                {200: ("The room", schemas.Room)},
                (403, 404),
                params=(_ROOM,),
            )
        },
        f"{room}/members": {
            "get": _operation(
                "listMembers",
                "Members of a room",
                {200: ("Usernames", schemas.Members)},
                (403, 404),
                params=(_ROOM,),
            ),
            "post": _operation(
                "addMember",
                "Join a public room (empty body), or, as owner, invite `username`",
                {200: ("The room", schemas.Room)},
                (403, 404, 409, 413, 422, 429),
                body=schemas.MemberChange,
                params=(_ROOM,),
            ),
        },
        f"{room}/members/{{username}}": {
            "delete": _operation(
                "removeMember",
                "Leave (your own name) or, as owner, kick a member",
                {204: ("Removed", None)},
                (403, 404, 429),
                params=(_ROOM, _path_param("username", "member to remove")),
            )
        },
        f"{room}/bans": {
            "post": _operation(
                "ban",
                "As owner, ban a user (removes them now and refuses their joins)",
                {204: ("Banned", None)},
                (403, 404, 413, 422, 429),
                body=schemas.Ban,
                params=(_ROOM,),
            )
        },
        f"{room}/messages": {
            "get": _operation(
                "history",
                "A page of history in seq order (members only)",
                {200: ("A page", schemas.MessagePage)},
                (403, 404, 422),
                params=(
                    _ROOM,
                    _query_param("before", "newest page of messages with seq < before", minimum=0),
                    _query_param(
                        "after",
                        "oldest page of messages with seq > after (and < before if given)",
                        minimum=0,
                    ),
                    _query_param("limit", "page size (default 50)", minimum=1, maximum=100),
                ),
            ),
            "post": _operation(
                "sendMessage",
                "Post a message; a repeated client_id returns the first message (200)",
                {201: ("Stored", schemas.Message), 200: ("Already stored", schemas.Message)},
                (403, 404, 409, 413, 422, 429),
                body=schemas.NewMessage,
                params=(_ROOM,),
            ),
        },
        message: {
            "patch": _operation(
                "editMessage",
                "Edit your message",
                {200: ("Edited", schemas.Message)},
                (403, 404, 409, 413, 422, 429),
                body=schemas.MessageEdit,
                params=(_ROOM, _MESSAGE_ID),
            ),
            "delete": _operation(
                "deleteMessage",
                "Delete a message (its author or the room owner)",
                {200: ("Deleted (text blanked, seq kept)", schemas.Message)},
                (403, 404, 429),
                params=(_ROOM, _MESSAGE_ID),
            ),
        },
        **openapi_trust.trust_paths(_operation, _path_param),
    }


def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI document (build once and cache the bytes)."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((m, "validation") for m in _REQUESTS),
        *((m, "serialization") for m in _RESPONSES),
    ]
    _, definitions = models_json_schema(models, ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Confab chat API",
            "version": "1",
            "description": (
                "Accounts, rooms, membership and message history. Live messages, presence "
                "and typing go over the WebSocket at /ws?ticket=T (T from POST /api/ws-tickets)."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [{"name": "accounts"}, {"name": "rooms"}],
        "paths": _paths(),
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
