"""A server frame encoded once and written unchanged to every recipient.

Server-to-client WebSocket frames are not masked, and Confab negotiates no extension, so
the bytes on the wire for a text message are the same for every connection: a 2-10 byte
header followed by the UTF-8 payload (RFC 6455 section 5.2). `Outgoing` builds them once
per message; connections that go through plain ASGI use the decoded text instead.

Frames that reach a room together are fanned out as one batch (`Outgoing.batch`): the
concatenated wire bytes, so each connection gets them in one write, one system call.
"""

from __future__ import annotations

import struct

_FIN_TEXT = 0x81  # FIN bit + opcode 1 (text)


def text_frame(payload: bytes) -> bytes:
    """The complete unmasked, unfragmented WebSocket text frame carrying `payload`."""
    size = len(payload)
    if size < 126:
        header = bytes((_FIN_TEXT, size))
    elif size < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, size)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, size)
    return header + payload


class Outgoing:
    """One frame for many connections: the JSON payload, its wire form, its text."""

    __slots__ = ("_text", "parts", "payload", "wire")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.wire = text_frame(payload)
        self._text: str | None = None
        self.parts: tuple[Outgoing, ...] | None = None

    @classmethod
    def batch(cls, frames: list[Outgoing]) -> Outgoing:
        """Several frames as one write (a single frame stays itself)."""
        if len(frames) == 1:
            return frames[0]
        joined = cls.__new__(cls)
        joined.payload = b""
        joined.wire = b"".join(frame.wire for frame in frames)
        joined._text = None
        joined.parts = tuple(frames)
        return joined

    def frames(self) -> tuple[Outgoing, ...]:
        """The single frames this holds (itself, or the frames of a batch)."""
        return self.parts if self.parts is not None else (self,)

    @property
    def text(self) -> str:
        """The payload as a str (for ASGI `websocket.send`), decoded on first use."""
        if self._text is None:
            self._text = self.payload.decode()
        return self._text

    def __len__(self) -> int:
        return len(self.wire)
