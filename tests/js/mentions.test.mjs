// Mention parsing and @-completion (the server's rules: confab.chat.domain).
import assert from "node:assert/strict";
import { test } from "node:test";

import { completeMention, mentionQuery, mentionSegments, mentionsMe, parseMentions } from "../../src/confab/chat/static/model/mentions.js";

// The server parser's cases (tests/unit/test_chat_mentions.py), then a few more.
const parsing = [
  ["hi @bob", ["bob"], false],
  ["@Bob and @ALICE", ["alice", "bob"], false],
  ["hi @bob.", ["bob"], false],
  ["@bob.smith, hello", ["bob.smith"], false],
  ["mail a@bob.org", [], false],
  ["@ab is too short", [], false],
  ["@" + "x".repeat(33), [], false],
  ["@" + "x".repeat(32), ["x".repeat(32)], false],
  ["@room look", [], true],
  ["(@room) and @bob @bob", ["bob"], true],
  ["@@bob", [], false],
  ["no mentions", [], false],
  ["@under_score-dash", ["under_score-dash"], false],
  ["@abc.defghijklmnopqrstuvwxyz0123456789", [], false], // too long, not cut at a dot
  ["thanks @bob-", ["bob-"], false], // only dots are punctuation
  ["@Bob and @ALICE, @bob again", ["alice", "bob"], false],
];
for (const [text, users, room] of parsing) {
  test(`parse ${JSON.stringify(text)}`, () => {
    assert.deepEqual(parseMentions(text), { users, room });
  });
}

test("segments cut the text around recorded mentions only", () => {
  const recorded = new Set(["bob"]);
  const parts = mentionSegments("hi @bob and @eve!", (n) => recorded.has(n));
  assert.deepEqual(parts, ["hi ", { mention: "bob", text: "@bob" }, " and @eve!"]);
  assert.equal(parts.map((p) => (typeof p === "string" ? p : p.text)).join(""), "hi @bob and @eve!");
});

test("a message mentions me by name or by @room, never my own", () => {
  assert.equal(mentionsMe({ author: "ann", mentions: ["bob"] }, "bob"), true);
  assert.equal(mentionsMe({ author: "ann", mentions: [], mentions_room: true }, "bob"), true);
  assert.equal(mentionsMe({ author: "ann", mentions: ["carl"] }, "bob"), false);
  assert.equal(mentionsMe({ author: "bob", mentions: ["bob"], mentions_room: true }, "bob"), false);
});

test("the @-word under the caret", () => {
  assert.deepEqual(mentionQuery("hello @bo", 9), { start: 6, query: "bo" });
  assert.deepEqual(mentionQuery("@", 1), { start: 0, query: "" });
  assert.equal(mentionQuery("mail ann@ex", 11), null);
  assert.equal(mentionQuery("@bob done", 9), null);
});

test("completion: prefixes first, then names containing the query", () => {
  assert.deepEqual(completeMention("bo", ["rob", "bob", "bobby", "alice"]), ["bob", "bobby"]);
  assert.deepEqual(completeMention("ob", ["rob", "bob", "alice"]), ["bob", "rob"]);
  assert.equal(completeMention("", ["a1", "a2", "a3", "a4", "a5", "a6", "a7"]).length, 6);
});
