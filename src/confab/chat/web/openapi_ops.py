"""Building blocks of the OpenAPI document: operations, parameters, error responses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from confab.chat.web import openapi_trust, schemas

REF = "#/components/schemas/{model}"
REQUESTS: tuple[type[BaseModel], ...] = (
    schemas.Credentials,
    schemas.NewRoom,
    schemas.RoomPatch,
    schemas.NewDm,
    schemas.RoleChange,
    schemas.ReadMarker,
    schemas.NotifyChange,
    schemas.MemberChange,
    schemas.Ban,
    schemas.NewMessage,
    schemas.MessageEdit,
    *openapi_trust.REQUESTS,
)
RESPONSES: tuple[type[BaseModel], ...] = (
    schemas.Account,
    schemas.TokenOut,
    schemas.Room,
    schemas.RoomList,
    schemas.Members,
    schemas.Bans,
    schemas.ReadOut,
    schemas.Message,
    schemas.MessagePage,
    schemas.Thread,
    schemas.Error,
    *openapi_trust.RESPONSES,
)

ERRORS = {
    400: "Malformed request",
    401: "Missing, invalid or expired token (`missing_token`, `invalid_token`)",
    403: "Refused by the room's rules (`not_a_member`, `not_owner`, `banned`, ...)",
    404: "No such room (or a private one you are not in), user, message or upload",
    409: "Conflicts with stored data (`username_taken`, `room_taken`, ...)",
    413: "Body over 64 KiB",
    422: "Invalid body or parameter, with a reason code",
    429: "Too many requests: wait the seconds of `Retry-After`",
    503: "A service this needs is unavailable (`media_unavailable`, `database_unavailable`)",
}


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def json_content(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": ref(model)}}


def path_param(name: str, description: str, kind: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": kind},
    }


def query_param(name: str, description: str, **limits: int) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "integer", **limits},
    }


ROOM = path_param("room", "room name")
MESSAGE_ID = path_param("message_id", "message id", "integer")
USER = path_param("username", "a user")
EMOJI = {
    **path_param("emoji", "the reaction: 1-32 characters, no whitespace (URL-encoded)"),
    # What `domain.check_emoji` accepts (surrogates cannot be in a URL anyway).
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 32,
        "pattern": "^[^\\s\\u0000-\\u001f\\u007f-\\u009f]{1,32}$",
    },
}


def operation(
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
            responses[str(status)]["content"] = json_content(model)
    # Any route may meet a database (or media) outage: 503 with a reason code; a signed-in
    # caller's writes are rate-limited per user (429).
    all_errors = (*errors, 401, 429, 503) if auth else (*errors, 503)
    for status in sorted(set(all_errors)):
        responses[str(status)] = {
            "description": ERRORS[status],
            "content": json_content(schemas.Error),
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
        operation["requestBody"] = {"required": required, "content": json_content(body)}
    if not auth:
        operation["security"] = []
    return operation
