// Threads: a root message and the replies whose `thread_root` is its id.

/** The thread of `rootId` among held messages: `{root, replies}` (replies in seq order). */
export function threadOf(messages, rootId) {
  let root = null;
  const replies = [];
  for (const m of messages) {
    if (m.id === rootId) root = m;
    else if (m.thread_root === rootId) replies.push(m);
  }
  replies.sort((a, b) => a.seq - b.seq);
  return { root, replies };
}

/** The id of the thread a message belongs to (itself when it is a root). */
export function threadIdOf(message) {
  return message.thread_root ?? message.id;
}

/** Merge a fetched thread with replies that arrived live since (by id, in seq order). */
export function mergeThread(fetched, live) {
  const byId = new Map();
  for (const m of fetched) byId.set(m.id, m);
  for (const m of live) byId.set(m.id, m);
  return [...byId.values()].sort((a, b) => a.seq - b.seq);
}

/** "1 reply", "4 replies". */
export function replyLabel(count) {
  return `${count} ${count === 1 ? "reply" : "replies"}`;
}
