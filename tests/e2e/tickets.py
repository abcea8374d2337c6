"""A `/ws` URL as clients build it: a fresh one-time ticket from `POST /api/ws-tickets`."""

from __future__ import annotations

import httpx


async def issue_ticket(http: httpx.AsyncClient, token: str) -> str:
    """A one-time WebSocket ticket for the session of `token`, from the node (or the fleet
    behind nginx) that `http` is based on."""
    issued = await http.post("/api/ws-tickets", headers={"Authorization": f"Bearer {token}"})
    issued.raise_for_status()
    return str(issued.json()["ticket"])


async def ticket(base_url: str, token: str) -> str:
    """A one-time WebSocket ticket for the session of `token`."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        return await issue_ticket(http, token)


async def ws_url(base_url: str, token: str) -> str:
    """`ws://.../ws?ticket=...` for `token`'s session (each call a new ticket)."""
    return base_url.replace("http", "ws", 1) + "/ws?ticket=" + await ticket(base_url, token)
