// Rendering of messages (text, quote, reactions, thread summary, actions) and their place
// in the list.

import { avatar, fullTime, h, icon, linkified, shortTime } from "../dom.js";
import { renderAttachments, renderPreviews } from "./attachments.js";
import { continues } from "../model/grouping.js";
import { mentionSegments, mentionsMe, parseMentions } from "../model/mentions.js";
import { reactorsText } from "../model/reactions.js";
import { replyLabel } from "../model/threads.js";

/** Text with links and highlighted mentions (only those the server recorded). */
export function richText(message, me) {
  const recorded = new Set(message.mentions ?? []);
  const pieces = mentionSegments(message.text ?? "", (name) =>
    name === "room" ? !!message.mentions_room : recorded.has(name),
  );
  return pieces.flatMap((p) =>
    typeof p === "string"
      ? linkified(p)
      : [h("span", { class: `mention${p.mention === me || p.mention === "room" ? " mention-me" : ""}` }, p.text)],
  );
}

function actionButton(action, label, iconName) {
  return h(
    "button",
    { type: "button", class: "icon-btn", "data-action": action, "aria-label": label, title: label },
    icon(iconName),
  );
}

/** The quote of the message replied to (or a note that it is not loaded). */
function quote(m, parent) {
  const text = !parent ? "an earlier message" : parent.deleted ? "a deleted message" : parent.text;
  return h(
    "button",
    { type: "button", class: "msg-quote", "data-action": "goto", "data-target": String(m.reply_to) },
    icon("reply"),
    parent && h("span", { class: "quote-author", dir: "auto" }, parent.author),
    h("span", { class: "quote-text", dir: "auto" }, text),
  );
}

function reactionsRow(m, me) {
  const list = m.reactions ?? [];
  if (!list.length) return null;
  return h(
    "div",
    { class: "reactions" },
    list.map((r) =>
      h(
        "button",
        {
          type: "button",
          class: "reaction",
          "data-action": "toggle-reaction",
          "data-emoji": r.emoji,
          "aria-pressed": String((r.users ?? []).includes(me)),
          title: reactorsText(r),
          "aria-label": `${r.emoji} ${r.count}: ${reactorsText(r)}`,
        },
        h("span", { class: "reaction-emoji" }, r.emoji),
        h("span", { class: "reaction-count" }, String(r.count)),
      ),
    ),
  );
}

function threadSummary(m) {
  if (!m.reply_count) return null;
  return h(
    "button",
    { type: "button", class: "thread-summary link", "data-action": "thread" },
    icon("thread"),
    replyLabel(m.reply_count),
    m.last_reply_at && h("span", { class: "muted small" }, ` · last reply ${shortTime(m.last_reply_at)}`),
  );
}

/**
 * A stored message as a list item. `me` is the signed-in user, `canModerate` whether they
 * may delete anyone's message, `lookup(id)` finds the message a reply quotes, `inThread`
 * leaves out what makes no sense inside the thread view.
 */
export function renderMessage(m, { me, canModerate, lookup = () => undefined, inThread = false }) {
  const own = m.author === me;
  const mentioned = mentionsMe(m, me);
  const li = h("li", {
    class: `msg${own ? " own" : ""}${m.deleted ? " deleted" : ""}${mentioned ? " mentions-me" : ""}`,
    id: inThread ? null : `msg-${m.id}`,
    dataset: {
      id: String(m.id),
      seq: String(m.seq),
      author: m.author,
      time: m.created_at ?? "",
      reply: m.reply_to == null ? "" : String(m.reply_to),
    },
  });
  const head = h(
    "div",
    { class: "msg-head" },
    h("span", { class: "msg-author", dir: "auto" }, m.author),
    h("time", { datetime: m.created_at, title: fullTime(m.created_at) }, shortTime(m.created_at)),
  );
  const edited =
    m.edited_at && !m.deleted && h("span", { class: "msg-edited", title: fullTime(m.edited_at) }, " (edited)");
  const body = m.deleted
    ? h("p", { class: "msg-text msg-gone" }, "This message was deleted.")
    : h("p", { class: "msg-text", dir: "auto" }, richText(m, me), edited);
  const main = h(
    "div",
    { class: "msg-main" },
    head,
    m.reply_to != null && !(inThread && m.reply_to === m.thread_root) && quote(m, lookup(m.reply_to)),
    body,
    !m.deleted && renderAttachments(m.attachments),
    !m.deleted && renderPreviews(m.previews),
    !m.deleted && reactionsRow(m, me),
    !inThread && threadSummary(m),
  );
  // Grouped messages hide the header: their time stays in the gutter.
  const gutter = h(
    "div",
    { class: "msg-gutter" },
    avatar(m.author, "msg-avatar"),
    h("time", { class: "gutter-time", datetime: m.created_at, title: fullTime(m.created_at) }, shortTime(m.created_at, true)),
  );
  li.append(gutter, main);
  if (!m.deleted) {
    li.append(
      h(
        "div",
        { class: "msg-actions" },
        actionButton("react", "Add reaction", "smile"),
        actionButton("reply", "Reply", "reply"),
        !inThread && actionButton("thread", "Reply in thread", "thread"),
        own && actionButton("edit", "Edit message", "edit"),
        (own || canModerate) && actionButton("delete", "Delete message", "trash"),
      ),
    );
  }
  return li;
}

function asMentions(text) {
  const { users, room } = parseMentions(text);
  return { mentions: users, mentions_room: room };
}

/** A message of ours not yet stored: shown greyed until the server has it. */
export function renderPending(entry, me) {
  const failed = entry.status === "failed";
  const status = failed
    ? h(
        "span",
        { class: "pending-status failed" },
        `Not sent${entry.error ? `: ${entry.error}` : ""}. `,
        h("button", { type: "button", class: "link", "data-action": "retry" }, "Retry"),
        " · ",
        h("button", { type: "button", class: "link", "data-action": "discard" }, "Discard"),
      )
    : h("span", { class: "pending-status" }, entry.status === "queued" ? "Waiting for the connection…" : "Sending…");
  const li = h("li", {
    class: `msg own pending${failed ? " failed" : ""}`,
    dataset: { pending: entry.clientId, author: me, time: entry.createdAt, reply: entry.replyTo ?? "" },
  });
  li.append(
    h("div", { class: "msg-gutter" }, avatar(me, "msg-avatar")),
    h(
      "div",
      { class: "msg-main" },
      h("div", { class: "msg-head" }, h("span", { class: "msg-author" }, me), status),
      // Mentions as the server will record them (it checks membership; this is a preview).
      entry.text && h("p", { class: "msg-text", dir: "auto" }, richText({ text: entry.text, ...asMentions(entry.text) }, me)),
      renderAttachments(
        [],
        entry.files.map((f) => f.url),
      ),
    ),
  );
  return li;
}

function asMessage(li) {
  return { author: li.dataset.author, created_at: li.dataset.time, reply_to: li.dataset.reply || null };
}

/** Mark `li` as a continuation of the message above it (same author, a few minutes apart). */
export function regroup(li) {
  if (!li || !li.classList.contains("msg")) return;
  const prev = li.previousElementSibling;
  const cont = !!prev && prev.classList.contains("msg") && continues(asMessage(prev), asMessage(li));
  li.classList.toggle("cont", cont);
}

/** Put a stored message's element at its seq position (pending ones stay last). */
export function place(list, li, seq) {
  let ref = null;
  for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
    if (node.dataset.pending !== undefined || !node.dataset.seq || Number(node.dataset.seq) > seq) {
      ref = node;
      continue;
    }
    break;
  }
  list.insertBefore(li, ref);
  regroup(li);
  regroup(li.nextElementSibling);
}
