// The Timeline: events in seq order, once each, with holes waited for and filled.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Timeline } from "../../src/confab/chat/static/model/timeline.js";
import { message } from "./fixtures.mjs";

const posted = (id, extra = {}) => ({ type: "message", ...message(id, extra) });
const edited = (seq, target, text, at = "2024-01-01T00:01:00Z") => ({
  type: "message_edited", room: "r", seq, target, text, edited_at: at, actor: "ann",
});

function loaded(messages = [message(1), message(2)], snapshot = 2) {
  const t = new Timeline("r");
  t.state = "loading";
  t.setLatest(messages, false, snapshot);
  return t;
}

test("nothing loaded: events are ignored (they only count as unread)", () => {
  const t = new Timeline("r");
  assert.equal(t.apply(posted(1)).status, "ignored");
  assert.equal(t.messages.size, 0);
});

test("events in order are folded; a repeat is a duplicate", () => {
  const t = loaded();
  assert.deepEqual(t.apply(edited(3, 1, "new")), { status: "applied", changed: [1] });
  assert.equal(t.apply(edited(3, 1, "new")).status, "duplicate");
  assert.equal(t.apply(posted(2)).status, "duplicate");
  assert.equal(t.hi, 3);
  assert.equal(t.messages.get(1).text, "new");
});

test("events past a hole are folded (the hole is someone else's read marker)", () => {
  const t = loaded();
  assert.equal(t.apply(posted(4)).status, "applied");
  assert.equal(t.hi, 4);
  assert.equal(t.apply(edited(3, 1, "late")).status, "duplicate", "below hi: a repeat");
  t.completeTo(6);
  assert.equal(t.hi, 6);
  assert.equal(t.lastMessageSeq, 4);
});

test("events during the page load wait; those the page covers are dropped", () => {
  const t = new Timeline("r");
  t.state = "loading";
  t.apply(edited(3, 1, "covered by the page"));
  t.apply(edited(5, 1, "after the page"));
  assert.equal(t.messages.size, 0);
  // The room was at seq 3 when the page was asked for; seq 4 has not come yet.
  t.setLatest([message(1, { text: "covered by the page", edited_at: "2024-01-01T00:01:00Z" }), message(2)], true, 3);
  assert.equal(t.hi, 5, "the event after the page was folded in");
  assert.equal(t.messages.get(1).text, "after the page");
  assert.equal(t.apply(edited(4, 1, "a repeat")).status, "duplicate");
});

test("a page folds state the replay repeats: the repeat changes nothing", () => {
  // The page already holds bob's reaction and the reply; the same events replay.
  const root = message(1, { reply_count: 1, reactions: [{ emoji: "👍", count: 1, users: ["bob"] }] });
  const reply = message(3, { reply_to: 1, thread_root: 1 });
  const t = loaded([root, message(2), reply], 2);
  t.apply({ type: "message", ...reply });
  t.apply({ type: "reaction_added", room: "r", seq: 4, target: 1, emoji: "👍", user: "bob" });
  assert.equal(t.messages.get(1).reply_count, 1, "the page counted the reply already");
  assert.equal(t.messages.get(1).reactions[0].count, 1);
  assert.equal(t.hi, 4);
});

test("older pages are added below lo; upsert merges an HTTP answer", () => {
  const t = loaded([message(5), message(6)], 6);
  assert.deepEqual(t.addOlder([message(3), message(4), message(5)], false).map((m) => m.seq), [3, 4]);
  assert.equal(t.lo, 3);
  assert.equal(t.hasOlder, false);
  assert.deepEqual(t.upsert(message(6, { text: "edited", edited_at: "2024-01-01T00:03:00Z" })), [6]);
  assert.deepEqual(t.upsert(message(6)), [], "an older copy does not undo the edit");
  assert.equal(t.messages.get(6).text, "edited");
  assert.deepEqual(t.upsert(message(1)), [], "below the loaded window");
});

test("a message answered over HTTP before its event is counted once as a reply", () => {
  const t = loaded([message(1), message(2)], 2);
  const reply = message(3, { reply_to: 1, thread_root: 1 });
  t.upsert(reply);
  t.apply({ type: "message", ...reply });
  assert.equal(t.messages.get(1).reply_count, 1);
});

test("a deletion keeps the message's place; later copies cannot bring it back", () => {
  const t = loaded();
  t.apply({ type: "message_deleted", room: "r", seq: 3, target: 2, actor: "ann" });
  assert.equal(t.messages.get(2).deleted, true);
  assert.deepEqual(t.upsert(message(2)), []);
  assert.deepEqual(t.ordered().map((m) => m.seq), [1, 2]);
});
