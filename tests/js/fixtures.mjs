// A message as the server sends it (history and `message` events), for the tests.

export function message(id, extra = {}) {
  return {
    id,
    room: "r",
    seq: id,
    author: "ann",
    text: `text ${id}`,
    created_at: "2024-01-01T00:00:00Z",
    edited_at: null,
    deleted: false,
    attachments: [],
    previews: [],
    client_id: null,
    reply_to: null,
    thread_root: null,
    reply_count: 0,
    last_reply_at: null,
    reactions: [],
    mentions: [],
    mentions_room: false,
    ...extra,
  };
}
