// The thread panel: a root message and its replies, with its own reply box.

import { h, newClientId } from "../dom.js";
import { mergeThread, replyLabel, threadOf } from "../model/threads.js";
import { api } from "../net.js";
import { existingTimeline } from "../stores/timelines.js";
import { $, describeError, toast } from "../ui.js";
import { submit } from "../sending.js";
import { MAX_TEXT, autosize } from "./composer.js";
import { renderMessage } from "./messages.js";
import { openPanel } from "./panels.js";
import { renderOptions } from "./timelineview.js";

const thread = { room: null, rootId: null, root: null, replies: [] };

export function threadOpen() {
  return thread.rootId !== null;
}

/** Open the thread of message `rootId` of `room`. */
export async function openThread(room, rootId) {
  // What the timeline holds shows at once; the server's answer completes it.
  const local = threadOf(existingTimeline(room)?.ordered() ?? [], rootId);
  Object.assign(thread, { room, rootId, root: local.root, replies: local.replies });
  openPanel("thread");
  render("Loading the thread…");
  $("thread-input").focus();
  try {
    const page = await api.thread(room, rootId);
    if (thread.rootId !== rootId) return;
    thread.root = page.root;
    thread.replies = mergeThread(page.replies ?? [], thread.replies);
    render(page.has_more ? "Only the first replies are shown." : "");
  } catch (err) {
    if (thread.rootId === rootId) render(`Couldn't load the thread: ${describeError(err)}`);
  }
}

export function closeThread() {
  Object.assign(thread, { room: null, rootId: null, root: null, replies: [] });
  $("thread-messages").replaceChildren();
}

/** Messages of `room` changed: the open thread takes what concerns it. */
export function threadChanged(room, ids) {
  if (room !== thread.room || thread.rootId === null) return;
  const tl = existingTimeline(room);
  let touched = false;
  const replies = [];
  for (const id of ids) {
    const m = tl?.messages.get(id);
    if (!m) continue;
    if (m.id === thread.rootId) {
      thread.root = m;
      touched = true;
    } else if (m.thread_root === thread.rootId) {
      replies.push(m);
      touched = true;
    }
  }
  if (!touched) return;
  thread.replies = mergeThread(thread.replies, replies);
  render("");
}

function render(status) {
  const opts = { ...renderOptions(thread.room), inThread: true };
  const items = [];
  if (thread.root) {
    const root = renderMessage(thread.root, opts);
    root.classList.add("thread-root");
    items.push(root);
    const count = Math.max(thread.root.reply_count ?? 0, thread.replies.length);
    items.push(h("li", { class: "thread-count muted small", role: "separator" }, replyLabel(count)));
  }
  for (const m of thread.replies) items.push(renderMessage(m, opts));
  $("thread-messages").replaceChildren(...items);
  $("thread-status").textContent = status;
}

function send(event) {
  event.preventDefault();
  const input = $("thread-input");
  const text = input.value.trim();
  if (!text || thread.rootId === null) return;
  if (text.length > MAX_TEXT) {
    toast(`Messages are at most ${MAX_TEXT} characters.`);
    return;
  }
  input.value = "";
  autosize(input);
  submit({
    clientId: newClientId(),
    room: thread.room,
    text,
    files: [],
    replyTo: thread.rootId,
    status: "sending",
    createdAt: new Date().toISOString(),
    via: "ws",
    sentAt: 0,
    tries: 0,
  });
}

export function wireThread() {
  const input = $("thread-input");
  $("thread-form").addEventListener("submit", send);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) send(e);
  });
  input.addEventListener("input", () => autosize(input));
}
