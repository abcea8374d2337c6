"""A lean WebSocket client on `asyncio.Protocol`, for thousands of connections in one process.

The load generator shares a 2-core machine with the server under test and has to take in
more frames per second than the fastest server sends, so it does not use a full client
library: no task per connection, no per-frame coroutine, no UTF-8 validation, no JSON
parsing of the fan-out frames. A frame is recognised by a byte marker and the send time
stamped in the message text (`@@<perf_counter>@@`) is read with two `bytes.find` calls.

Client frames are masked with a random key (RFC 6455), through websockets' C `apply_mask`.
No extension is offered, so no server compresses.

Two dialects: `confab` (Confab's JSON frames, also spoken by the bare `websockets` peer) and
`socketio` (Engine.IO 4 / Socket.IO 5 straight over a WebSocket, as python-socketio's own
client does after its upgrade).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import time
from collections.abc import Callable
from typing import Protocol

from websockets.speedups import apply_mask

STAMP = b"@@"

# Frame kinds returned by a dialect's classifier.
OTHER, MESSAGE, ACK, READY, JOINED, ERROR = range(6)


def stamp_text(stamp: float, sender: int, number: int) -> str:
    """Message text carrying its send time; the receiver reads it back with `read_stamp`."""
    return f"@@{stamp:.6f}@@ bench message {number} from client {sender}, a line of chat"


def read_stamp(payload: bytes) -> float | None:
    """The send time stamped in a frame, or None when it holds none."""
    start = payload.find(STAMP)
    if start < 0:
        return None
    end = payload.find(STAMP, start + 2)
    if end < 0:
        return None
    try:
        return float(payload[start + 2 : end])
    except ValueError:
        return None


class Dialect:
    """How one server family frames a chat session over a WebSocket."""

    name = "confab"
    # Confab encodes `{"type": "message", **message}`: the type comes first.
    message_marker = b'{"type":"message",'

    async def credential(self, host: str, port: int, token: str) -> str:
        """What the handshake carries for `token`: Confab wants a one-time ticket
        (`POST /api/ws-tickets`), so the session token never goes into a URL."""
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(
                f"POST /api/ws-tickets HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            answer = await reader.read()
        finally:
            writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 201"):
            raise ConnectionError(f"ticket refused: {head[:60]!r}")
        return str(json.loads(body)["ticket"])

    def path(self, token: str) -> str:
        """The request target of the WebSocket handshake (`token`: from `credential`)."""
        return f"/ws?ticket={token}"

    def classify(self, conn: Conn, payload: bytes) -> int:
        """Kind of a text frame that is not a fan-out message; may answer it (pings)."""
        head = payload[:64]
        if b'"type":"ack"' in head:
            return ACK
        if b'"type":"joined"' in head:
            return JOINED
        if b'"type":"ready"' in head:
            return READY
        if b'"type":"error"' in head:
            return ERROR
        return OTHER

    def join(self, room: str) -> bytes:
        """The frame that joins `room`."""
        return json.dumps({"type": "join", "room": room}).encode()

    def send(self, room: str, text: str, client_id: str) -> bytes:
        """The frame that posts `text` to `room`."""
        frame = {"type": "send", "room": room, "text": text, "client_id": client_id}
        return json.dumps(frame, separators=(",", ":")).encode()

    def react(self, room: str, target: int, emoji: str, client_id: str, on: bool) -> bytes:
        """`react` (or `unreact` when not `on`) to message `target`; answered by an ack."""
        kind = "react" if on else "unreact"
        frame = {"type": kind, "room": room, "target": target, "emoji": emoji}
        frame["client_id"] = client_id
        return json.dumps(frame, separators=(",", ":")).encode()

    def read(self, room: str, seq: int, client_id: str) -> bytes:
        """Move the read marker of `room` to `seq`; answered by an ack."""
        frame = {"type": "read", "room": room, "seq": seq, "client_id": client_id}
        return json.dumps(frame, separators=(",", ":")).encode()


class PeerDialect(Dialect):
    """Confab's frames on the bare `websockets` peer: the user name in the URL, no tickets."""

    name = "websockets"

    async def credential(self, host: str, port: int, token: str) -> str:
        return token

    def path(self, token: str) -> str:
        return f"/ws?token={token}"


class SocketIODialect(Dialect):
    """Engine.IO 4 + Socket.IO 5 packets, default namespace, auth carries the user name."""

    name = "socketio"
    message_marker = b'42["message",'

    async def credential(self, host: str, port: int, token: str) -> str:
        return token  # the peers take the user name as it is

    def path(self, token: str) -> str:
        return "/socket.io/?EIO=4&transport=websocket"

    def classify(self, conn: Conn, payload: bytes) -> int:
        if payload == b"2":  # Engine.IO ping from the server: answer or be dropped
            conn.send_text(b"3")
            return OTHER
        if payload.startswith(b'42["ack"'):
            return ACK
        if payload.startswith(b'42["joined"'):
            return JOINED
        if payload.startswith(b"40"):  # namespace connected
            return READY
        if payload.startswith(b"0{"):  # Engine.IO open: connect to the namespace
            conn.send_text(b"40" + json.dumps({"token": conn.token}).encode())
            return OTHER
        if payload.startswith((b"44", b'42["error"')):
            return ERROR
        return OTHER

    def join(self, room: str) -> bytes:
        return b"42" + json.dumps(["join", {"room": room}]).encode()

    def send(self, room: str, text: str, client_id: str) -> bytes:
        event = ["send", {"room": room, "text": text, "client_id": client_id}]
        return b"42" + json.dumps(event, separators=(",", ":")).encode()


DIALECTS: dict[str, Callable[[], Dialect]] = {
    "confab": Dialect,
    "websockets": PeerDialect,
    "socketio": SocketIODialect,
}


class Sink(Protocol):
    """Where a connection reports what it receives (the load generator)."""

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        """A fan-out message frame arrived."""

    def on_ack(self, conn: Conn, payload: bytes, now: float) -> None:
        """An ack for one of this connection's sends arrived."""

    def on_error(self, conn: Conn, payload: bytes) -> None:
        """An error frame arrived."""

    def on_closed(self, conn: Conn) -> None:
        """The connection closed (by either side)."""


def _handshake(host: str, port: int, path: str) -> tuple[bytes, bytes]:
    key = base64.b64encode(os.urandom(16))
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode("latin-1")
    return request, key


def _consume(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


class Conn(asyncio.Protocol):
    """One client WebSocket. `ready` resolves once the server greeted it, `joined` on join."""

    def __init__(
        self, sink: Sink, dialect: Dialect, index: int, token: str, host: str, port: int
    ) -> None:
        self.sink = sink
        self.dialect = dialect
        self.index = index
        self.token = token
        self.host = host
        self.port = port
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.buffer = b""
        self.fragments: list[bytes] = []
        self.closed = False
        self.close_code: int | None = None
        self.close_reason = ""  # from the server's close frame (a drain's `retry_ms=N`)
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.joined: asyncio.Future[None] = loop.create_future()
        for future in (self.ready, self.joined):
            # A connection lost before anyone awaits `joined` must not log a warning.
            future.add_done_callback(_consume)
        self.sent = 0

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only duck-typed ones.
        self.transport = stream = transport  # type: ignore[assignment]
        request, _ = _handshake(self.host, self.port, self.dialect.path(self.token))
        stream.write(request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        for future in (self.ready, self.joined):
            if not future.done():
                future.set_exception(ConnectionError(f"closed (code {self.close_code})"))
        self.sink.on_closed(self)

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            data = self._upgrade(data)
            if not data:
                return
        elif not self.buffer and len(data) > 4 and data[0] == 0x81:
            # Fast path, the common case under fan-out: exactly one whole unfragmented text
            # frame (server frames are unmasked, so the second byte is the length code).
            code = data[1]
            if code < 126:
                head = 2
            elif code == 126:
                head = 4
            else:
                head = 10
            if head + (code if code < 126 else int.from_bytes(data[2:head], "big")) == len(data):
                payload = data[head:]
                if payload.startswith(self.dialect.message_marker):
                    self.sink.on_message(self, payload, time.perf_counter())
                else:
                    self._text(payload, time.perf_counter())
                return
        buf = self.buffer + data if self.buffer else data
        size = len(buf)
        pos = 0
        now = time.perf_counter()
        while size - pos >= 2:
            first = buf[pos]
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            end = pos + head + length
            if end > size:
                break
            payload = buf[pos + head : end]
            pos = end
            opcode = first & 0x0F
            if not first & 0x80 or (opcode == 0 and self.fragments):
                # Fragmented message (no server here fragments small frames): reassemble.
                self.fragments.append(payload)
                if not first & 0x80:
                    continue
                payload = b"".join(self.fragments)
                self.fragments.clear()
                opcode = 1
            if opcode == 1 or opcode == 2:
                self._text(payload, now)
            elif opcode == 9:
                self._send_frame(0xA, payload)
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                self.close_reason = payload[2:125].decode("utf-8", "replace")
                self._send_frame(0x8, payload[:2])
                if self.transport is not None:
                    self.transport.close()
        self.buffer = buf[pos:] if pos < size else b""

    # -- frames ----------------------------------------------------------------------------
    def _upgrade(self, data: bytes) -> bytes:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > 16384 and self.transport is not None:
                self.transport.close()
            return b""
        head, rest = self.buffer[:end], self.buffer[end + 4 :]
        self.buffer = b""
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            if not self.ready.done():
                self.ready.set_exception(
                    ConnectionError(f"handshake refused: {status.decode('latin-1')}")
                )
            if self.transport is not None:
                self.transport.close()
            return b""
        self.upgraded = True
        return rest

    def _text(self, payload: bytes, now: float) -> None:
        if payload.startswith(self.dialect.message_marker):
            self.sink.on_message(self, payload, now)
            return
        kind = self.dialect.classify(self, payload)
        if kind == ACK:
            self.sink.on_ack(self, payload, now)
        elif kind == READY:
            if not self.ready.done():
                self.ready.set_result(None)
        elif kind == JOINED:
            if not self.joined.done():
                self.joined.set_result(None)
        elif kind == ERROR:
            self.sink.on_error(self, payload)

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        length = len(payload)
        if length < 126:
            header = bytes((0x80 | opcode, 0x80 | length))
        elif length < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
        mask = random.randbytes(4)
        self.transport.write(header + mask + apply_mask(payload, mask))

    def send_text(self, payload: bytes) -> None:
        """Send one text frame (masked)."""
        self._send_frame(0x1, payload)

    def join(self, room: str) -> None:
        """Ask to join `room`; `joined` resolves on the answer."""
        self.send_text(self.dialect.join(room))

    def post(self, room: str, number: int) -> float:
        """Send one stamped message to `room`; returns its stamp."""
        stamp = time.perf_counter()
        text = stamp_text(stamp, self.index, number)
        self.send_text(self.dialect.send(room, text, f"@@{stamp:.6f}@@{number}"))
        self.sent += 1
        return stamp

    def close(self) -> None:
        """Drop the TCP connection (no closing handshake: the server must cope)."""
        if self.transport is not None:
            self.transport.abort()


async def connect_joined(
    sink: Sink, dialect: Dialect, index: int, token: str, host: str, port: int, room: str | None
) -> Conn:
    """Client `index`'s connection, greeted and (with a `room`) joined, or raises.

    The dialect's credential first (Confab: a one-time ticket, so no token is in a URL).
    """
    credential = await dialect.credential(host, port, token)
    holder: list[Conn] = []

    def factory() -> Conn:
        conn = Conn(sink, dialect, index, credential, host, port)
        holder.append(conn)
        return conn

    try:
        await asyncio.get_running_loop().create_connection(factory, host, port)
        conn = holder[0]
        await conn.ready
        if room is not None:
            conn.join(room)
            await conn.joined
    except BaseException:
        if holder:
            holder[0].close()
        raise
    return conn
