// Which messages are shown as one group (one author header for several messages).

export const GROUP_WITHIN_MS = 5 * 60 * 1000;

/**
 * Does `m` continue the group of `prev`? Same author, a few minutes apart, the same day,
 * and neither a reply (a reply shows its quote under its own header).
 */
export function continues(prev, m) {
  if (!prev || !m || prev.author !== m.author) return false;
  if (m.reply_to != null) return false;
  const a = Date.parse(prev.created_at);
  const b = Date.parse(m.created_at);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  const gap = b - a;
  return gap >= 0 && gap < GROUP_WITHIN_MS && new Date(a).toDateString() === new Date(b).toDateString();
}
