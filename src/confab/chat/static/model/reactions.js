// Reactions: which emoji are offered, which the server accepts, what a tap does.

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "🙏"];

/** The server's rule: 1-32 characters, no whitespace or control characters. */
export function validEmoji(value) {
  const text = (value ?? "").trim();
  if (!text || [...text].length > 32) return false;
  return !/[\s\p{Cc}]/u.test(text);
}

/** What a tap on `emoji` does for `me`: "unreact" if I reacted with it, else "react". */
export function toggleAction(reactions, emoji, me) {
  const entry = (reactions ?? []).find((r) => r.emoji === emoji);
  return entry?.users?.includes(me) ? "unreact" : "react";
}

/** "alice, bob and 3 others": who reacted, for a tooltip. */
export function reactorsText(entry) {
  const users = entry.users ?? [];
  const more = Math.max(0, (entry.count ?? users.length) - users.length);
  const names = more ? [...users, `${more} other${more === 1 ? "" : "s"}`] : users;
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}
