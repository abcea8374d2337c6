// What the buttons on a message do: react, reply, thread, edit, delete, retry a send,
// jump to the message replied to. One listener per list (the timeline and the thread).

import { h } from "../dom.js";
import { QUICK_REACTIONS, toggleAction, validEmoji } from "../model/reactions.js";
import { threadIdOf } from "../model/threads.js";
import { api } from "../net.js";
import { dequeue, queued } from "../stores/outbox.js";
import { session } from "../stores/session.js";
import { existingTimeline } from "../stores/timelines.js";
import { $, attempt } from "../ui.js";
import { dispatch } from "../sending.js";
import { replyTo } from "./composer.js";
import { startEdit } from "./editor.js";
import { openThread } from "./thread.js";
import { activeRoom, redraw } from "./timelineview.js";

const hoverless = window.matchMedia("(hover: none)");
let reactingTo = null; // {room, id}

function messageOf(li) {
  return existingTimeline(activeRoom())?.messages.get(Number(li.dataset.id));
}

async function toggleReaction(room, m, emoji) {
  const action = toggleAction(m.reactions, emoji, session.user);
  await attempt(() => (action === "react" ? api.react(room, m.id, emoji) : api.unreact(room, m.id, emoji)));
}

function openPicker(room, m) {
  reactingTo = { room, id: m.id };
  $("react-input").value = "";
  $("react-error").textContent = "";
  $("react-dialog").showModal();
  $("quick-reactions").querySelector("button")?.focus();
}

async function react(emoji) {
  if (!reactingTo) return;
  if (!validEmoji(emoji)) {
    $("react-error").textContent = "Type one emoji (no spaces).";
    return;
  }
  const { room, id } = reactingTo;
  $("react-dialog").close();
  reactingTo = null;
  await attempt(() => api.react(room, id, emoji.trim()));
}

function goToMessage(id) {
  const target = $("messages").querySelector(`li.msg[data-id="${id}"]`);
  if (!target) return false;
  target.scrollIntoView({ block: "center", behavior: "smooth" });
  target.classList.add("flash");
  setTimeout(() => target.classList.remove("flash"), 1_500);
  return true;
}

function onPendingAction(li, action) {
  const entry = queued(li.dataset.pending);
  if (!entry) return;
  if (action === "retry") {
    entry.tries = 0;
    dispatch(entry);
  } else if (action === "discard") {
    dequeue(entry.clientId);
    li.remove();
  }
}

async function onClick(event, listEl) {
  const button = event.target.closest("button[data-action]");
  if (!button) {
    // Touch screens: a tap on a message shows its actions (there is no hover).
    const li = event.target.closest("li.msg");
    if (li && !event.target.closest("a, textarea") && hoverless.matches) {
      const was = li.classList.contains("selected");
      for (const other of listEl.querySelectorAll("li.msg.selected")) other.classList.remove("selected");
      li.classList.toggle("selected", !was);
    }
    return;
  }
  const li = button.closest("li.msg");
  const action = button.dataset.action;
  if (li.dataset.pending !== undefined) return onPendingAction(li, action);
  const room = activeRoom();
  const m = messageOf(li);
  if (!m) return;
  if (action === "react") openPicker(room, m);
  else if (action === "toggle-reaction") await toggleReaction(room, m, button.dataset.emoji);
  else if (action === "reply") replyTo(m);
  else if (action === "thread") openThread(room, threadIdOf(m));
  else if (action === "goto") {
    if (!goToMessage(Number(button.dataset.target))) openThread(room, m.thread_root ?? m.reply_to);
  } else if (action === "edit") startEdit(m.seq);
  else if (action === "delete") {
    if (!window.confirm("Delete this message for everyone?")) return;
    if (await attempt(() => api.remove(room, m.id))) redraw(room, existingTimeline(room)?.redact(m.id) ?? []);
  }
}

export function wireActions() {
  for (const el of [$("messages"), $("thread-messages")]) el.addEventListener("click", (e) => onClick(e, el));
  $("quick-reactions").replaceChildren(
    ...QUICK_REACTIONS.map((emoji) =>
      h("button", { type: "button", class: "quick-reaction", "aria-label": `React with ${emoji}`, onclick: () => react(emoji) }, emoji),
    ),
  );
  $("react-form").addEventListener("submit", (e) => {
    e.preventDefault();
    react($("react-input").value);
  });
}
