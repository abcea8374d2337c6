// One room's messages and its place in the room's event log: the single place that
// decides what is new.
//
// Every change to a room is an event with the room's next seq. The server delivers a
// socket's events in seq order, with nothing missing but what is not for this user
// (other people's read markers), and repairs its own gaps; so `hi`, the highest seq folded
// in, is what to ask for after a disconnect (`resume` after `hi`), and an event at or
// below `hi` is a repeat (live and again in a replay) and is dropped. While the latest
// page is loading, events wait and are folded in after it.

import { foldEvent } from "./fold.js";

export class Timeline {
  constructor(room) {
    this.room = room;
    /** @type {Map<number, object>} message id -> message, with events folded in */
    this.messages = new Map();
    /** @type {Map<number, object>} seq -> event that came while the page was loading */
    this.pending = new Map();
    this.lo = null; // lowest message seq loaded (older pages come from `before=lo`)
    this.hi = null; // every event up to this seq is folded in
    this.hasOlder = true;
    // "idle": nothing loaded, events only count as unread; "loading": the latest page is
    // on its way, events wait; "live": loaded, events are folded in as they come.
    this.state = "idle";
    this.loadingOlder = false;
  }

  get loaded() {
    return this.state === "live";
  }

  /** Messages in seq order. */
  ordered() {
    return [...this.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  /** The message with this seq, if held. */
  atSeq(seq) {
    for (const m of this.messages.values()) if (m.seq === seq) return m;
    return undefined;
  }

  /** The seq of the newest message held (what "read up to here" means), or 0. */
  get lastMessageSeq() {
    let top = 0;
    for (const m of this.messages.values()) if (m.seq > top) top = m.seq;
    return top;
  }

  /**
   * Take an event with a seq (a live frame or a replay). Returns `{status, changed}`:
   * status "applied", "duplicate", "buffered" (the page is loading) or "ignored"
   * (nothing is loaded); `changed` the ids of messages that changed.
   */
  apply(event) {
    if (this.state === "idle") return { status: "ignored", changed: [] };
    if (this.state === "loading") {
      if (this.pending.has(event.seq)) return { status: "duplicate", changed: [] };
      this.pending.set(event.seq, event);
      return { status: "buffered", changed: [] };
    }
    if (this.hi !== null && event.seq <= this.hi) return { status: "duplicate", changed: [] };
    return { status: "applied", changed: this.fold(event) };
  }

  fold(event) {
    this.hi = event.seq;
    return foldEvent(this.messages, event);
  }

  /** Fold the events that waited for the page, in seq order. */
  drain() {
    const changed = [];
    for (const seq of [...this.pending.keys()].sort((a, b) => a - b)) {
      const event = this.pending.get(seq);
      this.pending.delete(seq);
      if (seq > this.hi) changed.push(...this.fold(event));
    }
    return changed;
  }

  /**
   * A whole message from outside the log (an HTTP answer, an old server's
   * `message_updated`): added as its `message` event would be, or merged into the copy
   * held. Returns the ids that changed.
   */
  upsert(message) {
    if (this.state === "idle") return [];
    const known = this.messages.get(message.id);
    if (!known) {
      if (this.lo !== null && message.seq < this.lo) return [];
      return foldEvent(this.messages, { ...message, type: "message" });
    }
    const merged = merge(known, message);
    if (same(merged, known)) return [];
    this.messages.set(message.id, merged);
    return [message.id];
  }

  /** Blank a message (an old server's deletion frame, or our own delete answered). */
  redact(id) {
    return foldEvent(this.messages, { type: "message_deleted", target: id });
  }

  /**
   * The latest page arrived. `snapshotSeq` is the room's last seq as known before the
   * page was asked for: every event up to it is folded into the page. Waiting events
   * above it are folded in (again, harmlessly, if the page had them already).
   */
  setLatest(messages, hasMore, snapshotSeq = 0) {
    const fresh = new Map();
    for (const m of messages) fresh.set(m.id, m);
    this.messages = fresh;
    this.state = "live";
    this.hasOlder = hasMore;
    this.lo = messages.length ? messages[0].seq : null;
    const top = messages.length ? messages[messages.length - 1].seq : 0;
    this.hi = Math.max(snapshotSeq, top);
    return this.drain();
  }

  /** An older page arrived (from `before=lo`). Returns the messages that were new. */
  addOlder(messages, hasMore) {
    this.hasOlder = hasMore;
    const fresh = [];
    for (const m of messages) {
      if (!this.messages.has(m.id)) {
        this.messages.set(m.id, m);
        fresh.push(m);
      }
    }
    if (messages.length) this.lo = Math.min(this.lo ?? Infinity, messages[0].seq);
    return fresh;
  }

  /** Every event up to `seq` has been sent (a `resumed` frame): `hi` is at least there. */
  completeTo(seq) {
    if (this.loaded && (this.hi === null || seq > this.hi)) this.hi = seq;
  }

  /** Forget everything (the room was left). */
  reset() {
    this.messages.clear();
    this.pending.clear();
    this.lo = this.hi = null;
    this.hasOlder = true;
    this.state = "idle";
  }
}

// Two copies of one message may arrive in any order (a live frame, an HTTP answer). Keep
// the most complete: a deletion or a later edit wins, and a copy without previews or
// thumbnail URLs never erases those we already show.
export function merge(known, incoming) {
  if (known.deleted && !incoming.deleted) return known;
  if (incoming.deleted) return { ...known, ...incoming };
  const a = incoming.edited_at || "";
  const b = known.edited_at || "";
  if (a < b) return known;
  const merged = { ...known, ...incoming };
  if (a === b && incoming.text === known.text) {
    if (!(incoming.previews ?? []).length) merged.previews = known.previews ?? [];
    if (richness(incoming.attachments) < richness(known.attachments)) merged.attachments = known.attachments;
  }
  // Counters only grow from the log; an older copy must not take them back.
  if ((known.reply_count ?? 0) > (incoming.reply_count ?? 0)) {
    merged.reply_count = known.reply_count;
    merged.last_reply_at = known.last_reply_at;
  }
  return merged;
}

function richness(attachments) {
  return (attachments ?? []).reduce((n, a) => n + (typeof a === "object" && a ? 2 : 1), 0);
}

function same(x, y) {
  return JSON.stringify(x) === JSON.stringify(y);
}
