// Folding room events into messages: the server's history folding rules, mirrored.
import assert from "node:assert/strict";
import { test } from "node:test";

import { foldEvent, foldReaction, REACTION_USERS } from "../../src/confab/chat/static/model/fold.js";
import { message } from "./fixtures.mjs";

function held(...messages) {
  return new Map(messages.map((m) => [m.id, m]));
}

test("a new message is added; one already held is left as folded", () => {
  const messages = held(message(1, { text: "edited", edited_at: "2024-01-01T00:05:00Z" }));
  assert.deepEqual(foldEvent(messages, { type: "message", ...message(2) }), [2]);
  assert.deepEqual(foldEvent(messages, { type: "message", ...message(1) }), []);
  assert.equal(messages.get(1).text, "edited");
  assert.equal(messages.get(2).type, undefined, "the event's type is not kept on the message");
});

test("a reply bumps its root's reply count and last reply time, once", () => {
  const messages = held(message(1));
  const reply = { type: "message", ...message(2, { reply_to: 1, thread_root: 1, created_at: "2024-01-01T00:09:00Z" }) };
  assert.deepEqual(foldEvent(messages, reply), [2, 1]);
  assert.equal(messages.get(1).reply_count, 1);
  assert.equal(messages.get(1).last_reply_at, "2024-01-01T00:09:00Z");
  assert.deepEqual(foldEvent(messages, reply), [], "seen twice, counted once");
  assert.equal(messages.get(1).reply_count, 1);
  // A reply to a root that is not loaded changes nothing else.
  assert.deepEqual(foldEvent(messages, { type: "message", ...message(3, { reply_to: 99, thread_root: 99 }) }), [3]);
});

const cases = [
  {
    name: "an edit replaces text and edited_at",
    event: { type: "message_edited", target: 1, text: "new", edited_at: "2024-01-01T00:02:00Z", actor: "ann" },
    expect: { text: "new", edited_at: "2024-01-01T00:02:00Z" },
  },
  {
    name: "an older edit never undoes a newer one",
    start: { text: "newest", edited_at: "2024-01-01T00:09:00Z" },
    event: { type: "message_edited", target: 1, text: "old", edited_at: "2024-01-01T00:02:00Z", actor: "ann" },
    expect: { text: "newest" },
    changed: [],
  },
  {
    name: "a deletion blanks text, attachments, previews and reactions",
    start: { attachments: [{ id: "a" }], previews: [{ url: "https://x.org" }], reactions: [{ emoji: "👍", count: 1, users: ["bob"] }] },
    event: { type: "message_deleted", target: 1, actor: "ann" },
    expect: { deleted: true, text: "", attachments: [], previews: [], reactions: [] },
  },
  {
    name: "previews are set",
    event: { type: "previews_set", target: 1, previews: [{ url: "https://x.org", title: "X" }] },
    expect: { previews: [{ url: "https://x.org", title: "X" }] },
  },
  {
    name: "a deleted message takes no edit",
    start: { deleted: true, text: "" },
    event: { type: "message_edited", target: 1, text: "back", edited_at: "2024-01-01T00:02:00Z", actor: "ann" },
    expect: { text: "" },
    changed: [],
  },
  {
    name: "a deleted message takes no reaction",
    start: { deleted: true, text: "" },
    event: { type: "reaction_added", target: 1, emoji: "👍", user: "bob" },
    expect: { reactions: [] },
    changed: [],
  },
  {
    name: "an event about a message not held changes nothing",
    event: { type: "message_deleted", target: 42, actor: "ann" },
    expect: { deleted: false },
    changed: [],
  },
  {
    name: "room events are not about messages",
    event: { type: "topic_changed", topic: "t", actor: "ann" },
    expect: {},
    changed: [],
  },
];

for (const c of cases) {
  test(`fold: ${c.name}`, () => {
    const messages = held(message(1, c.start ?? {}));
    const changed = foldEvent(messages, { room: "r", seq: 10, ...c.event });
    assert.deepEqual(changed, c.changed ?? [1]);
    for (const [key, value] of Object.entries(c.expect)) assert.deepEqual(messages.get(1)[key], value, key);
  });
}

test("reactions: added, counted once per user, removed, emptied", () => {
  let r = foldReaction([], "👍", "ann", true);
  r = foldReaction(r, "👍", "bob", true);
  r = foldReaction(r, "👍", "bob", true);
  r = foldReaction(r, "🎉", "ann", true);
  assert.deepEqual(r, [
    { emoji: "👍", count: 2, users: ["ann", "bob"] },
    { emoji: "🎉", count: 1, users: ["ann"] },
  ]);
  r = foldReaction(r, "👍", "ann", false);
  r = foldReaction(r, "👍", "carl", false); // never reacted: nothing to take back
  r = foldReaction(r, "🎉", "ann", false);
  assert.deepEqual(r, [{ emoji: "👍", count: 1, users: ["bob"] }]);
});

test("reactions: the list of names is capped like the server's, the count is not", () => {
  let r = [];
  for (let i = 0; i < REACTION_USERS + 5; i += 1) r = foldReaction(r, "👍", `user${i}`, true);
  assert.equal(r[0].count, REACTION_USERS + 5);
  assert.equal(r[0].users.length, REACTION_USERS);
});

test("reactions: the input array is not changed", () => {
  const before = [{ emoji: "👍", count: 1, users: ["ann"] }];
  const frozen = JSON.stringify(before);
  foldReaction(before, "👍", "bob", true);
  assert.equal(JSON.stringify(before), frozen);
});
