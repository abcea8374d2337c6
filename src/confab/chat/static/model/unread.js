// Unread and mention counts, and where the "new messages" divider goes.
//
// The server keeps each member's read position (`read_seq`) and counts, per room, the
// messages by others above it (`unread`) and the mentions of the member (`mentions`). The
// client starts from those numbers and keeps them current from events; when it holds every
// message after the read position it recounts them itself.

import { mentionsMe } from "./mentions.js";

/** Does this message count as unread for `me` above `readSeq`? */
export function countsAsUnread(message, readSeq, me) {
  return message.author !== me && !message.deleted && message.seq > readSeq;
}

/** `{unread, mentions}` among `messages` above `readSeq`. */
export function countUnread(messages, readSeq, me) {
  let unread = 0;
  let mentions = 0;
  for (const m of messages) {
    if (!countsAsUnread(m, readSeq, me)) continue;
    unread += 1;
    if (mentionsMe(m, me)) mentions += 1;
  }
  return { unread, mentions };
}

/**
 * The room summary after an event: a new message by someone else counts, a read marker
 * of `me` moves the read position (recounted from `held` when the timeline holds every
 * message above it, else zeroed if it reaches the room's end). Returns a new object.
 */
export function foldRoomCounts(room, event, me, held = null) {
  const next = { ...room, last_seq: Math.max(room.last_seq ?? 0, event.seq ?? 0) };
  if (event.type === "message") {
    if (countsAsUnread(event, next.read_seq ?? 0, me)) {
      next.unread = (next.unread ?? 0) + 1;
      if (mentionsMe(event, me)) next.mentions = (next.mentions ?? 0) + 1;
    }
    if (event.author === me && event.seq > (next.read_seq ?? 0)) {
      // Writing in a room means having read it.
      return { ...readUpTo(next, event.seq, me, held) };
    }
  } else if (event.type === "read" && event.user === me) {
    // Judged against the room before this event: the marker's own seq is nothing to read.
    return { ...readUpTo(room, event.read_seq, me, held), last_seq: next.last_seq };
  }
  return next;
}

/** The summary once `me` has read up to `seq` (never moves backwards). */
export function readUpTo(room, seq, me, held = null) {
  if (seq <= (room.read_seq ?? 0)) return room;
  const next = { ...room, read_seq: seq };
  if (held && held.complete) {
    Object.assign(next, countUnread(held.messages, seq, me));
  } else if (seq >= (room.last_seq ?? 0)) {
    next.unread = 0;
    next.mentions = 0;
  }
  return next;
}

/** The seq of the first unread message by someone else (the divider goes above it). */
export function dividerSeq(messages, readSeq, me) {
  for (const m of messages) if (countsAsUnread(m, readSeq, me)) return m.seq;
  return null;
}

/** "3", "99+": a count for a badge, or "" for none. */
export function badgeText(count) {
  if (!count || count < 0) return "";
  return count > 99 ? "99+" : String(count);
}
