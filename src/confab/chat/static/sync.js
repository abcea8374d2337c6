// Frames from the socket into the stores and onto the screen. Every event with a seq goes
// through the room's Timeline (ordering, duplicates, gaps) before anything else.

import { h } from "./dom.js";
import { foldRoomCounts } from "./model/unread.js";
import { displayName } from "./model/rooms.js";
import { joined, joinLive, live, resumeLive, resuming } from "./net.js";
import { notifyMessage } from "./notifications.js";
import { membersOf, removeMember, setMember, setMembers } from "./stores/people.js";
import { queued } from "./stores/outbox.js";
import { isMine, myRooms, putRoom, room as roomOf, updateRoom } from "./stores/rooms.js";
import { session } from "./stores/session.js";
import { existingTimeline } from "./stores/timelines.js";
import { $, announce, toast } from "./ui.js";
import { flushOutbox, holdSends, resolvePending, sendFailed } from "./sending.js";
import { bansChanged, renderMembers } from "./views/members.js";
import { forgetRoom, goTo, refreshRooms, renderHeader } from "./views/roomview.js";
import { threadChanged } from "./views/thread.js";
import { markRead, readSentReset } from "./readmarkers.js";
import { activeRoom, redraw } from "./views/timelineview.js";
import { onTyping, stopTyping } from "./views/typing.js";

const REMOVAL_WORDS = { kicked: "You were removed from", banned: "You were banned from", deleted: "This conversation was deleted:" };

function held(tl, readSeq) {
  if (!tl?.loaded) return null;
  return { complete: !tl.hasOlder || (tl.lo ?? Infinity) <= readSeq + 1, messages: tl.ordered() };
}

/** Messages changed: re-draw them in the timeline and the thread. */
function changed(room, ids, isLive = false) {
  if (!ids.length) return;
  redraw(room, ids, { live: isLive });
  threadChanged(room, ids);
}

/** A whole message from outside the log (an HTTP answer, an old server's update). */
export function acceptMessage(room, message) {
  resolvePending(message);
  const tl = existingTimeline(room);
  if (tl) changed(room, tl.upsert(message));
}

/** One event with a seq, live or replayed. */
function onEvent(f) {
  const r = roomOf(f.room);
  if (!r) return;
  const isNew = f.seq > (r.last_seq ?? 0);
  const tl = existingTimeline(f.room);
  const result = tl ? tl.apply(f) : { status: "ignored", changed: [] };
  if (result.status === "duplicate" || (result.status === "ignored" && !isNew)) return;
  if (isNew) updateRoom(f.room, (x) => foldRoomCounts(x, f, session.user, held(tl, x.read_seq ?? 0)));
  if (f.type === "message") {
    resolvePending(f);
    stopTyping(f.room, f.author);
    if (isNew && f.author !== session.user) {
      if (f.room === activeRoom()) announce(`${f.author}: ${f.text || "sent an image"}`);
      notifyMessage(roomOf(f.room), f, goTo);
    }
  } else roomEvent(f);
  changed(f.room, result.changed, isNew);
  if (f.room === activeRoom()) markRead();
}

/** Events about the room and its people (also an old server's seq-less member frames). */
function roomEvent(f) {
  const room = f.room;
  const me = f.user === session.user;
  switch (f.type) {
    case "topic_changed":
      updateRoom(room, (r) => ({ ...r, topic: f.topic }));
      break;
    case "title_changed":
      updateRoom(room, (r) => ({ ...r, title: f.title }));
      break;
    case "member_joined":
      if (me) refreshRooms().catch(() => {});
      else {
        setMember(room, f.user, { role: f.role ?? "member", online: membersOf(room).get(f.user)?.online ?? true });
        updateRoom(room, (r) => ({ ...r, members: Math.max(r.members ?? 0, membersOf(room).size) }));
      }
      break;
    case "member_left":
    case "member_banned":
      if (f.type === "member_banned") bansChanged(room, f.user, true);
      if (me) {
        if (!isMine(room)) return; // told already (room_removed on the user channel)
        if (f.reason !== "left") toast(`${f.type === "member_banned" ? REMOVAL_WORDS.banned : REMOVAL_WORDS.kicked} ${name(room)}.`);
        forgetRoom(room);
        return;
      }
      removeMember(room, f.user);
      stopTyping(room, f.user);
      break;
    case "member_unbanned":
      bansChanged(room, f.user, false);
      break;
    case "role_changed":
      setMember(room, f.user, { role: f.role });
      if (me || f.role === "owner") {
        updateRoom(room, (r) => ({ ...r, ...(me ? { role: f.role } : {}), ...(f.role === "owner" ? { owner: f.user } : {}) }));
      }
      break;
    default:
      return;
  }
  if (room === activeRoom()) {
    renderHeader();
    renderMembers();
  }
}

function name(room) {
  const r = roomOf(room);
  return r ? displayName(r, session.user) : `#${room}`;
}

function onJoined(f) {
  const room = f.room;
  joined.add(room);
  readSentReset(room);
  updateRoom(room, (r) => ({
    ...r,
    last_seq: Math.max(r.last_seq ?? 0, f.last_seq ?? 0),
    ...(f.role !== undefined ? { role: f.role } : {}),
    ...(f.notify !== undefined ? { notify: f.notify } : {}),
    // The server's marker: one we set here but could not send is sent again (markRead).
    ...(typeof f.read_seq === "number" ? { read_seq: f.read_seq } : {}),
  }));
  if (Array.isArray(f.members)) {
    setMembers(room, f.members.map((m) => ({ user: m.user, online: !!m.online, role: m.role })));
    if (room === activeRoom()) renderMembers();
  }
  const tl = existingTimeline(room);
  // Replay everything after the last event folded in; the timeline drops duplicates.
  if (tl?.loaded) resumeLive(room, tl.hi ?? 0);
  else flushOutbox(room);
  if (room === activeRoom()) markRead();
}

function onResumed(f) {
  const room = f.room;
  resuming.delete(room);
  const tl = existingTimeline(room);
  if (tl?.loaded && typeof f.last_seq === "number") {
    updateRoom(room, (r) => ({ ...r, last_seq: Math.max(r.last_seq ?? 0, f.last_seq) }));
    tl.completeTo(f.last_seq);
  }
  flushOutbox(room);
  if (room === activeRoom()) markRead();
}

function onAck(f) {
  const entry = f.client_id ? queued(f.client_id) : null;
  if (!entry || typeof f.seq !== "number") return;
  entry.status = "acked";
  const tl = existingTimeline(entry.room);
  const stored = tl?.atSeq(f.seq);
  if (stored) {
    resolvePending({ ...stored, client_id: f.client_id, author: session.user });
    return;
  }
  // The message frame follows the ack; if it got lost on the way, ask for it again.
  setTimeout(() => {
    if (queued(f.client_id) && tl?.loaded) resumeLive(entry.room, tl.hi ?? 0);
  }, 3_000);
}

function onServerError(f) {
  if (sendFailed(f)) return;
  if (f.code === "rate_limited") toast("You are sending too fast. Slow down a little.");
  else if (f.code === "not_a_member" && f.room && roomOf(f.room)) {
    toast(`You are no longer a member of ${name(f.room)}.`);
    forgetRoom(f.room);
  } else if (f.message || f.code) toast(f.message || f.code);
}

function onReady() {
  joined.clear();
  resuming.clear();
  for (const r of myRooms()) joinLive(r.name);
  // Rooms may have changed while we were away (invites, kicks).
  refreshRooms().catch(() => {});
}

/** Every frame from the socket. */
export function onFrame(f) {
  switch (f.type) {
    case "ready":
      return onReady();
    case "joined":
      return onJoined(f);
    case "resumed":
      return onResumed(f);
    case "ack":
      return onAck(f);
    case "error":
      return onServerError(f);
    case "typing":
      return onTyping(f);
    case "presence":
      if (f.room && f.user) setMember(f.room, f.user, { online: !!f.online });
      if (f.room === activeRoom()) renderMembers();
      return;
    case "room_added":
      if (f.room?.name) {
        putRoom({ ...f.room, member: true });
        joinLive(f.room.name);
      }
      return;
    case "room_removed":
    case "room_deleted": {
      const room = typeof f.room === "string" ? f.room : f.room?.name;
      if (!room || !isMine(room)) return; // told already (the room's own removal event)
      const word = REMOVAL_WORDS[f.type === "room_deleted" ? "deleted" : f.reason] ?? "You left";
      toast(`${word} ${name(room)}.`);
      return forgetRoom(room);
    }
    case "message_updated": // an older server: the whole message, no seq of its own
      return acceptMessage(f.room, f);
    case "message_deleted":
      if (f.target === undefined) {
        const tl = existingTimeline(f.room);
        return tl && changed(f.room, tl.redact(f.id));
      }
      return onEvent(f);
    default:
      if (typeof f.seq === "number" && f.room) return onEvent(f);
      if (f.room) return roomEvent(f); // an older server's member frames
  }
}

/** The socket's state, in the sidebar and a banner. */
export function onConnState(s, info = {}) {
  const conn = $("conn");
  const banner = $("net-banner");
  conn.dataset.state = s;
  if (s === "open") {
    conn.textContent = "Online";
    banner.hidden = true;
  } else if (s === "connecting") {
    conn.textContent = "Connecting…";
  } else if (s === "waiting") {
    joined.clear();
    resuming.clear();
    const secs = Math.max(1, Math.round(info.retryIn / 1000));
    const offline = !navigator.onLine;
    conn.textContent = offline ? "Offline" : "Reconnecting…";
    banner.hidden = false;
    banner.replaceChildren(
      offline ? "You are offline. " : `Connection lost. Retrying in ${secs}s. `,
      h("button", { type: "button", class: "link", onclick: () => live.reconnectNow() }, "Retry now"),
    );
    holdSends();
    return info.opened;
  }
  return true;
}
