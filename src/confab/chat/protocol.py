"""The chat WebSocket protocol: client frames parsed into small dataclasses, server frames.

Pure functions only. A client frame is a JSON object with a `type`; anything else raises
`FrameError` with a stable `code`, which the connection answers with an `error` frame and
keeps going. Server frames are UTF-8 JSON bytes, encoded once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confab.chat.domain import normalize_room_name
from confab.core import jsoncodec
from confab.core.errors import DETAIL_MAX, InvalidInput, excerpt

MAX_FRAME_BYTES = 64 * 1024


class FrameError(Exception):
    """A client frame we cannot act on; the connection stays open."""

    def __init__(self, code: str, message: str, **context: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.context = context


@dataclass(frozen=True, slots=True)
class Join:
    room: str


@dataclass(frozen=True, slots=True)
class Leave:
    room: str


@dataclass(frozen=True, slots=True)
class Send:
    room: str
    text: str
    client_id: str
    attachments: tuple[str, ...] = ()
    reply_to: int | None = None


@dataclass(frozen=True, slots=True)
class React:
    """`react` (on) or `unreact` (not on)."""

    room: str
    target: int
    emoji: str
    on: bool
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class Read:
    room: str
    seq: int
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class Resume:
    room: str
    after: int


@dataclass(frozen=True, slots=True)
class Typing:
    room: str


@dataclass(frozen=True, slots=True)
class Ping:
    pass


ClientFrame = Join | Leave | Send | Resume | Typing | Ping | React | Read

_PING = Ping()


def _too_large(data: str | bytes) -> bool:
    if len(data) > MAX_FRAME_BYTES:
        return True
    # A str is at most 4 bytes a character: encode only when it could be over.
    return (
        isinstance(data, str)
        and len(data) * 4 > MAX_FRAME_BYTES
        and (len(data.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES)
    )


def _field(body: Mapping[str, Any], name: str, kind: type, what: str) -> Any:
    if name not in body:
        raise FrameError("missing_field", f"{what} needs {name!r}", field=name)
    value = body[name]
    # bool is an int in Python; never accept it where a number is expected.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FrameError("invalid_field", f"{name!r} must be a {kind.__name__}", field=name)
    return value


def _room(body: Mapping[str, Any], what: str) -> str:
    raw = _field(body, "room", str, what)
    try:
        return normalize_room_name(raw)
    except InvalidInput as exc:
        raise FrameError(exc.reason, exc.detail, field="room") from None


def _send(body: Mapping[str, Any]) -> Send:
    client_id = _field(body, "client_id", str, "send")
    room = _room(body, "send")
    text = _field(body, "text", str, "send")
    attachments = body.get("attachments") or []
    if not isinstance(attachments, list) or not all(isinstance(a, str) for a in attachments):
        raise FrameError(
            "invalid_field", "'attachments' must be a list of upload ids", field="attachments"
        )
    reply_to = body.get("reply_to")
    if reply_to is not None:
        reply_to = _field(body, "reply_to", int, "send")
    return Send(room, text, client_id, tuple(attachments), reply_to)


def _optional_client_id(body: Mapping[str, Any]) -> str | None:
    if body.get("client_id") is None:
        return None
    value: str = _field(body, "client_id", str, "frame")
    return value


def _seq(body: Mapping[str, Any], name: str, what: str) -> int:
    value: int = _field(body, name, int, what)
    if not 0 <= value < 2**63:
        raise FrameError("invalid_field", f"{name!r} is a seq or id (>= 0)", field=name)
    return value


def _react(body: Mapping[str, Any], on: bool) -> React:
    what = "react" if on else "unreact"
    client_id = _optional_client_id(body)
    return React(
        _room(body, what),
        _seq(body, "target", what),
        _field(body, "emoji", str, what),
        on,
        client_id,
    )


def parse_client_frame(data: str | bytes) -> ClientFrame:
    """The frame `data` holds, or `FrameError` (invalid_json, unknown_type, missing_field...)."""
    if _too_large(data):
        raise FrameError("too_large", f"a frame is at most {MAX_FRAME_BYTES} bytes")
    try:
        body = jsoncodec.loads(data)
    except ValueError:
        raise FrameError("invalid_json", "the frame is not valid JSON") from None
    if not isinstance(body, dict):
        raise FrameError("invalid_frame", "a frame is a JSON object")
    kind = body.get("type")
    if kind == "send":
        try:
            return _send(body)
        except FrameError as exc:
            # Name the send that failed, so the client can mark that one message.
            client_id = body.get("client_id")
            if isinstance(client_id, str):
                exc.context.setdefault("client_id", client_id[:64])
            raise
    if kind == "ping":
        return _PING
    if kind in ("react", "unreact", "read"):
        try:
            if kind == "read":
                return Read(
                    _room(body, "read"), _seq(body, "seq", "read"), _optional_client_id(body)
                )
            return _react(body, kind == "react")
        except FrameError as exc:
            client_id = body.get("client_id")
            if isinstance(client_id, str):
                exc.context.setdefault("client_id", client_id[:64])
            raise
    if kind == "typing":
        return Typing(_room(body, "typing"))
    if kind == "join":
        return Join(_room(body, "join"))
    if kind == "leave":
        return Leave(_room(body, "leave"))
    if kind == "resume":
        room = _room(body, "resume")
        after = _field(body, "after", int, "resume")
        if after < 0:
            raise FrameError("invalid_field", "'after' is a seq (>= 0)", field="after")
        return Resume(room, after)
    if "type" not in body:
        raise FrameError("missing_field", "a frame needs a 'type'", field="type")
    raise FrameError("unknown_type", f"unknown frame type {str(kind)[:40]!r}")


# server -> client


PONG = b'{"type":"pong"}'


def ready_frame(user: str) -> bytes:
    """`{"type":"ready","user"}`: sent once after the handshake."""
    return jsoncodec.dumps({"type": "ready", "user": user})


def joined_frame(
    room: str,
    last_seq: int,
    members: Iterable[tuple[str, bool]],
    *,
    member_count: int,
    partial: bool = False,
    read_seq: int = 0,
    role: str | None = None,
    notify: str = "all",
) -> bytes:
    """`{"type":"joined","room","last_seq","members":[{"user","online"}],"member_count",
    "read_seq","role","notify"}` (the last three are the joining member's own).

    A large room lists only some members (`"members_partial": true`): the full list is
    `GET /api/rooms/{room}/members`.
    """
    body: dict[str, Any] = {
        "type": "joined",
        "room": room,
        "last_seq": last_seq,
        "members": [{"user": user, "online": online} for user, online in members],
        "member_count": member_count,
        "read_seq": read_seq,
        "role": role,
        "notify": notify,
    }
    if partial:
        body["members_partial"] = True
    return jsoncodec.dumps(body)


def ack_frame(client_id: str, message_id: int, seq: int) -> bytes:
    """`{"type":"ack","client_id","id","seq"}` to the sender."""
    return jsoncodec.dumps({"type": "ack", "client_id": client_id, "id": message_id, "seq": seq})


def ack_seq_frame(client_id: str | None, seq: int | None) -> bytes:
    """`{"type":"ack","client_id","seq"}` for `react`/`unreact`/`read`: the event's seq,
    or null when nothing changed (a repeat)."""
    return jsoncodec.dumps({"type": "ack", "client_id": client_id, "seq": seq})


def resumed_frame(room: str, last_seq: int) -> bytes:
    """`{"type":"resumed","room","last_seq"}`: the replay is complete, live follows."""
    return jsoncodec.dumps({"type": "resumed", "room": room, "last_seq": last_seq})


def room_added_frame(room: dict[str, Any]) -> bytes:
    """`{"type":"room_added","room":<Room object>}` on the user's own channel: invited to a
    room, or a DM opened with them."""
    return jsoncodec.dumps({"type": "room_added", "room": room})


def room_removed_frame(room: str, reason: str) -> bytes:
    """`{"type":"room_removed","room","reason"}` (kicked, banned, deleted) to the user."""
    return jsoncodec.dumps({"type": "room_removed", "room": room, "reason": reason})


def room_deleted_frame(room: str) -> bytes:
    """`{"type":"room_deleted","room"}` on the room: every connection to it is dropped."""
    return jsoncodec.dumps({"type": "room_deleted", "room": room})


def presence_frame(room: str, user: str, online: bool) -> bytes:
    """`{"type":"presence","room","user","online"}`."""
    return jsoncodec.dumps({"type": "presence", "room": room, "user": user, "online": online})


def typing_frame(room: str, user: str) -> bytes:
    """`{"type":"typing","room","user"}`."""
    return jsoncodec.dumps({"type": "typing", "room": room, "user": user})


def error_frame(code: str, message: str, **context: Any) -> bytes:
    """`{"type":"error","code","message"}` plus what identifies the failed request.

    `context` adds `room` or `client_id` when the failed frame had them, so a client can
    tell which of its pending sends failed.
    """
    body: dict[str, Any] = {"type": "error", "code": code, "message": excerpt(message, DETAIL_MAX)}
    # Echoed input (a client_id, a room) is quoted up to a short prefix only.
    body.update(
        (k, excerpt(v) if isinstance(v, str) else v) for k, v in context.items() if v is not None
    )
    return jsoncodec.dumps(body)
