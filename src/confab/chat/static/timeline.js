// One room's messages, keyed by seq: the single place that decides what is new.
//
// Seqs in a room are gap-free (seq = previous + 1), so a seq identifies a message: a frame
// seen twice (live and again in a resume replay) is dropped by seq, and `hi` (the highest
// seq up to which we hold every message) tells what to ask for after a disconnect.

export class Timeline {
  constructor(room) {
    this.room = room;
    /** @type {Map<number, object>} */
    this.bySeq = new Map();
    this.lo = null; // lowest seq loaded (older pages come from `before=lo`)
    this.hi = null; // every message up to this seq is held
    this.hasOlder = true;
    // "idle": nothing loaded, live frames only count as unread;
    // "loading": the latest page is on its way, live frames are buffered;
    // "live": loaded, live frames are merged.
    this.state = "idle";
    this.loadingOlder = false;
  }

  get loaded() {
    return this.state === "live";
  }

  /** Messages in seq order. */
  ordered() {
    return [...this.bySeq.values()].sort((a, b) => a.seq - b.seq);
  }

  /**
   * Take a message (from a live frame, a replay, a page or an HTTP answer).
   * Returns "new", "updated", "same" or "ignored".
   */
  put(message) {
    if (this.state === "idle") return "ignored";
    if (this.lo !== null && message.seq < this.lo) return "ignored"; // not loaded that far back
    const known = this.bySeq.get(message.seq);
    if (known) {
      const merged = merge(known, message);
      if (same(merged, known)) return "same";
      this.bySeq.set(message.seq, merged);
      return "updated";
    }
    this.bySeq.set(message.seq, message);
    this.advance();
    return "new";
  }

  /** Apply a `message_deleted` frame; returns the message if we hold it. */
  markDeleted(seq) {
    const known = this.bySeq.get(seq);
    if (!known) return null;
    const gone = { ...known, deleted: true, text: "", attachments: [], previews: [] };
    this.bySeq.set(seq, gone);
    return gone;
  }

  /** The latest page arrived: it sets the window, buffered live frames join it. */
  setLatest(messages, hasMore) {
    for (const m of messages) {
      const known = this.bySeq.get(m.seq);
      this.bySeq.set(m.seq, known ? merge(known, m) : m);
    }
    this.state = "live";
    this.hasOlder = hasMore;
    const seqs = [...this.bySeq.keys()].sort((a, b) => a - b);
    if (messages.length) {
      this.lo = messages[0].seq;
      // The page is complete up to its last seq even if deleted messages were left out.
      this.hi = messages[messages.length - 1].seq;
    } else {
      this.lo = seqs.length ? seqs[0] : null;
      this.hi = seqs.length ? seqs[0] - 1 : 0;
    }
    for (const s of seqs) if (s < this.lo) this.bySeq.delete(s);
    this.advance();
  }

  /** An older page arrived (from `before=lo`). Returns the messages that were new. */
  addOlder(messages, hasMore) {
    this.hasOlder = hasMore;
    const fresh = [];
    for (const m of messages) {
      if (!this.bySeq.has(m.seq)) {
        this.bySeq.set(m.seq, m);
        fresh.push(m);
      }
    }
    if (messages.length) this.lo = Math.min(this.lo ?? Infinity, messages[0].seq);
    return fresh;
  }

  /**
   * Everything up to `seq` is known complete (a `resumed` frame, or a catch-up page with
   * nothing more after it): the gap, if any, is closed.
   */
  completeTo(seq) {
    if (this.hi === null || seq > this.hi) this.hi = seq;
    this.advance();
  }

  /** Seqs above `hi` are held but something below them is missing. */
  get hasGap() {
    if (this.hi === null) return false;
    for (const s of this.bySeq.keys()) if (s > this.hi) return true;
    return false;
  }

  advance() {
    if (this.hi === null) return;
    while (this.bySeq.has(this.hi + 1)) this.hi += 1;
  }

  /** The message after `seq` that we hold, or undefined. */
  nextAfter(seq) {
    let best;
    for (const s of this.bySeq.keys()) if (s > seq && (best === undefined || s < best)) best = s;
    return best === undefined ? undefined : this.bySeq.get(best);
  }

  /** The message before `seq` that we hold, or undefined. */
  prevBefore(seq) {
    let best;
    for (const s of this.bySeq.keys()) if (s < seq && (best === undefined || s > best)) best = s;
    return best === undefined ? undefined : this.bySeq.get(best);
  }

  /** Forget everything (the room was left). */
  reset() {
    this.bySeq.clear();
    this.lo = this.hi = null;
    this.hasOlder = true;
    this.state = "idle";
  }
}

// Two copies of one message (same seq) may arrive in any order: a live frame, a replay, an
// HTTP answer, a `message_updated`. Keep the most complete: a deletion or a later edit wins,
// and a copy without previews or thumbnail URLs never erases those we already show.
function merge(known, incoming) {
  if (known.deleted && !incoming.deleted) return known;
  if (incoming.deleted) return { ...known, ...incoming };
  const a = incoming.edited_at || "";
  const b = known.edited_at || "";
  if (a < b) return known;
  const merged = { ...known, ...incoming };
  if (a === b && incoming.text === known.text) {
    if (!(incoming.previews ?? []).length) merged.previews = known.previews ?? [];
    if (richness(incoming.attachments) < richness(known.attachments)) {
      merged.attachments = known.attachments;
    }
  }
  return merged;
}

function richness(attachments) {
  return (attachments ?? []).reduce((n, a) => n + (typeof a === "object" && a ? 2 : 1), 0);
}

function same(x, y) {
  return JSON.stringify(x) === JSON.stringify(y);
}
