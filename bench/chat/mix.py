"""The many-rooms workload's choices, pure: who writes what next, and what an ack taught us.

Each client is one user in one room (client `i` in room `i // room_size`). The next event
is drawn from the mix (sends, reactions, read markers); an operation that cannot apply yet
falls back to a send: a reaction needs a message to react to, a read marker needs the
room's seq to have moved past the user's own marker. Reactions toggle: a user who reacted
to a message with an emoji takes it back the next time the draw lands on that pair, so
the number of reactions stays bounded and both `react` and `unreact` are exercised.

The generator learns message ids and seqs from the acks (one process sees every room).
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

EMOJI = ("\U0001f44d", "\U0001f389", "\u2764\ufe0f", "\U0001f602")
KINDS = ("send", "react", "read")
RECENT = 20  # messages of a room a reaction may target


def parse_mix(text: str) -> dict[str, float]:
    """`send=0.6,react=0.25,read=0.15` -> weights (normalised to sum 1)."""
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in KINDS:
            raise ValueError(f"unknown operation {name!r} (one of {', '.join(KINDS)})")
        weights[name] = float(value)
        if weights[name] < 0:
            raise ValueError(f"negative weight for {name}")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("the mix needs a positive weight")
    return {name: weight / total for name, weight in weights.items()}


@dataclass(frozen=True)
class Op:
    """One client frame to send: its kind and what it needs."""

    kind: str  # "send", "react", "unreact" or "read"
    client: int
    room: str
    target: int = 0  # react/unreact: message id
    emoji: str = ""
    seq: int = 0  # read: the marker


@dataclass
class RoomState:
    """What the generator knows of one room from the acks."""

    last_seq: int = 0
    recent: deque[int] = field(default_factory=lambda: deque(maxlen=RECENT))


class Workload:
    """Draws the next operation and keeps what the acks tell."""

    def __init__(
        self, rooms: list[str], room_size: int, mix: Mapping[str, float], seed: int = 1
    ) -> None:
        self.rooms = rooms
        self.room_size = room_size
        self.clients = len(rooms) * room_size
        self.kinds = list(mix)
        self.weights = [mix[k] for k in self.kinds]
        self.rng = random.Random(seed)
        self.state = {room: RoomState() for room in rooms}
        self.read: dict[int, int] = {}  # client -> its read marker in its room
        self.reacted: set[tuple[int, int, str]] = set()  # (client, message, emoji)

    def room_of(self, client: int) -> str:
        """The one room client `client` writes to."""
        return self.rooms[client // self.room_size]

    def next(self, client: int | None = None) -> Op:
        """The next operation, by a random client unless one is given."""
        if client is None:
            client = self.rng.randrange(self.clients)
        room = self.room_of(client)
        kind = self.rng.choices(self.kinds, self.weights)[0]
        state = self.state[room]
        if kind == "react" and state.recent:
            target = self.rng.choice(state.recent)
            emoji = self.rng.choice(EMOJI)
            key = (client, target, emoji)
            on = key not in self.reacted
            return Op("react" if on else "unreact", client, room, target=target, emoji=emoji)
        if kind == "read" and state.last_seq > self.read.get(client, 0):
            return Op("read", client, room, seq=state.last_seq)
        return Op("send", client, room)

    def acked(self, op: Op, message_id: int | None, seq: int | None) -> None:
        """`op` was acked: a message id (sends) and the seq of its event (None: no event)."""
        state = self.state[op.room]
        if seq is not None and seq > state.last_seq:
            state.last_seq = seq
        if op.kind == "send" and message_id is not None:
            state.recent.append(message_id)
        elif op.kind == "react":
            self.reacted.add((op.client, op.target, op.emoji))
        elif op.kind == "unreact":
            self.reacted.discard((op.client, op.target, op.emoji))
        elif op.kind == "read":
            self.read[op.client] = max(self.read.get(op.client, 0), op.seq)


def parse_ack(payload: bytes) -> tuple[str, int | None, int | None]:
    """(client_id, message id or None, seq or None) of an ack frame."""
    frame = json.loads(payload)
    message_id = frame.get("id")
    seq = frame.get("seq")
    return (
        str(frame.get("client_id", "")),
        message_id if isinstance(message_id, int) else None,
        seq if isinstance(seq, int) else None,
    )


def client_id(stamp: float, number: int) -> str:
    """The client_id of operation `number`: its send time first (read back from the ack)."""
    return f"@@{stamp:.6f}@@{number}"


def number_of(cid: str) -> int | None:
    """The operation number in a `client_id` made by `client_id`, or None."""
    head, sep, tail = cid.rpartition("@@")
    if not sep or not head.startswith("@@") or not tail.isdigit():
        return None
    return int(tail)
