"""python-socketio's AsyncServer (ASGI) under uvicorn with uvloop; the server emits to the room.

``python -m bench.chat.peer_socketio --port P``. Events: `join` {room} -> enter_room + a
`joined` event; `send` {room, text, client_id} -> a `message` event with the same message
JSON as Confab's, emitted once to the room (sender included), and an `ack` event to the
sender. The user name comes from the connect auth (`{"token": name}`). Nothing is stored.
Library defaults otherwise (uvicorn's default WebSocket implementation, Engine.IO pings).
"""

from __future__ import annotations

import argparse
from typing import Any

import socketio  # type: ignore[import-untyped]
import uvicorn
from bench.chat.peer_message import message_json
from bench.chat.runtime import raise_fd_limit


def build_app() -> tuple[socketio.AsyncServer, Any]:
    """The Socket.IO server and its ASGI app."""
    sio = socketio.AsyncServer(async_mode="asgi")
    users: dict[str, str] = {}
    seqs: dict[str, int] = {}
    counter = [0]

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        users[sid] = str(auth.get("token")) if isinstance(auth, dict) else "anonymous"

    @sio.event  # type: ignore[untyped-decorator]
    async def disconnect(sid: str, *args: Any) -> None:
        users.pop(sid, None)

    @sio.on("join")  # type: ignore[untyped-decorator]
    async def join(sid: str, data: dict[str, Any]) -> None:
        room = str(data.get("room"))
        await sio.enter_room(sid, room)
        await sio.emit("joined", {"room": room, "last_seq": seqs.get(room, 0)}, to=sid)

    @sio.on("send")  # type: ignore[untyped-decorator]
    async def send(sid: str, data: dict[str, Any]) -> None:
        room = str(data.get("room"))
        if room not in sio.rooms(sid):
            await sio.emit("error", {"code": "not_member", "message": room}, to=sid)
            return
        counter[0] += 1
        seq = seqs[room] = seqs.get(room, 0) + 1
        author = users.get(sid, "anonymous")
        text, client_id = data.get("text"), data.get("client_id")
        message = message_json(counter[0], room, seq, author, text, client_id)
        await sio.emit("message", message, room=room)
        ack = {"client_id": data.get("client_id"), "id": counter[0], "seq": seq}
        await sio.emit("ack", ack, to=sid)

    return sio, socketio.ASGIApp(sio)


def main() -> None:
    """Command line: --host, --port."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_fd_limit()
    _, app = build_app()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        backlog=4096,
    )


if __name__ == "__main__":
    main()
