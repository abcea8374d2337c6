"""Client frame parsing and server frame shapes of the chat WebSocket protocol."""

from __future__ import annotations

import json

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from confab.chat import protocol as p
from confab.chat.outgoing import Outgoing, text_frame


def _error(data: str | bytes) -> p.FrameError:
    with pytest.raises(p.FrameError) as info:
        p.parse_client_frame(data)
    return info.value


def test_parses_every_client_frame() -> None:
    assert p.parse_client_frame('{"type":"join","room":"Lobby"}') == p.Join("lobby")
    assert p.parse_client_frame(b'{"type":"leave","room":"lobby"}') == p.Leave("lobby")
    assert p.parse_client_frame(
        '{"type":"send","room":"lobby","text":"hi","client_id":"c1"}'
    ) == p.Send("lobby", "hi", "c1", ())
    assert p.parse_client_frame(
        '{"type":"send","room":"r","text":"x","client_id":"c","attachments":["a","b"]}'
    ) == p.Send("r", "x", "c", ("a", "b"))
    assert p.parse_client_frame('{"type":"resume","room":"r","after":7}') == p.Resume("r", 7)
    assert p.parse_client_frame('{"type":"typing","room":"r"}') == p.Typing("r")
    assert p.parse_client_frame('{"type":"ping"}') == p.Ping()
    assert p.parse_client_frame(
        '{"type":"send","room":"r","text":"x","client_id":"c","reply_to":9}'
    ) == p.Send("r", "x", "c", (), 9)
    assert p.parse_client_frame(
        '{"type":"react","room":"r","target":3,"emoji":"👍","client_id":"k"}'
    ) == p.React("r", 3, "👍", True, "k")
    assert p.parse_client_frame('{"type":"unreact","room":"r","target":3,"emoji":"👍"}') == p.React(
        "r", 3, "👍", False, None
    )
    assert p.parse_client_frame('{"type":"read","room":"r","seq":5}') == p.Read("r", 5, None)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("not json", "invalid_json"),
        ("", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('"join"', "invalid_frame"),
        ('{"room":"r"}', "missing_field"),
        ('{"type":"dance"}', "unknown_type"),
        ('{"type":7}', "unknown_type"),
        ('{"type":"join"}', "missing_field"),
        ('{"type":"join","room":5}', "invalid_field"),
        ('{"type":"join","room":"no spaces"}', "invalid_room_name"),
        ('{"type":"resume","room":"r"}', "missing_field"),
        ('{"type":"resume","room":"r","after":"3"}', "invalid_field"),
        ('{"type":"resume","room":"r","after":true}', "invalid_field"),
        ('{"type":"resume","room":"r","after":-1}', "invalid_field"),
        ('{"type":"send","room":"r","text":"x"}', "missing_field"),
        ('{"type":"send","room":"r","text":"x","client_id":"c","reply_to":"1"}', "invalid_field"),
        ('{"type":"react","room":"r","emoji":"x"}', "missing_field"),
        ('{"type":"react","room":"r","target":-1,"emoji":"x"}', "invalid_field"),
        ('{"type":"unreact","room":"r","target":1,"emoji":5}', "invalid_field"),
        ('{"type":"read","room":"r"}', "missing_field"),
        ('{"type":"read","room":"r","seq":1,"client_id":7}', "invalid_field"),
        ('{"type":"send","room":"r","client_id":"c"}', "missing_field"),
        ('{"type":"send","room":"r","text":["x"],"client_id":"c"}', "invalid_field"),
        (
            '{"type":"send","room":"r","text":"x","client_id":"c","attachments":"a"}',
            "invalid_field",
        ),
        (
            '{"type":"send","room":"r","text":"x","client_id":"c","attachments":[1]}',
            "invalid_field",
        ),
    ],
)
def test_bad_frames_get_a_code(data: str, code: str) -> None:
    assert _error(data).code == code


def test_a_failed_send_names_its_client_id() -> None:
    error = _error('{"type":"send","room":"r","text":5,"client_id":"abc"}')
    assert error.context == {"field": "text", "client_id": "abc"}
    frame = json.loads(p.error_frame(error.code, error.message, **error.context))
    assert frame["type"] == "error"
    assert frame["client_id"] == "abc"


def test_frames_over_64_kib_are_refused_before_parsing() -> None:
    fits = json.dumps({"type": "ping", "pad": "x" * (p.MAX_FRAME_BYTES - 40)})
    assert len(fits.encode()) <= p.MAX_FRAME_BYTES
    assert p.parse_client_frame(fits) == p.Ping()
    assert _error(fits + " " * 100).code == "too_large"
    assert _error(fits.encode() + b" " * 100).code == "too_large"
    # 20,000 characters, but 80,000 bytes in UTF-8.
    wide = json.dumps({"type": "ping", "pad": "\U0001f600" * 20_000}, ensure_ascii=False)
    assert len(wide) < p.MAX_FRAME_BYTES
    assert _error(wide).code == "too_large"


def test_server_frames() -> None:
    assert json.loads(p.PONG) == {"type": "pong"}
    assert json.loads(p.ready_frame("ann")) == {"type": "ready", "user": "ann"}
    assert json.loads(p.ack_seq_frame("k", None)) == {"type": "ack", "client_id": "k", "seq": None}
    members = [("ann", True), ("bob", False)]
    assert json.loads(p.joined_frame("r", 4, members, member_count=2)) == {
        "type": "joined",
        "room": "r",
        "last_seq": 4,
        "members": [{"user": "ann", "online": True}, {"user": "bob", "online": False}],
        "member_count": 2,
        "read_seq": 0,
        "role": None,
        "notify": "all",
    }
    partial = json.loads(p.joined_frame("r", 4, [("ann", True)], member_count=900, partial=True))
    assert partial["members_partial"] is True and partial["member_count"] == 900
    assert json.loads(p.ack_frame("c1", 10, 3)) == {
        "type": "ack",
        "client_id": "c1",
        "id": 10,
        "seq": 3,
    }
    assert json.loads(p.resumed_frame("r", 9)) == {"type": "resumed", "room": "r", "last_seq": 9}
    assert json.loads(p.presence_frame("r", "ann", False)) == {
        "type": "presence",
        "room": "r",
        "user": "ann",
        "online": False,
    }
    assert json.loads(p.typing_frame("r", "ann")) == {"type": "typing", "room": "r", "user": "ann"}
    assert json.loads(p.error_frame("x", "why", room=None, client_id="c")) == {
        "type": "error",
        "code": "x",
        "message": "why",
        "client_id": "c",
    }


def _parse_wire(wire: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(wire)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 200_000])
def test_text_frames_parse_back_with_websockets(size: int) -> None:
    payload = b"y" * size
    frame = _parse_wire(text_frame(payload))
    assert frame.opcode is Opcode.TEXT
    assert frame.fin
    assert bytes(frame.data) == payload


def test_outgoing_encodes_once() -> None:
    out = Outgoing('{"type":"message","text":"é"}'.encode())
    assert out.wire == text_frame(out.payload)
    assert out.text == '{"type":"message","text":"é"}'
    assert out.text is out.text
    assert len(out) == len(out.wire)
