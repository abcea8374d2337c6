"""Entering and leaving a room on a connection: `join`, `resume`, `leave`.

Membership is atomic with fan-out. The service reads access and the room's last seq in
one snapshot (seq S); the connection is then *held* in the hub, which answers its
position L. If L > S, events between S and L (a removal among them) were fanned out
before the connection was in, so access is read again. Removals after L reach the hub in
order and end the connection's delivery (after the removal itself). `resume` replays the
events in (after, L] from the store; a removal of the resuming user ends the replay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from confab.chat.protocol import Join, Resume, joined_frame, resumed_frame
from confab.core.chatstore import RoomAccess

if TYPE_CHECKING:
    from confab.chat.web.session import Session

REPLAY_PAGE = 100
PARTIAL_MEMBERS = 50  # members listed in `joined` for a large room


async def _hold(session: Session, room: str, access: RoomAccess) -> tuple[RoomAccess, int]:
    """Hold the connection in the room's hub; re-check access if the hub is past S."""
    rt, conn = session.rt, session.conn
    last = await rt.hub.hold(conn, room)
    if last > access.room.last_seq:
        try:
            access = await rt.services.rooms.readable(session.user, room)
        except BaseException:
            rt.hub.leave(conn, room)
            raise
    return access, last


def _entered(session: Session, room: str, members: int, access: RoomAccess) -> bool:
    """Record `room` as joined with `access` (read after the hub held the connection),
    unless the connection closed meanwhile (then undo)."""
    rt = session.rt
    if session.conn.closed:
        rt.hub.leave(session.conn, room)
        return False
    if session.access is None:
        session.access = {}
    session.access[room] = access
    if room not in session.rooms:
        session.rooms.append(room)
        if members <= rt.large_room:
            if session.present is None:
                session.present = []
            session.present.append(room)
            rt.presence.entered(session.user.username, room)
    return True


def left(session: Session, room: str) -> None:
    """Stop receiving `room` on this connection."""
    rt = session.rt
    rt.hub.leave(session.conn, room)
    if session.access is not None:
        session.access.pop(room, None)
        if not session.access:
            session.access = None
    if room in session.rooms:
        session.rooms.remove(room)
    if session.present is not None and room in session.present:
        session.present.remove(room)
        rt.presence.left(session.user.username, room)


async def _count(session: Session, access: RoomAccess) -> int:
    rt, room_id = session.rt, access.room.id
    return await rt.member_counts.get(
        access.room.name, lambda: rt.services.store.member_count(room_id)
    )


async def join(session: Session, frame: Join) -> None:
    """`joined` (with who is online), then live frames of the room."""
    rt, room, conn, me = session.rt, frame.room, session.conn, session.user.username
    access = await rt.services.rooms.readable(session.user, room)
    count = await _count(session, access)
    small = count <= rt.large_room
    names = await rt.services.members.member_names(access.room.id) if small else []
    online = await rt.presence.online(room, names) if small else set()
    access, last = await _hold(session, room, access)
    if small:
        members = [(n, n == me or n in online) for n in names]
    else:  # those connected here (this one included), never thousands
        members = [(n, True) for n in rt.hub.local_users(room, PARTIAL_MEMBERS)]
    conn.send(
        joined_frame(
            room,
            last,
            members,
            member_count=count,
            partial=not small,
            read_seq=access.read_seq,
            role=access.role,
            notify=access.notify,
        )
    )
    if rt.hub.release(conn, room):
        _entered(session, room, count, access)
    else:  # removed meanwhile: the removal was its last frame of the room
        left(session, room)


async def resume(session: Session, frame: Resume) -> None:
    """Replay seq > after from the store, `resumed`, then the live frames held meanwhile."""
    rt, room, conn, me = session.rt, frame.room, session.conn, session.user.username
    access = await rt.services.rooms.readable(session.user, room)
    count = await _count(session, access)
    access, last = await _hold(session, room, access)
    if not _entered(session, room, count, access):
        return
    try:
        after = frame.after
        while after < last and not conn.closed:
            page = await rt.services.rooms.replay(access, after, REPLAY_PAGE)
            for event in page:
                if event.seq > last:
                    break  # newer ones are in the held live frames
                after = event.seq
                if event.type == "read" and event.subject != me:
                    continue  # another user's marker is theirs alone
                conn.send(event.payload)
                if event.removes == me:
                    left(session, room)  # removed: nothing of the room after this
                    return
            if len(page) < REPLAY_PAGE or after >= last:
                break
            await conn.drained(rt.send_buffer // 2)
        if conn.closed:
            left(session, room)
            return
        conn.send(resumed_frame(room, last))
        if not rt.hub.release(conn, room):
            left(session, room)
    except BaseException:
        left(session, room)
        raise
