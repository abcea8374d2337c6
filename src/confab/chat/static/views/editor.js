// Editing one's own message in place.

import { h } from "../dom.js";
import { api } from "../net.js";
import { session } from "../stores/session.js";
import { existingTimeline, timelineOf } from "../stores/timelines.js";
import { $, describeError, toast } from "../ui.js";
import { MAX_TEXT, autosize } from "./composer.js";
import { regroup, renderMessage } from "./messages.js";
import { activeRoom, editingSeq, list, redraw, renderOptions, setEditing } from "./timelineview.js";

function item(seq) {
  return list().querySelector(`li.msg[data-seq="${seq}"]`);
}

export function startEdit(seq) {
  cancelEdit();
  const room = activeRoom();
  const m = timelineOf(room).atSeq(seq);
  const li = item(seq);
  if (!m || !li || m.author !== session.user || m.deleted) return;
  setEditing(seq);
  li.classList.add("editing");
  const area = h("textarea", { class: "edit-input", rows: 2, maxlength: MAX_TEXT, "aria-label": "Edit your message", dir: "auto" });
  area.value = m.text;
  const bar = h(
    "div",
    { class: "edit-bar small muted" },
    "Enter to save · Esc to cancel ",
    h("button", { type: "button", class: "btn btn-small", onclick: () => cancelEdit() }, "Cancel"),
    h("button", { type: "button", class: "btn btn-small btn-primary", onclick: () => saveEdit(area.value) }, "Save"),
  );
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      saveEdit(area.value);
    } else if (e.key === "Escape") {
      e.preventDefault();
      cancelEdit();
      $("message-input").focus();
    }
  });
  const text = li.querySelector(".msg-text");
  const editor = h("div", { class: "editor" }, area, bar);
  if (text) text.replaceWith(editor);
  else li.querySelector(".msg-head").after(editor);
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);
  autosize(area);
  area.addEventListener("input", () => autosize(area));
}

export function cancelEdit() {
  const seq = editingSeq();
  if (seq === null) return;
  setEditing(null);
  const room = activeRoom();
  const m = room ? existingTimeline(room)?.atSeq(seq) : null;
  const li = item(seq);
  if (m && li) {
    const fresh = renderMessage(m, renderOptions(room));
    li.replaceWith(fresh);
    regroup(fresh);
  }
}

async function saveEdit(value) {
  const seq = editingSeq();
  const room = activeRoom();
  const tl = timelineOf(room);
  const m = tl.atSeq(seq);
  const text = value.trim();
  if (!m || !text || text === m.text) {
    cancelEdit();
    return;
  }
  try {
    const updated = await api.edit(room, m.id, text);
    if (editingSeq() === seq) cancelEdit();
    if (updated && typeof updated.seq === "number") redraw(room, tl.upsert(updated));
    $("message-input").focus();
  } catch (err) {
    toast(describeError(err));
  }
}

export function editLastOwn() {
  const room = activeRoom();
  if (!room) return;
  const mine = timelineOf(room).ordered().filter((m) => m.author === session.user && !m.deleted);
  if (mine.length) startEdit(mine[mine.length - 1].seq);
}
