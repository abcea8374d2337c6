"""What every chat HTTP handler shares: JSON responses, bodies, the bearer token, errors.

Bodies are validated with pydantic, then by the domain: any bad input is a 422 with a
reason code, never a 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from confab.chat.domain import User
from confab.core import jsoncodec
from confab.core.errors import InvalidInput, NotFound, Unauthorized
from confab.node.bodies import read_capped
from confab.node.errors import error_response, json_error

# A 4000-character text escaped as \uXXXX is 24 KB; nothing valid comes near this.
MAX_BODY = 64 * 1024
# Larger integers than a 64-bit seq or id name nothing (and would overflow the database).
_MAX_INT = 2**63 - 1

Endpoint = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)


def json_response(body: object, status: int = 200) -> Response:
    return Response(
        jsoncodec.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def endpoint(handler: Endpoint) -> Endpoint:
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


async def read_body(request: Request, model: type[M]) -> M:
    """The request body as `model`; empty bodies count as `{}`."""
    raw = (await read_capped(request, MAX_BODY, code="body_too_large")).strip() or b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise InvalidInput(_describe(error), code="invalid_body") from None


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token>", code="missing_token")
    return token.strip()


def int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) > _MAX_INT:
        raise InvalidInput(f"{name} is a non-negative integer", code=f"invalid_{name}")
    return int(raw)


UserOf = Callable[[Request], Awaitable[User]]


def message_id(request: Request) -> int:
    """The path's message id; anything but a 64-bit id names no message (404, as the
    document says, rather than the catch-all's `not_found`)."""
    raw: str = request.path_params["message_id"]
    if not raw.isascii() or not raw.isdigit() or int(raw) > _MAX_INT:
        raise NotFound("no such message", code="message_not_found")
    return int(raw)
