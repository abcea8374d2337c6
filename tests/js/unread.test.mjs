// Unread and mention counts, read markers from other devices, the divider.
import assert from "node:assert/strict";
import { test } from "node:test";

import { badgeText, countUnread, dividerSeq, foldRoomCounts, readUpTo } from "../../src/confab/chat/static/model/unread.js";
import { message } from "./fixtures.mjs";

const room = { name: "r", last_seq: 10, read_seq: 8, unread: 2, mentions: 0 };

test("a message by someone else counts; a mention counts twice over", () => {
  let r = foldRoomCounts(room, { type: "message", ...message(11, { author: "ann" }) }, "bob");
  assert.deepEqual([r.unread, r.mentions, r.last_seq], [3, 0, 11]);
  r = foldRoomCounts(r, { type: "message", ...message(12, { author: "ann", mentions: ["bob"] }) }, "bob");
  assert.deepEqual([r.unread, r.mentions], [4, 1]);
  r = foldRoomCounts(r, { type: "message", ...message(13, { author: "ann", mentions_room: true }) }, "bob");
  assert.deepEqual([r.unread, r.mentions], [5, 2]);
});

test("my own message marks the room read up to it", () => {
  const r = foldRoomCounts(room, { type: "message", ...message(11, { author: "bob" }) }, "bob");
  assert.deepEqual([r.unread, r.mentions, r.read_seq], [0, 0, 11]);
});

test("other events move last_seq but count nothing", () => {
  const r = foldRoomCounts(room, { type: "reaction_added", seq: 11, target: 1, emoji: "👍", user: "ann" }, "bob");
  assert.deepEqual([r.unread, r.last_seq], [2, 11]);
});

test("a read marker from my other device zeroes the counts at the room's end", () => {
  const r = foldRoomCounts(room, { type: "read", seq: 11, user: "bob", read_seq: 10 }, "bob");
  assert.deepEqual([r.unread, r.mentions, r.read_seq], [0, 0, 10]);
  const other = foldRoomCounts(room, { type: "read", seq: 11, user: "ann", read_seq: 10 }, "bob");
  assert.deepEqual([other.unread, other.read_seq], [2, 8], "someone else's marker is theirs");
});

test("a read marker part-way recounts from the messages held", () => {
  const messages = [9, 10, 11, 12].map((s) => message(s, { author: "ann", mentions: s === 12 ? ["bob"] : [] }));
  const start = { ...room, last_seq: 12, unread: 4, mentions: 1 };
  const r = readUpTo(start, 10, "bob", { complete: true, messages });
  assert.deepEqual([r.unread, r.mentions, r.read_seq], [2, 1, 10]);
  assert.equal(readUpTo(r, 9, "bob"), r, "a marker never moves back");
});

test("counting skips my own and deleted messages", () => {
  const messages = [
    message(1, { author: "ann" }),
    message(2, { author: "bob" }),
    message(3, { author: "ann", deleted: true }),
    message(4, { author: "ann", mentions: ["bob"] }),
  ];
  assert.deepEqual(countUnread(messages, 0, "bob"), { unread: 2, mentions: 1 });
  assert.equal(dividerSeq(messages, 1, "bob"), 4);
  assert.equal(dividerSeq(messages, 4, "bob"), null);
});

test("badge text", () => {
  assert.deepEqual([0, 1, 99, 100].map(badgeText), ["", "1", "99", "99+"]);
});
