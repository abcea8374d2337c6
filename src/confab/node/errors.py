"""The web boundary's translation of `confab.core.errors` into HTTP responses."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from confab.core import errors, jsoncodec
from confab.core.ratelimit import retry_after_header

STATUS_BY_ERROR: dict[type[errors.ConfabError], int] = {
    errors.InvalidInput: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.UnsupportedMedia: 415,
    errors.Unprocessable: 422,
    errors.RateLimited: 429,
    errors.UpstreamFailed: 502,
    errors.Unavailable: 503,
    errors.UpstreamTimeout: 504,
}


def status_for(exc: errors.ConfabError) -> int:
    """HTTP status of an error: that of its nearest mapped class."""
    for cls in type(exc).__mro__:
        status = STATUS_BY_ERROR.get(cls)
        if status is not None:
            return status
    return 400


def json_error(status: int, reason: str, detail: str = "") -> Response:
    """`{"error": reason, "detail": detail}` with `status` (a long detail cut short)."""
    body = jsoncodec.dumps({"error": reason, "detail": errors.excerpt(detail, errors.DETAIL_MAX)})
    return Response(
        body,
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def error_response(exc: errors.ConfabError) -> Response:
    """The response for an expected failure (a 429 says when to come back)."""
    response = json_error(status_for(exc), exc.reason, exc.detail)
    if isinstance(exc, errors.RateLimited):
        response.headers["Retry-After"] = retry_after_header(exc.retry_after)
    return response


async def handle_confab_error(request: Request, exc: Exception) -> Response:
    """Starlette exception handler for ConfabError."""
    assert isinstance(exc, errors.ConfabError)
    return error_response(exc)
