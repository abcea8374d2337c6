// Folding room events into messages: the same rules the server applies to history.
//
// A room is a log of events, each with a seq. History (GET .../messages) returns messages
// with every event up to its snapshot folded in; the client folds the events that come
// after (live, or replayed by `resume`) the same way. Every rule is idempotent, because an
// event near the edge of a history page may be folded in by the server and arrive again:
// a message already held is not counted again as a reply, a user already among an emoji's
// reactors is not counted twice.

export const REACTION_USERS = 50; // the server lists at most this many reactors per emoji

/** The copy of `message` a deletion leaves: id, seq and author, nothing said. */
export function redacted(message) {
  return { ...message, deleted: true, text: "", attachments: [], previews: [], reactions: [] };
}

/**
 * Reactions after `user` adds (`add` true) or removes `emoji`: a new array, `reactions`
 * is left alone. Unknown removals change nothing.
 */
export function foldReaction(reactions, emoji, user, add) {
  const list = (reactions ?? []).map((r) => ({ ...r, users: [...(r.users ?? [])] }));
  const i = list.findIndex((r) => r.emoji === emoji);
  const entry = i >= 0 ? list[i] : null;
  if (add) {
    if (entry?.users.includes(user)) return list;
    if (!entry) {
      list.push({ emoji, count: 1, users: [user] });
      return list;
    }
    entry.count += 1;
    if (entry.users.length < REACTION_USERS) entry.users.push(user);
    return list;
  }
  if (!entry || !entry.users.includes(user)) return list;
  entry.users = entry.users.filter((u) => u !== user);
  entry.count -= 1;
  if (entry.count <= 0) list.splice(i, 1);
  return list;
}

function later(a, b) {
  if (!a) return b ?? null;
  if (!b) return a;
  return Date.parse(b) > Date.parse(a) ? b : a;
}

/**
 * Fold one event into `messages` (a Map of message id -> message; messages are replaced,
 * never mutated). Returns the ids of the messages that changed ([] for events that are not
 * about messages, or about messages not held).
 */
export function foldEvent(messages, event) {
  switch (event.type) {
    case "message": {
      const message = { ...event };
      delete message.type; // an event's type is not part of the message
      const known = messages.get(message.id);
      if (known) {
        // Seen already (a page held it): keep the folded state, which is at least as new.
        return [];
      }
      messages.set(message.id, message);
      const changed = [message.id];
      const root = message.thread_root != null ? messages.get(message.thread_root) : null;
      if (root) {
        messages.set(root.id, {
          ...root,
          reply_count: (root.reply_count ?? 0) + 1,
          last_reply_at: later(root.last_reply_at, message.created_at),
        });
        changed.push(root.id);
      }
      return changed;
    }
    case "message_edited":
      return update(messages, event.target, (m) =>
        m.deleted || (m.edited_at && Date.parse(m.edited_at) > Date.parse(event.edited_at))
          ? m
          : { ...m, text: event.text, edited_at: event.edited_at },
      );
    case "message_deleted":
      return update(messages, event.target, (m) => (m.deleted ? m : redacted(m)));
    case "previews_set":
      return update(messages, event.target, (m) => (m.deleted ? m : { ...m, previews: event.previews ?? [] }));
    case "reaction_added":
    case "reaction_removed":
      return update(messages, event.target, (m) =>
        m.deleted ? m : { ...m, reactions: foldReaction(m.reactions, event.emoji, event.user, event.type === "reaction_added") },
      );
    default:
      return [];
  }
}

function update(messages, id, change) {
  const known = messages.get(id);
  if (!known) return [];
  const next = change(known);
  if (next === known) return [];
  messages.set(id, next);
  return [id];
}
