"""Reading request bodies under a byte cap, shared by every role's web layer."""

from __future__ import annotations

from starlette.requests import Request

from confab.core.errors import TooLarge


async def read_capped(request: Request, cap: int, *, code: str) -> bytes:
    """The whole body, or TooLarge(`code`) as soon as it passes `cap` bytes.

    Content-Length is checked first to refuse early, but never trusted: the stream is
    counted as it arrives.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise TooLarge(f"the body is over {cap} bytes", code=code)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise TooLarge(f"the body is over {cap} bytes", code=code)
        chunks.append(chunk)
    return b"".join(chunks)
