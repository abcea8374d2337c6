"""The ceiling: a bare `websockets` server (asyncio API) with `websockets.broadcast` per room.

``python -m bench.chat.peer_websockets --port P``. It speaks the subset of Confab's WebSocket
frames the benchmarks use (ready, join/joined, send -> message to the room + ack,
react/unreact -> reaction_added/removed to the room + ack, read -> read to the reader's own
connection + ack, ping/pong)
with the same message JSON, but stores nothing: no database, no auth (the token is the user
name), no rate limit, no presence. Each message is encoded once and handed to
`websockets.broadcast` with the room's set of connections. Library defaults otherwise (no
compression is negotiated because the load generator offers none); uvloop as the loop, as
Confab and the python-socketio peer under uvicorn use.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from urllib.parse import parse_qs, urlsplit

from bench.chat.peer_message import message_json
from bench.chat.runtime import raise_fd_limit, run_loop
from websockets.asyncio.server import ServerConnection, broadcast, serve


class State:
    """Rooms (name -> set of connections), per-room sequence numbers and message ids."""

    def __init__(self) -> None:
        self.rooms: dict[str, set[ServerConnection]] = {}
        self.seq: dict[str, int] = {}
        self.next_id = 0


def _dump(frame: dict[str, object]) -> str:
    return json.dumps(frame, separators=(",", ":"))


async def handler(ws: ServerConnection, state: State) -> None:
    """One client: greet, then join/send/ping until it goes away."""
    query = parse_qs(urlsplit(ws.request.path if ws.request else "/").query)
    user = query.get("token", ["anonymous"])[0]
    await ws.send(_dump({"type": "ready", "user": user}))
    joined: set[str] = set()
    try:
        async for raw in ws:
            try:
                frame = json.loads(raw)
                kind = frame["type"]
            except (ValueError, KeyError, TypeError):
                await ws.send(_dump({"type": "error", "code": "bad_frame", "message": "?"}))
                continue
            if kind == "send":
                room = str(frame.get("room"))
                members = state.rooms.get(room)
                if members is None or ws not in members:
                    await ws.send(_dump({"type": "error", "code": "not_member", "message": room}))
                    continue
                state.next_id += 1
                seq = state.seq[room] = state.seq.get(room, 0) + 1
                text, client_id = frame.get("text"), frame.get("client_id")
                body = message_json(state.next_id, room, seq, user, text, client_id)
                message = {"type": "message", **body}
                broadcast(members, _dump(message))
                ack = {"type": "ack", "client_id": frame.get("client_id"), "id": state.next_id}
                await ws.send(_dump({**ack, "seq": seq}))
            elif kind in ("react", "unreact", "read"):
                room = str(frame.get("room"))
                members = state.rooms.get(room)
                if members is None or ws not in members:
                    await ws.send(_dump({"type": "error", "code": "not_member", "message": room}))
                    continue
                seq = state.seq[room] = state.seq.get(room, 0) + 1
                if kind == "read":  # only to the reader's own device, as Confab does
                    body = {"user": user, "read_seq": frame.get("seq")}
                    await ws.send(_dump({"type": "read", "room": room, "seq": seq, **body}))
                else:
                    name = "reaction_added" if kind == "react" else "reaction_removed"
                    body = {
                        "target": frame.get("target"),
                        "emoji": frame.get("emoji"),
                        "user": user,
                    }
                    broadcast(members, _dump({"type": name, "room": room, "seq": seq, **body}))
                await ws.send(
                    _dump({"type": "ack", "client_id": frame.get("client_id"), "seq": seq})
                )
            elif kind == "join":
                room = str(frame.get("room"))
                state.rooms.setdefault(room, set()).add(ws)
                joined.add(room)
                members_count = len(state.rooms[room])
                await ws.send(
                    _dump(
                        {
                            "type": "joined",
                            "room": room,
                            "last_seq": state.seq.get(room, 0),
                            "members": members_count,
                        }
                    )
                )
            elif kind == "leave":
                room = str(frame.get("room"))
                state.rooms.get(room, set()).discard(ws)
                joined.discard(room)
            elif kind == "ping":
                await ws.send(_dump({"type": "pong"}))
            else:
                await ws.send(_dump({"type": "error", "code": "unknown_type", "message": kind}))
    finally:
        for room in joined:
            state.rooms.get(room, set()).discard(ws)


async def main_async(host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT."""
    state = State()
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.cancel)

    async def bound(ws: ServerConnection) -> None:
        await handler(ws, state)

    async with serve(bound, host, port, compression=None, backlog=4096):
        with contextlib.suppress(asyncio.CancelledError):
            await stop


def main() -> None:
    """Command line: --host, --port."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_fd_limit()
    run_loop(main_async(args.host, args.port))


if __name__ == "__main__":
    main()
