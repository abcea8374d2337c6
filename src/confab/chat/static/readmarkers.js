// Read markers: the server keeps how far each user has read each room; the client tells it
// as the user reads (a `read` frame) and takes the markers of the user's other devices
// (in sync.js, as `read` events).

import { joined, live } from "./net.js";
import { room as roomOf, updateRoom } from "./stores/rooms.js";
import { existingTimeline, timelineOf } from "./stores/timelines.js";
import { activeRoom, atBottom, viewing } from "./views/timelineview.js";

const sentRead = new Map(); // room -> the read seq last sent
const READ_EVERY_MS = 1_000; // a busy room sends one read marker a second, not one a message
const readTimers = new Map(); // room -> a marker waiting for its turn
const lastReadAt = new Map(); // room -> when its last marker went out

/**
 * Tell the server the open room is read up to what is shown (once per new position, at
 * most once a second), if it keeps read markers (a room object with `read_seq`).
 */
export function markRead() {
  const room = activeRoom();
  if (!room || !viewing(room) || !atBottom()) return;
  const tl = timelineOf(room);
  const r = roomOf(room);
  if (!tl.loaded || !r) return;
  // Up to the newest message: a read marker is an event too, and must not call for another.
  const seq = tl.lastMessageSeq;
  const keepsMarkers = typeof r.read_seq === "number";
  if (keepsMarkers && seq > r.read_seq && (sentRead.get(room) ?? 0) < seq) sendRead(room);
  if ((r.unread ?? 0) || (r.mentions ?? 0) || (keepsMarkers && r.read_seq < seq)) {
    updateRoom(room, (x) => ({ ...x, unread: 0, mentions: 0, ...(keepsMarkers ? { read_seq: Math.max(x.read_seq, seq) } : {}) }));
  }
}

/** A new socket joined `room`: what the server says it has is the truth again. */
export function readSentReset(room) {
  sentRead.delete(room);
}

function sendRead(room) {
  const wait = (lastReadAt.get(room) ?? 0) + READ_EVERY_MS - Date.now();
  if (wait > 0) {
    if (!readTimers.has(room)) {
      readTimers.set(room, setTimeout(() => {
        readTimers.delete(room);
        sendRead(room);
      }, wait));
    }
    return;
  }
  const seq = existingTimeline(room)?.lastMessageSeq ?? 0;
  if (!seq || (sentRead.get(room) ?? 0) >= seq) return;
  if (joined.has(room) && live.send({ type: "read", room, seq })) {
    sentRead.set(room, seq);
    lastReadAt.set(room, Date.now());
  }
}
