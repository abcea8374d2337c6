// Mentions: `@username` (3-32 of [a-z0-9_.-], any case) and `@room`. The same rules as the
// server's parser (confab/chat/mentions.py), so what is highlighted is what was recorded:
// `@` not preceded by a name character (so "a@b.org" mentions nobody), then every name
// character that follows; dots at the end are punctuation ("hi @bob." mentions bob); what
// is left must be 3-32 characters long (a longer run is no mention, not a cut one).

const MENTION_RE = /(?<![a-z0-9_.@-])@([a-z0-9_.-]+)/gi;
const USERNAME_RE = /^[a-z0-9_.-]{3,32}$/;

function clean(name) {
  return name.toLowerCase().replace(/\.+$/, "");
}

function valid(name) {
  return name === "room" || USERNAME_RE.test(name);
}

/** `{users, room}`: the usernames mentioned (lowercase, sorted, once) and whether @room. */
export function parseMentions(text) {
  const users = new Set();
  let room = false;
  for (const match of (text ?? "").matchAll(MENTION_RE)) {
    const name = clean(match[1]);
    if (name === "room") room = true;
    else if (valid(name)) users.add(name);
  }
  return { users: [...users].sort(), room };
}

/**
 * Text cut into pieces: strings, and `{mention: name}` for each @name that `isMention`
 * accepts (by default: every name that parses). The caller renders them.
 */
export function mentionSegments(text, isMention = () => true) {
  const out = [];
  let last = 0;
  for (const match of (text ?? "").matchAll(MENTION_RE)) {
    const name = clean(match[1]);
    if (!valid(name) || !isMention(name)) continue;
    const end = match.index + 1 + name.length;
    if (match.index > last) out.push(text.slice(last, match.index));
    out.push({ mention: name, text: text.slice(match.index, end) });
    last = end;
  }
  if (last < (text ?? "").length) out.push(text.slice(last));
  return out;
}

/** Does this message mention `me` (by name, or @room from someone allowed to)? */
export function mentionsMe(message, me) {
  if (!message || message.author === me) return false;
  if (message.mentions_room) return true;
  return (message.mentions ?? []).includes(me);
}

/**
 * The @-word being typed at `caret`, for autocomplete: `{start, query}` (query without
 * the "@", maybe empty) or null when the caret is not in one.
 */
export function mentionQuery(text, caret) {
  const before = text.slice(0, caret);
  const match = before.match(/(?:^|[^A-Za-z0-9_.@-])@([A-Za-z0-9_.-]{0,32})$/);
  if (!match) return null;
  const query = match[1];
  return { start: caret - query.length - 1, query: query.toLowerCase() };
}

/** Up to `limit` candidates for `query`: names starting with it first, then containing it. */
export function completeMention(query, names, limit = 6) {
  const q = query.toLowerCase();
  const starts = names.filter((n) => n.startsWith(q));
  const inside = names.filter((n) => !n.startsWith(q) && n.includes(q));
  return [...starts.sort(), ...inside.sort()].slice(0, limit);
}
