// Sending messages: over the socket (or HTTP when images go along), retried with the same
// client_id until the server answers, so a repeat is harmless.

import { ApiError } from "./api.js";
import { api, joined, live, resuming } from "./net.js";
import { dequeue, enqueue, outboxEntries, queued } from "./stores/outbox.js";
import { session } from "./stores/session.js";
import { describeError } from "./ui.js";
import { regroup, renderPending } from "./views/messages.js";
import { list, scrollToBottom } from "./views/timelineview.js";

const ACK_TIMEOUT_MS = 10_000;
let accept = () => {};

/** Where stored messages answered over HTTP go (the frame handler's `acceptMessage`). */
export function onStored(fn) {
  accept = fn;
}

function pendingItem(clientId) {
  return list().querySelector(`li[data-pending="${CSS.escape(clientId)}"]`);
}

export function setPending(entry, status, error) {
  entry.status = status;
  entry.error = error;
  const old = pendingItem(entry.clientId);
  if (old) {
    const li = renderPending(entry, session.user);
    old.replaceWith(li);
    regroup(li);
  }
}

/** Show a new message as pending and send it. */
export function submit(entry) {
  enqueue(entry);
  const li = renderPending(entry, session.user);
  list().append(li);
  regroup(li);
  scrollToBottom();
  dispatch(entry);
}

/** A stored message of ours: its pending copy goes. */
export function resolvePending(message) {
  if (!message.client_id || message.author !== session.user) return;
  const entry = dequeue(message.client_id);
  if (!entry) return;
  for (const f of entry.files) URL.revokeObjectURL(f.url);
  pendingItem(message.client_id)?.remove();
}

/** Send (or send again: the client_id makes a repeat harmless). */
export async function dispatch(entry) {
  if (!queued(entry.clientId)) return;
  entry.tries += 1;
  if (entry.via === "ws") {
    entry.sentAt = Date.now();
    const frame = { type: "send", room: entry.room, text: entry.text, client_id: entry.clientId };
    if (entry.replyTo != null) frame.reply_to = entry.replyTo;
    const sent = joined.has(entry.room) && !resuming.has(entry.room) && live.send(frame);
    setPending(entry, sent ? "sending" : "queued");
    return;
  }
  setPending(entry, "sending");
  try {
    const ids = await Promise.all(entry.files.map((f) => f.upload()));
    const message = await api.send(entry.room, entry.text, entry.clientId, ids, entry.replyTo);
    if (message && typeof message.seq === "number") accept(entry.room, message);
    else dequeue(entry.clientId);
  } catch (err) {
    if (!queued(entry.clientId)) return;
    if (err instanceof ApiError && err.retryable && entry.tries < 8) {
      setPending(entry, "queued");
      setTimeout(() => dispatch(entry), Math.min(30_000, 1_000 * 2 ** entry.tries));
    } else {
      setPending(entry, "failed", describeError(err));
    }
  }
}

/** The room is joined again: what waited for the socket goes out. */
export function flushOutbox(room) {
  for (const entry of outboxEntries()) {
    if (entry.room === room && entry.via === "ws" && (entry.status === "queued" || entry.status === "sending")) {
      dispatch(entry);
    }
  }
}

/** The socket went down: sends in flight wait for the next one. */
export function holdSends() {
  for (const entry of outboxEntries()) {
    if (entry.via === "ws" && entry.status === "sending") setPending(entry, "queued");
  }
}

/** A send that got no ack in time is sent again with the same client_id. */
export function startResender() {
  setInterval(() => {
    const now = Date.now();
    for (const entry of outboxEntries()) {
      if (entry.via === "ws" && entry.status === "sending" && now - entry.sentAt > ACK_TIMEOUT_MS) dispatch(entry);
    }
  }, 2_000);
}

/** An error frame about one of our sends. Answers false if it was about something else. */
export function sendFailed(frame) {
  const entry = frame.client_id ? queued(frame.client_id) : null;
  if (!entry) return false;
  if (frame.code === "internal") {
    setPending(entry, "queued");
    setTimeout(() => dispatch(entry), 2_000);
  } else setPending(entry, "failed", frame.message || frame.code);
  return true;
}
