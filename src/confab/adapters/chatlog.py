"""Rules every `ChatStore` adapter applies the same way: redaction, DM sizes, mentions.

The memory store and the SQL store both call these, so a replayed log, a DM and a mention
count come out identical on every engine (the contract suite checks it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from confab.core import jsoncodec
from confab.core.chatstore import MAX_DM_USERS
from confab.core.errors import InvalidInput

# Event types whose payload carries a message's content: deleting the message redacts them.
CARRIES_CONTENT = ("message", "message_edited", "previews_set")


def redacted(payload: bytes) -> bytes:
    """The frame `payload` with the content of its message blanked (text, attachments,
    previews, reactions, mentions), every other field kept; other frames unchanged."""
    frame = jsoncodec.loads(payload)
    kind = frame.get("type")
    if kind == "message":
        frame.update(
            text="",
            deleted=True,
            attachments=[],
            previews=[],
            reactions=[],
            mentions=[],
            mentions_room=False,
        )
    elif kind == "message_edited":
        frame["text"] = ""
    elif kind == "previews_set":
        frame["previews"] = []
    else:
        return payload
    return jsoncodec.dumps(frame)


def dm_participants(user_ids: Sequence[int], creator_id: int) -> list[int]:
    """The distinct participants of a DM, creator first then by id; `InvalidInput`
    ("dm_size") unless there are 2 to `MAX_DM_USERS` of them, creator included."""
    others = sorted(set(user_ids) - {creator_id})
    people = [creator_id, *others]
    if not 2 <= len(people) <= MAX_DM_USERS:
        raise InvalidInput(
            f"a direct conversation has 2 to {MAX_DM_USERS} people, not {len(people)}",
            code="dm_size",
        )
    return people


def mentioned_ids(
    named: Iterable[str],
    mentions_room: bool,
    member_ids_by_name: dict[str, int],
    author_id: int,
) -> tuple[tuple[str, ...], set[int]]:
    """(the usernames recorded on the message, the user ids that get a mention row).

    Only members count, never the author: `@room` reaches every other member; a name
    mentioned explicitly is kept on the message (sorted) for display.
    """
    names = tuple(
        sorted({n for n in named if n in member_ids_by_name and member_ids_by_name[n] != author_id})
    )
    targets = {member_ids_by_name[n] for n in names}
    if mentions_room:
        targets |= {uid for uid in member_ids_by_name.values() if uid != author_id}
    return names, targets
