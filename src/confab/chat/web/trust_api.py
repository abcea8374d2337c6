"""Routes of the chat API about trust: WebSocket tickets, tokens per device, sign-out
everywhere, password change, deactivation, upload grants.

They join `api_routes`' route list (`extra`), so the API's 404/405 answers know them.
Every one of them is a write limited per user (action `post`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from confab.chat.domain import User, iso
from confab.chat.services import ChatServices
from confab.chat.services.config import POST
from confab.chat.services.sessions import token_id
from confab.chat.web import schemas
from confab.chat.web.httpkit import bearer as _bearer
from confab.chat.web.httpkit import endpoint as _endpoint
from confab.chat.web.httpkit import json_response as _json
from confab.chat.web.httpkit import read_body as _body
from confab.core.upload_grants import HEADER, sign_grant


def trust_routes(
    services: ChatServices,
    *,
    grant_key: bytes,
    grant_ttl: float = 300.0,
    clock: Callable[[], float] = time.time,
) -> list[BaseRoute]:
    """The routes; `grant_key` signs upload grants (see `confab.core.upload_grants`)."""
    accounts, sessions, limiter = services.accounts, services.sessions, services.limiter

    async def writer(request: Request) -> tuple[str, User]:
        token = _bearer(request)
        user = await accounts.authenticate(token)
        await limiter.ratelimit(POST, user.username)
        return token, user

    @_endpoint
    async def ws_ticket(request: Request) -> Response:
        ticket = await sessions.issue_ticket(_bearer(request))
        return _json({"ticket": ticket, "expires_in": sessions.ticket_ttl}, 201)

    @_endpoint
    async def list_tokens(request: Request) -> Response:
        current, held = await sessions.list_tokens(_bearer(request))
        listed = [
            {
                "id": token_id(record.token_hash),
                "created_at": iso(record.created_at),
                "expires_at": iso(record.expires_at),
                "current": token_id(record.token_hash) == current,
            }
            for record in held
        ]
        return _json({"tokens": listed})

    @_endpoint
    async def revoke_token(request: Request) -> Response:
        token, _ = await writer(request)
        await sessions.revoke(token, request.path_params["token_id"])
        return Response(status_code=204)

    @_endpoint
    async def sign_out_everywhere(request: Request) -> Response:
        token, _ = await writer(request)
        await sessions.sign_out_everywhere(token)
        return Response(status_code=204)

    @_endpoint
    async def change_password(request: Request) -> Response:
        token, _ = await writer(request)
        body = await _body(request, schemas.PasswordChange)
        await sessions.change_password(token, body.current, body.new)
        return Response(status_code=204)

    @_endpoint
    async def deactivate(request: Request) -> Response:
        token, _ = await writer(request)
        body = await _body(request, schemas.PasswordCheck)
        await sessions.deactivate(token, body.password)
        return Response(status_code=204)

    @_endpoint
    async def upload_grant(request: Request) -> Response:
        _, user = await writer(request)
        now = clock()
        grant = sign_grant(grant_key, user.username, grant_ttl, now)
        expires = datetime.fromtimestamp(int(now + grant_ttl), UTC)
        return _json({"grant": grant, "header": HEADER, "expires_at": iso(expires)}, 201)

    return [
        Route("/api/ws-tickets", ws_ticket, methods=["POST"]),
        Route("/api/tokens", list_tokens, methods=["GET"]),
        Route("/api/tokens", sign_out_everywhere, methods=["DELETE"]),
        Route("/api/tokens/{token_id}", revoke_token, methods=["DELETE"]),
        Route("/api/accounts/me/password", change_password, methods=["PUT"]),
        Route("/api/accounts/me/deactivate", deactivate, methods=["POST"]),
        Route("/api/upload-grants", upload_grant, methods=["POST"]),
    ]
