// Small pure rules behind the views: grouping, threads, reactions, notification levels,
// the room list and member actions.
import assert from "node:assert/strict";
import { test } from "node:test";

import { continues } from "../../src/confab/chat/static/model/grouping.js";
import { shouldNotify } from "../../src/confab/chat/static/model/notify.js";
import { reactorsText, toggleAction, validEmoji } from "../../src/confab/chat/static/model/reactions.js";
import { displayName, memberActions, parseUserList, sections } from "../../src/confab/chat/static/model/rooms.js";
import { mergeThread, replyLabel, threadOf } from "../../src/confab/chat/static/model/threads.js";
import { message } from "./fixtures.mjs";

const at = (min) => `2024-01-01T10:${String(min).padStart(2, "0")}:00Z`;

test("grouping: same author within five minutes, replies start their own group", () => {
  const list = [
    message(1, { created_at: at(0) }),
    message(2, { created_at: at(3) }),
    message(3, { created_at: at(9) }),
    message(4, { created_at: at(10), author: "bob" }),
    message(5, { created_at: at(11), author: "bob", reply_to: 1 }),
  ];
  assert.deepEqual(list.map((m, i) => continues(list[i - 1], m)), [false, true, false, false, false]);
  assert.equal(continues(message(1, { created_at: at(5) }), message(2, { created_at: at(1) })), false, "time going back");
});

test("threads: root and its replies in seq order, merged with live ones", () => {
  const msgs = [message(1), message(4, { thread_root: 1 }), message(2, { thread_root: 1 }), message(3)];
  const { root, replies } = threadOf(msgs, 1);
  assert.equal(root.id, 1);
  assert.deepEqual(replies.map((m) => m.id), [2, 4]);
  const merged = mergeThread([message(2), message(4)], [message(4, { text: "edited" }), message(6)]);
  assert.deepEqual(merged.map((m) => [m.id, m.text]), [[2, "text 2"], [4, "edited"], [6, "text 6"]]);
  assert.deepEqual([replyLabel(1), replyLabel(3)], ["1 reply", "3 replies"]);
});

test("reactions: what the server accepts, what a tap does, who reacted", () => {
  for (const ok of ["👍", "🇫🇷", ":+1:", "👨‍👩‍👧"]) assert.equal(validEmoji(ok), true, ok);
  for (const bad of ["", "a b", "x".repeat(33), "\u0007"]) assert.equal(validEmoji(bad), false, JSON.stringify(bad));
  const list = [{ emoji: "👍", count: 2, users: ["ann", "bob"] }];
  assert.equal(toggleAction(list, "👍", "bob"), "unreact");
  assert.equal(toggleAction(list, "👍", "carl"), "react");
  assert.equal(toggleAction(list, "🎉", "bob"), "react");
  assert.equal(reactorsText({ count: 2, users: ["ann", "bob"] }), "ann and bob");
  assert.equal(reactorsText({ count: 53, users: ["ann", "bob"] }), "ann, bob and 51 others");
});

const levels = [
  ["all", { author: "ann" }, "room", true],
  ["all", { author: "bob" }, "room", false],
  ["mentions", { author: "ann" }, "room", false],
  ["mentions", { author: "ann", mentions: ["bob"] }, "room", true],
  ["mentions", { author: "ann" }, "dm", true],
  ["mute", { author: "ann", mentions: ["bob"] }, "room", false],
  ["all", { author: "ann", deleted: true }, "room", false],
];
for (const [level, m, kind, expected] of levels) {
  test(`notify ${level} ${JSON.stringify(m)} in a ${kind}: ${expected}`, () => {
    assert.equal(shouldNotify(level, m, "bob", kind), expected);
  });
}

test("room list: DMs named by the others, sections sorted, non-members left out", () => {
  const rooms = [
    { name: "zeta", kind: "room", member: true },
    { name: "alpha", kind: "room", title: "Ωmega", member: true },
    { name: "dm-1", kind: "dm", participants: ["bob", "carl"], member: true },
    { name: "dm-2", kind: "dm", participants: ["bob", "ann", "dan"], member: true },
    { name: "public", kind: "room", member: false },
  ];
  assert.equal(displayName(rooms[2], "bob"), "carl");
  assert.equal(displayName(rooms[3], "bob"), "ann, dan");
  const s = sections(rooms, "bob");
  assert.deepEqual(s.rooms.map((r) => r.name), ["zeta", "alpha"]);
  assert.deepEqual(s.dms.map((r) => r.name), ["dm-2", "dm-1"]);
});

test("member actions by role", () => {
  assert.deepEqual(memberActions("owner", "member", false), ["kick", "ban", "promote", "transfer"]);
  assert.deepEqual(memberActions("owner", "moderator", false), ["kick", "ban", "demote", "transfer"]);
  assert.deepEqual(memberActions("moderator", "member", false), ["kick", "ban"]);
  assert.deepEqual(memberActions("moderator", "moderator", false), []);
  assert.deepEqual(memberActions("moderator", "owner", false), []);
  assert.deepEqual(memberActions("member", "member", false), []);
  assert.deepEqual(memberActions("owner", "owner", true), []);
});

test("usernames typed in a box", () => {
  assert.deepEqual(parseUserList(" Alice, @bob  carl;alice "), ["alice", "bob", "carl"]);
  assert.deepEqual(parseUserList(""), []);
});
