"""A client's view of a room, folded from events (what a browser would show).

`fold` applies one frame; `from_history` builds the same view from `GET .../messages`.
Two clients that saw the same log, live or replayed, end with equal views.
"""

from __future__ import annotations

from typing import Any

View = dict[int, dict[str, Any]]


def _message(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": body["text"],
        "deleted": body["deleted"],
        "edited_at": body["edited_at"],
        "reply_to": body["reply_to"],
        "previews": body["previews"],
        "reactions": {r["emoji"]: set(r["users"]) for r in body["reactions"]},
    }


def fold(view: View, frame: dict[str, Any]) -> None:
    """Apply one room event to `view` (other frames are ignored)."""
    kind = frame["type"]
    if kind == "message":
        view[frame["id"]] = _message(frame)
        return
    target = view.get(frame.get("target", -1))
    if target is None:
        return
    if kind == "message_edited":
        target["text"], target["edited_at"] = frame["text"], frame["edited_at"]
    elif kind == "message_deleted":
        target.update(text="", deleted=True, previews=[], reactions={})
    elif kind == "previews_set":
        target["previews"] = frame["previews"]
    elif kind == "reaction_added":
        target["reactions"].setdefault(frame["emoji"], set()).add(frame["user"])
    elif kind == "reaction_removed":
        users = target["reactions"].get(frame["emoji"], set())
        users.discard(frame["user"])
        if not users:
            target["reactions"].pop(frame["emoji"], None)


def from_history(messages: list[dict[str, Any]]) -> View:
    """The view the history endpoint gives (state folded in by the server)."""
    return {m["id"]: _message(m) for m in messages}
