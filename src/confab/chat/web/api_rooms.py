"""HTTP routes of a room's settings and people: update, delete, members, roles, bans,
DMs, read markers and notification levels."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from confab.chat.domain import room_json
from confab.chat.services import ChatServices
from confab.chat.web import schemas
from confab.chat.web.httpkit import UserOf, endpoint, json_response, read_body


def room_routes(services: ChatServices, user_of: UserOf, writer_of: UserOf) -> list[BaseRoute]:
    """The routes under /api/rooms/{room} but messages, and POST /api/dms."""
    rooms, members, dms = services.rooms, services.members, services.dms

    @endpoint
    async def update_room(request: Request) -> Response:
        user = await writer_of(request)
        body = await read_body(request, schemas.RoomPatch)
        view = await rooms.update(user, request.path_params["room"], body.topic, body.title)
        return json_response(room_json(view))

    @endpoint
    async def delete_room(request: Request) -> Response:
        user = await writer_of(request)
        await rooms.delete(user, request.path_params["room"])
        return Response(status_code=204)

    @endpoint
    async def list_members(request: Request) -> Response:
        user = await user_of(request)
        found = await members.members(user, request.path_params["room"])
        return json_response({"members": [{"user": m.username, "role": m.role} for m in found]})

    @endpoint
    async def add_member(request: Request) -> Response:
        user = await writer_of(request)
        body = await read_body(request, schemas.MemberChange)
        room = request.path_params["room"]
        if body.username is None or body.username.lower() == user.username:
            view = await members.join(user, room)
        else:
            view = await members.invite(user, room, body.username)
        return json_response(room_json(view))

    @endpoint
    async def remove_member(request: Request) -> Response:
        user = await writer_of(request)
        params = request.path_params
        await members.remove(user, params["room"], params["username"])
        return Response(status_code=204)

    @endpoint
    async def set_role(request: Request) -> Response:
        user = await writer_of(request)
        body = await read_body(request, schemas.RoleChange)
        params = request.path_params
        await members.set_role(user, params["room"], params["username"], body.role)
        return Response(status_code=204)

    @endpoint
    async def list_bans(request: Request) -> Response:
        user = await user_of(request)
        return json_response({"bans": await members.bans(user, request.path_params["room"])})

    @endpoint
    async def ban(request: Request) -> Response:
        user = await writer_of(request)
        body = await read_body(request, schemas.Ban)
        await members.ban(user, request.path_params["room"], body.username)
        return Response(status_code=204)

    @endpoint
    async def unban(request: Request) -> Response:
        user = await writer_of(request)
        params = request.path_params
        await members.unban(user, params["room"], params["username"])
        return Response(status_code=204)

    @endpoint
    async def mark_read(request: Request) -> Response:
        user = await writer_of(request)
        body = await read_body(request, schemas.ReadMarker)
        marker, _ = await rooms.mark_read(user, request.path_params["room"], body.seq)
        return json_response({"read_seq": marker})

    @endpoint
    async def set_notify(request: Request) -> Response:
        user = await writer_of(request)
        body = await read_body(request, schemas.NotifyChange)
        view = await rooms.set_notify(user, request.path_params["room"], body.level)
        return json_response(room_json(view))

    @endpoint
    async def open_dm(request: Request) -> Response:
        user = await writer_of(request)
        body = await read_body(request, schemas.NewDm)
        view, created = await dms.open(user, body.users)
        return json_response(room_json(view), 201 if created else 200)

    room = "/api/rooms/{room}"
    return [
        Route(room, update_room, methods=["PATCH"]),
        Route(room, delete_room, methods=["DELETE"]),
        Route(f"{room}/members", list_members, methods=["GET"]),
        Route(f"{room}/members", add_member, methods=["POST"]),
        Route(f"{room}/members/{{username}}", remove_member, methods=["DELETE"]),
        Route(f"{room}/members/{{username}}/role", set_role, methods=["PUT"]),
        Route(f"{room}/bans", list_bans, methods=["GET"]),
        Route(f"{room}/bans", ban, methods=["POST"]),
        Route(f"{room}/bans/{{username}}", unban, methods=["DELETE"]),
        Route(f"{room}/read", mark_read, methods=["POST"]),
        Route(f"{room}/notify", set_notify, methods=["PUT"]),
        Route("/api/dms", open_dm, methods=["POST"]),
    ]
