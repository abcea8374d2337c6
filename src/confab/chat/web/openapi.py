"""The OpenAPI 3.1 document of the chat HTTP API, built from the pydantic schemas."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from confab.chat.web import openapi_trust, schemas
from confab.chat.web.openapi_ops import (
    EMOJI,
    MESSAGE_ID,
    REF,
    REQUESTS,
    RESPONSES,
    ROOM,
    operation,
    path_param,
    query_param,
)
from confab.chat.web.openapi_rooms import room_paths


def _paths() -> dict[str, Any]:
    room = "/api/rooms/{room}"
    message = f"{room}/messages/{{message_id}}"
    return {
        "/api/accounts": {
            "post": operation(
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
            "post": operation(
                "signIn",
                "Sign in: get a bearer token (rate-limited per username and client)",
                {200: ("A new token", schemas.TokenOut)},
                (401, 413, 422, 429),
                body=schemas.Credentials,
                auth=False,
                tag="accounts",
            ),
            **openapi_trust.token_list_operations(operation),
        },
        "/api/tokens/current": {
            "delete": operation(
                "signOut",
                "Sign out: revoke the token used",
                {204: ("Revoked", None)},
                (),
                tag="accounts",
            )
        },
        "/api/rooms": {
            "get": operation(
                "listRooms",
                "My rooms and every public room",
                {200: ("The rooms", schemas.RoomList)},
                (),
            ),
            "post": operation(
                "createRoom",
                "Create a room (the caller owns it)",
                {201: ("Created", schemas.Room)},
                (409, 413, 422, 429),
                body=schemas.NewRoom,
            ),
        },
        **room_paths(),
        f"{room}/messages": {
            "get": operation(
                "history",
                "A page of history in seq order (members only)",
                {200: ("A page", schemas.MessagePage)},
                (403, 404, 422),
                params=(
                    ROOM,
                    query_param("before", "newest page of messages with seq < before", minimum=0),
                    query_param(
                        "after",
                        "oldest page of messages with seq > after (and < before if given)",
                        minimum=0,
                    ),
                    query_param("limit", "page size (default 50)", minimum=1, maximum=100),
                ),
            ),
            "post": operation(
                "sendMessage",
                "Post a message (or a reply); a repeated client_id returns the first (200)",
                {201: ("Stored", schemas.Message), 200: ("Already stored", schemas.Message)},
                (403, 404, 409, 413, 422, 429),
                body=schemas.NewMessage,
                params=(ROOM,),
            ),
        },
        message: {
            "patch": operation(
                "editMessage",
                "Edit your message",
                {200: ("Edited", schemas.Message)},
                (403, 404, 409, 413, 422, 429),
                body=schemas.MessageEdit,
                params=(ROOM, MESSAGE_ID),
            ),
            "delete": operation(
                "deleteMessage",
                "Delete a message (its author, a moderator or the owner)",
                {200: ("Deleted (text blanked, seq kept)", schemas.Message)},
                (403, 404),
                params=(ROOM, MESSAGE_ID),
            ),
        },
        f"{message}/thread": {
            "get": operation(
                "thread",
                "A thread: its root and the replies in seq order",
                {200: ("The thread", schemas.Thread)},
                (403, 404, 422),
                params=(
                    ROOM,
                    MESSAGE_ID,
                    query_param("limit", "replies (default 50)", minimum=1, maximum=100),
                ),
            )
        },
        f"{message}/reactions/{{emoji}}": {
            "put": operation(
                "addReaction",
                "React to a message (idempotent)",
                {204: ("Reacted", None)},
                (403, 404, 422),
                params=(ROOM, MESSAGE_ID, EMOJI),
            ),
            "delete": operation(
                "removeReaction",
                "Take a reaction back (idempotent)",
                {204: ("Removed", None)},
                (403, 404, 422),
                params=(ROOM, MESSAGE_ID, EMOJI),
            ),
        },
        **openapi_trust.trust_paths(operation, path_param),
    }


def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI document (build once and cache the bytes)."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((m, "validation") for m in REQUESTS),
        *((m, "serialization") for m in RESPONSES),
    ]
    _, definitions = models_json_schema(models, ref_template=REF)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Confab chat API",
            "version": "1",
            "description": (
                "Accounts, rooms, DMs, membership and roles, message history, threads, "
                "reactions and read markers. Live events, presence and typing go over the "
                "WebSocket at /ws?ticket=T (T from POST /api/ws-tickets)."
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
