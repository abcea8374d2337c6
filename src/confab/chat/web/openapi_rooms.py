"""OpenAPI paths of a room's settings and people (see `api_rooms.py`)."""

from __future__ import annotations

from typing import Any

from confab.chat.web import schemas
from confab.chat.web.openapi_ops import ROOM, USER, operation


def room_paths() -> dict[str, Any]:
    """Paths under /api/rooms/{room} (messages aside) and /api/dms."""
    room = "/api/rooms/{room}"
    return {
        room: {
            "get": operation(
                "getRoom",
                "One room (a private one or DM only for its members: 404 otherwise)",
                {200: ("The room", schemas.Room)},
                (404,),
                params=(ROOM,),
            ),
            "patch": operation(
                "updateRoom",
                "Set the topic and/or title (moderators and the owner)",
                {200: ("The room", schemas.Room)},
                (403, 404, 413, 422),
                body=schemas.RoomPatch,
                params=(ROOM,),
            ),
            "delete": operation(
                "deleteRoom",
                "Delete the room and its history (the owner)",
                {204: ("Deleted", None)},
                (403, 404),
                params=(ROOM,),
            ),
        },
        f"{room}/members": {
            "get": operation(
                "listMembers",
                "Members of a room and their roles",
                {200: ("Members", schemas.Members)},
                (404,),
                params=(ROOM,),
            ),
            "post": operation(
                "addMember",
                "Join a public room (empty body), or, as a moderator, invite `username`",
                {200: ("The room", schemas.Room)},
                (403, 404, 409, 413, 422),
                body=schemas.MemberChange,
                params=(ROOM,),
            ),
        },
        f"{room}/members/{{username}}": {
            "delete": operation(
                "removeMember",
                "Leave (your own name) or kick (moderators kick members, the owner anyone)",
                {204: ("Removed", None)},
                (403, 404),
                params=(ROOM, USER),
            )
        },
        f"{room}/members/{{username}}/role": {
            "put": operation(
                "setRole",
                "Give a member a role; `owner` hands ownership over (the owner only)",
                {204: ("Changed", None)},
                (403, 404, 409, 413, 422),
                body=schemas.RoleChange,
                params=(ROOM, USER),
            )
        },
        f"{room}/bans": {
            "get": operation(
                "listBans",
                "Who is banned (moderators and the owner)",
                {200: ("Banned usernames", schemas.Bans)},
                (403, 404),
                params=(ROOM,),
            ),
            "post": operation(
                "ban",
                "Ban a user: removed now, joins refused (moderators and the owner)",
                {204: ("Banned", None)},
                (403, 404, 413, 422),
                body=schemas.Ban,
                params=(ROOM,),
            ),
        },
        f"{room}/bans/{{username}}": {
            "delete": operation(
                "unban",
                "Lift a ban (moderators and the owner)",
                {204: ("Unbanned", None)},
                (403, 404),
                params=(ROOM, USER),
            )
        },
        f"{room}/read": {
            "post": operation(
                "markRead",
                "Move your read marker forward (synced to your other devices)",
                {200: ("Your marker", schemas.ReadOut)},
                (403, 404, 413, 422),
                body=schemas.ReadMarker,
                params=(ROOM,),
            )
        },
        f"{room}/notify": {
            "put": operation(
                "setNotify",
                "Your notification level in the room",
                {200: ("The room", schemas.Room)},
                (403, 404, 413, 422),
                body=schemas.NotifyChange,
                params=(ROOM,),
            )
        },
        "/api/dms": {
            "post": operation(
                "openDm",
                "Open the direct conversation with these people (the same set: the same DM)",
                {201: ("Opened", schemas.Room), 200: ("Already open", schemas.Room)},
                (404, 413, 422),
                body=schemas.NewDm,
            )
        },
    }
