"""The OpenAPI operations of `confab.chat.web.trust_api` (joined into `openapi.py`'s)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from confab.chat.web import schemas


class Ticket(BaseModel):
    """A one-time WebSocket ticket: connect to `/ws?ticket=<ticket>` within `expires_in` s."""

    ticket: str
    expires_in: float


class TokenInfo(BaseModel):
    """One session of the caller (one signed-in device); `id` names it, signs nobody in."""

    id: str
    created_at: str = Field(description="ISO-8601 UTC")
    expires_at: str = Field(description="ISO-8601 UTC")
    current: bool = Field(description="whether this is the token of the request")


class TokenList(BaseModel):
    """The caller's unexpired sessions, oldest first."""

    tokens: list[TokenInfo]


class UploadGrant(BaseModel):
    """Send the upload to media with header `<header>: <grant>` before `expires_at`."""

    grant: str
    header: str
    expires_at: str = Field(description="ISO-8601 UTC")


REQUESTS: tuple[type[BaseModel], ...] = (schemas.PasswordChange, schemas.PasswordCheck)
RESPONSES: tuple[type[BaseModel], ...] = (Ticket, TokenList, UploadGrant)

Operation = Callable[..., dict[str, Any]]


def trust_paths(operation: Operation, path_param: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The paths, built with `openapi.py`'s own operation and parameter builders."""
    token_id = path_param("token_id", "a token id from GET /api/tokens")
    return {
        "/api/ws-tickets": {
            "post": operation(
                "wsTicket",
                "A one-time ticket for /ws (the token never goes into a URL)",
                {201: ("A ticket", Ticket)},
                (429,),
                tag="accounts",
            )
        },
        "/api/tokens/{token_id}": {
            "delete": operation(
                "revokeToken",
                "Sign out one device: its open WebSockets close (4001) on every node",
                {204: ("Revoked", None)},
                (404, 429),
                params=(token_id,),
                tag="accounts",
            )
        },
        "/api/accounts/me/password": {
            "put": operation(
                "changePassword",
                "Change the password: every session ends, on every node",
                {204: ("Changed", None)},
                (413, 422, 429),
                body=schemas.PasswordChange,
                tag="accounts",
            )
        },
        "/api/accounts/me/deactivate": {
            "post": operation(
                "deactivate",
                "Close the account: every session ends and sign-in is refused",
                {204: ("Deactivated", None)},
                (413, 422, 429),
                body=schemas.PasswordCheck,
                tag="accounts",
            )
        },
        "/api/upload-grants": {
            "post": operation(
                "uploadGrant",
                "A short-lived grant to upload to media (POST /media/uploads)",
                {201: ("A grant", UploadGrant)},
                (429,),
                tag="accounts",
            )
        },
    }


def token_list_operations(operation: Operation) -> dict[str, Any]:
    """`GET` and `DELETE /api/tokens` (beside sign-in's `POST`)."""
    return {
        "get": operation(
            "listTokens",
            "The caller's sessions, one per signed-in device",
            {200: ("The sessions", TokenList)},
            (),
            tag="accounts",
        ),
        "delete": operation(
            "signOutEverywhere",
            "Sign out every device: every session ends and its WebSockets close (4001)",
            {204: ("Revoked", None)},
            (429,),
            tag="accounts",
        ),
    }
