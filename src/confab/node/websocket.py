"""A lean ASGI WebSocket protocol for uvicorn, with a non-blocking path for fan-out.

uvicorn's own WebSocket protocols keep 23-33 KB of Python objects per idle connection
(an `asyncio.Queue` and `Event`s, the handshake's request and response headers, timers...).
A chat node holds tens of thousands of mostly idle sockets, so this protocol keeps the
minimum: slotted state, a small list as the receive queue, the handshake dropped once done.
Frames are parsed and built by the `websockets` Sans-I/O `ServerProtocol`; no extension
(permessage-deflate) is ever negotiated, which keeps per-connection memory flat and lets a
server frame be built once and written unchanged to many sockets.

Besides plain ASGI, the protocol puts itself in `scope["extensions"]["confab.direct"]`
(`DIRECT_EXTENSION`): an app that knows it may call `write_frame(frame)` with a complete,
pre-encoded server frame (never blocks; it returns the bytes buffered, so the app decides
when a reader is too slow) and `close_now(code, reason)`, which does not wait either.
ASGI `websocket.send` instead waits while the transport is paused, as the spec expects.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import weakref
from typing import Any, Protocol, cast
from urllib.parse import unquote

import uvicorn
from uvicorn.protocols.utils import (
    ClientDisconnected,
    get_local_addr,
    get_remote_addr,
    is_ssl,
)
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import OPEN, SEND_EOF
from websockets.server import ServerProtocol

DIRECT_EXTENSION = "confab.direct"
_INBOX_HIGH = 8  # pause reading while this many events wait for the app
_CLOSE_TIMEOUT = 5.0  # after our close frame, wait this long for the peer's before aborting

log = logging.getLogger("confab.ws")


@functools.cache
def _wire_logger() -> logging.Logger:
    """The Sans-I/O protocol logs every open/close at INFO: keep it to warnings."""
    logger = logging.getLogger("confab.ws.wire")
    logger.setLevel(logging.WARNING)
    return logger


class DetachedHandler(Protocol):
    """Receives a detached connection's events (see `WebSocketProtocol.detach`)."""

    def on_message(self, data: str | bytes) -> None:
        """A complete text (str) or binary (bytes) message arrived."""

    def on_close(self, code: int) -> None:
        """The connection is closed or closing; called once, then never again."""


class WebSocketProtocol(asyncio.Protocol):
    """One WebSocket connection: RFC 6455 via `websockets`, ASGI to the app."""

    __slots__ = (
        "_accepted",
        "_alive",
        "_app",
        "_close_sent",
        "_close_timer",
        "_config",
        "_conn",
        "_disconnected",
        "_drain",
        "_frags",
        "_frags_text",
        "_handler",
        "_inbox",
        "_loop",
        "_lost",
        "_read_paused",
        "_replied",
        "_response",
        "_server_state",
        "_started",
        "_stats",
        "_transport",
        "_waiter",
        "_writable",
        "_write_paused",
    )

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()  # pragma: no cover - uvicorn loads the config before serving
        self._config = config
        self._app = config.loaded_app
        self._loop = _loop or asyncio.get_event_loop()
        self._server_state = server_state
        self._stats = stats_for(server_state)
        self._conn = ServerProtocol(max_size=config.ws_max_size, logger=_wire_logger())
        self._transport: asyncio.Transport | None = None
        self._response: Response | None = None
        self._inbox: list[dict[str, Any]] = []
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._frags: list[bytes] | None = None
        self._frags_text = False
        self._handler: DetachedHandler | None = None
        self._alive = True  # something arrived since the last keepalive ping
        self._close_timer: asyncio.TimerHandle | None = None
        self._started = False  # the app was started (it gets a disconnect event at the end)
        self._accepted = False  # the 101 response went out
        self._replied = False  # some handshake response went out
        self._close_sent = False
        self._disconnected = False  # websocket.disconnect queued for the app
        self._lost = False
        self._read_paused = False
        self._write_paused = False
        self._writable = False  # open for data frames: accepted, no close sent or received

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register with the server (uvicorn closes registered connections on shutdown)."""
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._server_state.connections.add(self)  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell the app, wake whoever waits, drop timers."""
        self._lost = True
        self._writable = False
        self._server_state.connections.discard(self)
        _keepalive_for(self._server_state, self._loop, self._config).discard(self)
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        rcvd = self._conn.close_rcvd
        self._push_disconnect(rcvd.code if rcvd is not None else 1006)
        self._wake_drain()

    def eof_received(self) -> bool | None:
        """The peer half-closed: let the transport close (connection_lost follows)."""
        return None

    def pause_writing(self) -> None:
        """The transport's buffer passed its high-water mark."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """The transport's buffer drained below its low-water mark."""
        self._write_paused = False
        self._wake_drain()

    def data_received(self, data: bytes) -> None:
        """Feed the parser, hand events to the app, send what the parser queued."""
        self._alive = True
        conn = self._conn
        conn.receive_data(data)
        for event in conn.events_received():
            if isinstance(event, Frame):
                self._on_frame(event)
            elif isinstance(event, Request):
                self._on_request(event)
        if conn.parser_exc is not None:
            # Bad framing, a message over max_size, ...: websockets already queued the
            # close frame (fail()); the app learns the code the peer was given.
            sent = conn.close_sent
            self._push_disconnect(sent.code if sent is not None else 1006)
        if conn.state is not OPEN:
            self._writable = False  # a close frame came in or went out
        self._flush()

    # uvicorn

    def shutdown(self) -> None:
        """Server shutdown: close with 1012 (service restart) or refuse the handshake."""
        self.drain_close(1012, "server shutting down")

    def drain_close(self, code: int, reason: str) -> None:
        """Close an accepted connection with `code`/`reason`, or refuse the handshake.

        The transport stays open after our close frame: a client busy sending would
        otherwise get a reset (its unread frames make the kernel answer with RST) instead
        of the close frame. Its frames are read and dropped until its own close frame
        arrives, or `_CLOSE_TIMEOUT` passes and the connection is aborted.
        """
        transport = self._transport
        if transport is None or self._lost:
            return
        if self._accepted:
            self._close(code, reason)
        elif not self._replied:
            self._reply(self._conn.reject(503, "Server shutting down.\n"))
            transport.close()
        else:
            transport.close()

    @property
    def accepted(self) -> bool:
        """The handshake completed and the connection is open for frames."""
        return self._writable

    # The direct path (see the module docstring)

    def write_frame(self, frame: bytes) -> int:
        """Write a complete server frame now, whatever the buffer holds.

        Returns the bytes now waiting in the write buffer (the caller decides when that is
        too much), or -1 when the connection no longer takes frames.
        """
        # One flag, kept up to date by every state change: this runs once per recipient.
        if not self._writable:
            return -1
        transport = self._transport
        assert transport is not None
        transport.write(frame)
        return transport.get_write_buffer_size()

    def buffered(self) -> int:
        """Bytes written but not yet handed to the kernel."""
        transport = self._transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def close_now(self, code: int, reason: str = "") -> None:
        """Send a close frame without waiting for the buffer to drain; abort if unanswered."""
        self._close(code, reason)

    def set_send_buffer(self, size: int) -> None:
        """Cap the kernel's send buffer (SO_SNDBUF) of this socket.

        Autotuning lets it grow to megabytes for a peer that stopped reading; with a cap,
        a slow reader shows up in `buffered()` soon, and 20,000 sockets cannot pin
        gigabytes of kernel memory.
        """
        transport = self._transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)

    def detach(self, handler: DetachedHandler) -> None:
        """Serve this accepted connection through `handler` instead of ASGI `receive`.

        The ASGI app may then return without the socket closing: an idle connection keeps
        no task and no coroutine frames (the app's whole middleware chain) alive. Messages
        already queued for `receive` go to the handler on the next loop iteration.
        """
        if not self._accepted:
            raise RuntimeError("accept the WebSocket before detaching it")
        self._handler = handler
        if self._inbox:
            self._loop.call_soon(self._flush_inbox_to_handler)

    def pause_reading(self) -> None:
        """Stop reading from the socket (a detached handler has too much to do)."""
        if not self._read_paused and not self._lost:
            self._read_paused = True
            assert self._transport is not None
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the socket again."""
        if self._read_paused and not self._lost:
            self._read_paused = False
            assert self._transport is not None
            self._transport.resume_reading()

    # ASGI

    async def receive(self) -> dict[str, Any]:
        """The next event for the app; `websocket.disconnect` again once disconnected."""
        inbox = self._inbox
        while not inbox:
            if self._disconnected:
                return {"type": "websocket.disconnect", "code": 1006}
            waiter = self._loop.create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        event = inbox.pop(0)
        if len(inbox) < _INBOX_HIGH // 2:
            self.resume_reading()
        return event

    async def send(self, message: dict[str, Any]) -> None:
        """Handle one ASGI event from the app."""
        kind = message["type"]
        if not self._accepted:
            if self._lost or self._replied:
                raise ClientDisconnected()
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                self._push_disconnect(1006)
                self._reply(self._conn.reject(403, ""))
            else:
                raise RuntimeError(f"expected websocket.accept or websocket.close, got {kind!r}")
            return
        if kind == "websocket.close":
            self._close(int(message.get("code") or 1000), message.get("reason") or "")
            return
        if kind != "websocket.send":
            raise RuntimeError(f"expected websocket.send or websocket.close, got {kind!r}")
        while self._write_paused and not (self._lost or self._close_sent):
            if self._drain is None:
                self._drain = self._loop.create_future()
            await self._drain
        if self._lost or self._close_sent or self._conn.state is not OPEN:
            raise ClientDisconnected()
        text = message.get("text")
        if text is not None:
            self._conn.send_text(text.encode())
        else:
            self._conn.send_binary(message.get("bytes") or b"")
        self._flush()

    # internals

    def _on_request(self, request: Request) -> None:
        if self._stats.draining:
            # Draining: new WebSockets go elsewhere (nginx tries the next node on a 503).
            response = self._conn.reject(503, "Server draining.\n")
            response.headers["Retry-After"] = "1"
            self._reply(response)
            return
        response = self._conn.accept(request)
        if response.status_code != 101:
            self._reply(response)
            return
        self._response = response
        transport = self._transport
        assert transport is not None
        raw_path, _, query = request.path.partition("?")
        subprotocols = [
            token.strip()
            for header in request.headers.get_all("Sec-WebSocket-Protocol")
            for token in header.split(",")
        ]
        root = self._config.root_path
        scope: dict[str, Any] = {
            "type": "websocket",
            "asgi": {"version": self._config.asgi_version, "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "wss" if is_ssl(transport) else "ws",
            "server": get_local_addr(transport),
            "client": get_remote_addr(transport),
            "root_path": root,
            "path": root + unquote(raw_path),
            "raw_path": (root + raw_path).encode("ascii"),
            "query_string": query.encode("ascii"),
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in request.headers.raw_items()
            ],
            "subprotocols": subprotocols,
            "state": {},
            "extensions": {DIRECT_EXTENSION: self},
        }
        # The Sans-I/O parser's generator keeps the request alive for the whole connection:
        # empty its headers now that the scope has its own copy (~1 KB per connection).
        request.headers.clear()
        self._inbox.append({"type": "websocket.connect"})
        self._started = True
        task = self._loop.create_task(self._run_asgi(scope))
        tasks = self._server_state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _run_asgi(self, scope: dict[str, Any]) -> None:
        try:
            await self._app(scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except Exception:
            log.exception("error in the WebSocket application")
            if not self._replied:
                self._reply(self._conn.reject(500, "Internal Server Error\n"))
            elif self._accepted:
                self._close(1011, "internal error")
        finally:
            # Break the scope -> extension -> protocol cycle so memory frees without the GC.
            scope["extensions"] = None
            if self._handler is not None:
                pass  # detached: the connection lives on in the handler's callbacks
            elif not self._replied and not self._lost:
                log.error("WebSocket application returned without accepting or closing")
                self._reply(self._conn.reject(500, "Internal Server Error\n"))
            elif self._accepted and not self._close_sent:
                self._close(1000, "")
            elif self._close_timer is None and self._transport is not None:
                self._transport.close()

    def _accept(self, message: dict[str, Any]) -> None:
        response = self._response
        assert response is not None
        self._response = None  # the handshake is done: free its headers
        headers = response.headers
        del headers["Date"]
        for name, value in [*self._server_state.default_headers, *message.get("headers", [])]:
            headers[name.decode("latin-1")] = value.decode("latin-1")
        subprotocol = message.get("subprotocol")
        if subprotocol:
            headers["Sec-WebSocket-Protocol"] = subprotocol
        assert self._transport is not None
        if self._lost or self._transport.is_closing():
            raise ClientDisconnected()
        self._conn.send_response(response)
        self._accepted = self._replied = self._writable = True
        self._flush()
        _keepalive_for(self._server_state, self._loop, self._config).add(self)

    def _reply(self, response: Response) -> None:
        """Send a non-101 handshake response; the parser then queues EOF and we close."""
        self._response = None
        self._replied = True
        self._conn.send_response(response)
        self._flush()

    def _on_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            self._frags_text = opcode is Opcode.TEXT
            if frame.fin:
                self._deliver(bytes(frame.data))
            else:
                self._frags = [bytes(frame.data)]
        elif opcode is Opcode.CONT:
            frags = self._frags
            if frags is not None:
                frags.append(bytes(frame.data))
                if frame.fin:
                    self._frags = None
                    self._deliver(b"".join(frags))
        elif opcode is Opcode.CLOSE:
            # websockets queued the echo and EOF; _flush() writes them and closes the socket.
            rcvd = self._conn.close_rcvd
            if self._close_timer is not None:
                self._close_timer.cancel()
                self._close_timer = None
            self._push_disconnect(rcvd.code if rcvd is not None else 1005)

    def _deliver(self, data: bytes) -> None:
        if self._close_sent or self._disconnected:
            return  # past our close frame: the app is gone or going
        self._stats.frames_in += 1
        if self._frags_text:
            try:
                event: dict[str, Any] = {"type": "websocket.receive", "text": data.decode()}
            except UnicodeDecodeError:
                self._conn.fail(1007, "invalid UTF-8")
                self._push_disconnect(1007)
                return
        else:
            event = {"type": "websocket.receive", "bytes": data}
        self._push(event)

    def _push(self, event: dict[str, Any]) -> None:
        if self._handler is not None and not self._inbox:
            if event["type"] == "websocket.disconnect":
                # Closing may start inside the handler's own calls (a fan-out loop cutting
                # off a slow reader): tell it on the next iteration, never re-entrantly.
                self._loop.call_soon(self._to_handler, event)
            else:
                self._to_handler(event)
            return
        inbox = self._inbox
        inbox.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if len(inbox) >= _INBOX_HIGH:
            self.pause_reading()

    def _flush_inbox_to_handler(self) -> None:
        inbox, self._inbox = self._inbox, []
        self.resume_reading()  # from here on the handler paces reading itself
        for event in inbox:
            self._to_handler(event)

    def _to_handler(self, event: dict[str, Any]) -> None:
        handler = self._handler
        if handler is None:
            return
        try:
            if event["type"] == "websocket.receive":
                text = event.get("text")
                handler.on_message(text if text is not None else event.get("bytes") or b"")
            elif event["type"] == "websocket.disconnect":
                self._handler = None  # once, and no cycle left behind
                handler.on_close(event["code"])
        except Exception:
            log.exception("error in a detached WebSocket handler")
            self._close(1011, "internal error")

    def _push_disconnect(self, code: int) -> None:
        if self._disconnected or not self._started:
            return
        self._disconnected = True
        self._push({"type": "websocket.disconnect", "code": code})

    def _close(self, code: int, reason: str) -> None:
        if self._close_sent or self._lost or self._conn.state is not OPEN:
            return
        self._close_sent = True
        self._writable = False
        self._conn.send_close(code, reason)
        self._flush()
        self._push_disconnect(code)
        transport = self._transport
        assert transport is not None
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()  # to read the peer's close frame
        self._close_timer = self._loop.call_later(_CLOSE_TIMEOUT, transport.abort)
        self._wake_drain()

    def _flush(self) -> None:
        out = self._conn.data_to_send()
        if not out:
            return
        transport = self._transport
        assert transport is not None
        data = out[0] if len(out) == 1 else b"".join(out)
        if data and not transport.is_closing():
            transport.write(data)
        if out[-1] == SEND_EOF:
            if self._close_timer is not None:
                self._close_timer.cancel()
                self._close_timer = None
            transport.close()

    def keepalive(self) -> bool:
        """Called by the sweeper once per ping interval; False drops the connection from it.

        A peer that sent nothing (not even the pong to the previous ping) for a whole
        interval is gone: fail the connection with 1011, as uvicorn's own timeout does.
        """
        if self._close_sent or self._lost or self._conn.state is not OPEN:
            return False
        if not self._alive:
            self._conn.fail(1011, "keepalive ping timeout")
            self._close_sent = True
            self._writable = False
            self._push_disconnect(1011)
            self._flush()
            return False
        self._alive = False
        self._conn.send_ping(b"")
        self._flush()
        return True

    def _wake_drain(self) -> None:
        drain = self._drain
        if drain is not None:
            self._drain = None
            if not drain.done():
                drain.set_result(None)


class ServerStats:
    """Per-server figures the protocol keeps (read by /metrics), and the drain flag."""

    __slots__ = ("__weakref__", "draining", "frames_in")

    def __init__(self) -> None:
        self.frames_in = 0  # complete client messages handed to the app
        self.draining = False  # refuse new handshakes (503): the node is shutting down


_STATS: weakref.WeakKeyDictionary[ServerState, ServerStats] = weakref.WeakKeyDictionary()


def stats_for(state: ServerState) -> ServerStats:
    """The figures of the server that owns `state` (made on first use)."""
    stats = _STATS.get(state)
    if stats is None:
        stats = _STATS[state] = ServerStats()
    return stats


def open_websockets(state: ServerState) -> list[WebSocketProtocol]:
    """The server's accepted, still open WebSocket connections."""
    found: list[WebSocketProtocol] = []
    for conn in list(state.connections):
        if isinstance(conn, WebSocketProtocol) and conn.accepted:
            found.append(conn)
    return found


class _Keepalive:
    """One timer for all the connections of a server instead of one (~600 B) per connection.

    Connections are spread over `_SLOTS` buckets; each tick visits one bucket, so each
    connection gets a ping once per interval and is dropped if it stayed silent since the
    previous one (the pong timeout is therefore the interval).
    """

    _SLOTS = 16

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float | None) -> None:
        self._loop = loop
        self._interval = interval if interval is not None and interval > 0 else None
        self._buckets: list[set[WebSocketProtocol]] = [set() for _ in range(self._SLOTS)]
        self._next_bucket = 0  # where the next connection goes
        self._tick = 0  # the bucket the next tick visits
        self._timer: asyncio.TimerHandle | None = None
        self._count = 0

    def add(self, conn: WebSocketProtocol) -> None:
        """Start pinging `conn`."""
        if self._interval is None:
            return
        self._buckets[self._next_bucket].add(conn)
        self._next_bucket = (self._next_bucket + 1) % self._SLOTS
        self._count += 1
        if self._timer is None:
            self._timer = self._loop.call_later(self._interval / self._SLOTS, self._run)

    def discard(self, conn: WebSocketProtocol) -> None:
        """Stop pinging `conn`."""
        for bucket in self._buckets:
            if conn in bucket:
                bucket.remove(conn)
                self._count -= 1
                return

    def _run(self) -> None:
        assert self._interval is not None
        bucket = self._buckets[self._tick]
        self._tick = (self._tick + 1) % self._SLOTS
        for conn in list(bucket):
            if not conn.keepalive():
                bucket.discard(conn)
                self._count -= 1
        self._timer = (
            self._loop.call_later(self._interval / self._SLOTS, self._run) if self._count else None
        )


_KEEPALIVES: weakref.WeakKeyDictionary[ServerState, _Keepalive] = weakref.WeakKeyDictionary()


def _keepalive_for(
    state: ServerState, loop: asyncio.AbstractEventLoop, config: uvicorn.Config
) -> _Keepalive:
    keepalive = _KEEPALIVES.get(state)
    if keepalive is None:
        keepalive = _Keepalive(loop, config.ws_ping_interval)
        _KEEPALIVES[state] = keepalive
    return keepalive
