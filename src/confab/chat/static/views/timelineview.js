// The open room's messages on screen: loading pages, placing and re-drawing messages,
// the "new messages" divider, following the bottom, and telling the server what was read.

import { h, icon } from "../dom.js";
import { canModerate } from "../model/rooms.js";
import { dividerSeq } from "../model/unread.js";
import { api, resumeLive } from "../net.js";
import { markRead } from "../readmarkers.js";
import { outboxFor } from "../stores/outbox.js";
import { room as roomOf } from "../stores/rooms.js";
import { session } from "../stores/session.js";
import { existingTimeline, timelineOf } from "../stores/timelines.js";
import { $ } from "../ui.js";
import { place, regroup, renderMessage, renderPending } from "./messages.js";

const PAGE = 50;
const view = { room: null, dividerAt: null, stick: true, unseen: 0, editing: null };

export const list = () => $("messages");
const scroller = () => $("timeline");

/** The open room (null on the welcome screen). */
export function activeRoom() {
  return view.room;
}

export function setActiveRoom(room) {
  view.room = room;
}

/** The seq of the message being edited (it is not re-drawn under the editor). */
export function setEditing(seq) {
  view.editing = seq;
}

export function editingSeq() {
  return view.editing;
}

export function renderOptions(room) {
  const tl = existingTimeline(room);
  return {
    me: session.user,
    canModerate: canModerate(roomOf(room)?.role) || roomOf(room)?.owner === session.user,
    lookup: (id) => tl?.messages.get(id),
  };
}

function nearBottom() {
  const el = scroller();
  return el.scrollHeight - el.scrollTop - el.clientHeight < 80;
}

export function scrollToBottom() {
  const el = scroller();
  el.scrollTop = el.scrollHeight;
  view.stick = true;
  view.unseen = 0;
  $("jump").hidden = true;
}

/** Draw the whole open room (after opening it or loading its latest page). */
export function renderTimeline() {
  const room = view.room;
  const tl = timelineOf(room);
  const opts = renderOptions(room);
  const messages = tl.ordered();
  const nodes = [];
  for (const m of messages) {
    if (m.seq === view.dividerAt) nodes.push(divider(m.seq));
    nodes.push(renderMessage(m, opts));
  }
  for (const e of outboxFor(room)) nodes.push(renderPending(e, session.user));
  list().replaceChildren(...nodes);
  for (const li of list().children) regroup(li);
  updateHistoryStatus();
  const mark = list().querySelector(".divider");
  if (mark && mark.nextElementSibling) {
    scroller().scrollTop = Math.max(0, mark.offsetTop - 60);
    view.stick = nearBottom();
  } else scrollToBottom();
  requestAnimationFrame(() => maybeLoadOlder());
}

function divider(seq) {
  return h("li", { class: "divider", role: "separator", dataset: { seq: String(seq - 0.5) } }, h("span", {}, "New messages"));
}

/** Fix where the divider goes for this visit: above the first unread message. */
export function placeDivider(room) {
  const tl = timelineOf(room);
  const r = roomOf(room);
  view.dividerAt = r && typeof r.read_seq === "number" && tl.loaded
    ? dividerSeq(tl.ordered(), r.read_seq, session.user)
    : null;
}

/** Re-draw the messages `ids` of `room` where they are (or place them if new). */
export function redraw(room, ids, { live: isLive = false } = {}) {
  if (room !== view.room) return;
  const tl = timelineOf(room);
  if (!tl.loaded) return;
  const opts = renderOptions(room);
  const wasAtBottom = view.stick;
  for (const id of new Set(ids)) {
    const m = tl.messages.get(id);
    if (!m) continue;
    const existing = list().querySelector(`li.msg[data-id="${id}"]`);
    if (existing && view.editing === m.seq) continue; // re-drawn when the editor closes
    const li = renderMessage(m, opts);
    if (existing) {
      existing.replaceWith(li);
      regroup(li);
      regroup(li.nextElementSibling);
    } else {
      place(list(), li, m.seq);
      if (isLive && m.author === session.user) scrollToBottom();
      else if (isLive && !wasAtBottom) {
        view.unseen += 1;
        $("jump-text").textContent = `${view.unseen} new message${view.unseen === 1 ? "" : "s"}`;
        $("jump").hidden = false;
      }
    }
    // Replies quote this message: their quotes follow its edits.
    for (const q of list().querySelectorAll(`li.msg[data-reply="${id}"]`)) {
      const reply = tl.messages.get(Number(q.dataset.id));
      if (reply && view.editing !== reply.seq) {
        const fresh = renderMessage(reply, opts);
        q.replaceWith(fresh);
        regroup(fresh);
      }
    }
  }
  if (view.stick) scroller().scrollTop = scroller().scrollHeight;
}

export function updateHistoryStatus(text) {
  const el = $("history-status");
  if (text !== undefined) {
    el.replaceChildren(text);
    return;
  }
  const tl = view.room ? timelineOf(view.room) : null;
  if (!tl || !tl.loaded) el.replaceChildren(tl?.state === "loading" ? "Loading messages…" : "");
  else if (!tl.hasOlder) {
    const r = roomOf(view.room);
    const dm = r?.kind === "dm";
    const title = $("room-name").querySelector(".room-name-text")?.textContent ?? view.room;
    const welcome = dm ? `Your conversation with ${title}` : r?.title ? `Welcome to ${title}` : `Welcome to #${title}`;
    el.replaceChildren(
      h("span", { class: "room-start" }, icon(dm ? "chat" : "hash"), h("strong", { dir: "auto" }, welcome)),
      h("span", { class: "muted small" }, `This is the very beginning of the ${dm ? "conversation" : "room"}.`),
    );
  } else el.replaceChildren("");
}

function retryLink(text, fn) {
  return h("span", {}, text, h("button", { type: "button", class: "link", onclick: fn }, "Try again"));
}

/** Load the latest page of `room`; events that came meanwhile are folded in after it. */
export async function loadLatest(room) {
  const tl = timelineOf(room);
  tl.state = "loading";
  if (room === view.room) {
    list().replaceChildren();
    updateHistoryStatus();
  }
  const snapshot = roomOf(room)?.last_seq ?? 0;
  let page;
  try {
    page = await api.history(room, { limit: PAGE });
  } catch {
    if (existingTimeline(room) !== tl) return;
    tl.state = "idle";
    if (room === view.room) updateHistoryStatus(retryLink("Couldn't load the messages. ", () => loadLatest(room)));
    return;
  }
  if (existingTimeline(room) !== tl) return; // the room was left meanwhile
  tl.setLatest(page.messages ?? [], !!page.has_more, snapshot);
  if (room === view.room) {
    placeDivider(room);
    renderTimeline();
    markRead();
  }
  // Events may have come while the page was on its way and the socket was not joined.
  if ((roomOf(room)?.last_seq ?? 0) > (tl.hi ?? 0)) resumeLive(room, tl.hi ?? 0);
}

export function maybeLoadOlder() {
  if (!view.room || scroller().hidden) return;
  if (scroller().scrollTop < 400) loadOlder();
}

async function loadOlder() {
  const room = view.room;
  const tl = timelineOf(room);
  if (!tl.loaded || !tl.hasOlder || tl.loadingOlder || tl.lo === null) return;
  tl.loadingOlder = true;
  updateHistoryStatus("Loading older messages…");
  try {
    const page = await api.history(room, { before: tl.lo, limit: PAGE });
    if (existingTimeline(room) !== tl) return;
    const fresh = tl.addOlder(page.messages ?? [], !!page.has_more);
    if (room !== view.room) return;
    const el = scroller();
    const height = el.scrollHeight;
    const top = el.scrollTop;
    const opts = renderOptions(room);
    const nodes = fresh.sort((a, b) => a.seq - b.seq).map((m) => renderMessage(m, opts));
    const firstOld = list().firstElementChild;
    list().prepend(...nodes);
    for (const li of nodes) regroup(li);
    regroup(firstOld);
    // Keep the messages the reader is looking at where they are.
    el.scrollTop = top + (el.scrollHeight - height);
  } catch {
    if (room === view.room) updateHistoryStatus(retryLink("Couldn't load older messages. ", () => loadOlder()));
    return;
  } finally {
    tl.loadingOlder = false;
  }
  if (room !== view.room) return;
  updateHistoryStatus();
  requestAnimationFrame(() => maybeLoadOlder());
}

/** Is the user looking at the end of `room` right now? */
export function viewing(room) {
  return room === view.room && document.visibilityState === "visible";
}

/** Is the reader at the bottom of the open room (so what arrives is seen)? */
export function atBottom() {
  return view.stick;
}

/** Follow the bottom while the reader is there; the jump button otherwise. */
export function wireScroll() {
  scroller().addEventListener(
    "scroll",
    () => {
      view.stick = nearBottom();
      if (view.stick) {
        if (!$("jump").hidden) {
          view.unseen = 0;
          $("jump").hidden = true;
        }
        markRead();
      }
      maybeLoadOlder();
    },
    { passive: true },
  );
  // Images and previews change heights after the fact: stay at the bottom if we were there.
  new ResizeObserver(() => {
    if (view.stick) scroller().scrollTop = scroller().scrollHeight;
  }).observe(list());
  $("jump").addEventListener("click", () => {
    scrollToBottom();
    markRead();
  });
}
