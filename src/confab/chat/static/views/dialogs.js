// Dialogs: create a room, browse public rooms, open a direct conversation, room settings.

import { ApiError } from "../api.js";
import { h, icon } from "../dom.js";
import { LEVELS } from "../model/notify.js";
import { canModerate, parseUserList } from "../model/rooms.js";
import { api, joinLive } from "../net.js";
import { canAskPermission, askPermission } from "../notifications.js";
import { allRooms, putRoom, room as roomOf, updateRoom } from "../stores/rooms.js";
import { session } from "../stores/session.js";
import { $, attempt, describeError } from "../ui.js";
import { forgetRoom, goTo, refreshRooms } from "./roomview.js";
import { activeRoom } from "./timelineview.js";

const ROOM_RE = /^[a-z0-9_-]{1,64}$/;

// ------------------------------------------------------------ create

async function createRoom(event) {
  event.preventDefault();
  const name = $("room-name-input").value.trim().toLowerCase();
  const topic = $("room-topic-input").value.trim();
  const isPrivate = $("room-private-input").checked;
  const error = $("create-error");
  error.textContent = "";
  if (!ROOM_RE.test(name)) {
    error.textContent = "Use 1–64 lowercase letters, digits, dashes or underscores.";
    $("room-name-input").focus();
    return;
  }
  try {
    const created = await api.createRoom(name, topic || undefined, isPrivate);
    putRoom({ role: "owner", read_seq: created.last_seq ?? 0, ...created, member: true });
    $("create-dialog").close();
    joinLive(created.name);
    goTo(created.name);
  } catch (err) {
    error.textContent = err instanceof ApiError && err.status === 409
      ? "A room with that name already exists."
      : describeError(err);
  }
}

export function openCreateDialog() {
  $("create-form").reset();
  $("create-error").textContent = "";
  $("create-dialog").showModal();
  $("room-name-input").focus();
}

// ------------------------------------------------------------ browse

export async function openBrowseDialog() {
  const list = $("browse-list");
  $("browse-error").textContent = "";
  list.replaceChildren(h("li", { class: "muted" }, "Loading…"));
  $("browse-empty").hidden = true;
  $("browse-dialog").showModal();
  try {
    await refreshRooms();
  } catch (err) {
    $("browse-error").textContent = describeError(err);
  }
  const rooms = allRooms()
    .filter((r) => r.member === false && !r.private && r.kind !== "dm")
    .sort((a, b) => (b.members ?? 0) - (a.members ?? 0) || a.name.localeCompare(b.name));
  $("browse-empty").hidden = rooms.length > 0;
  list.replaceChildren(
    ...rooms.map((r) =>
      h(
        "li",
        { class: "browse-item" },
        h(
          "div",
          { class: "browse-text" },
          h("span", { class: "browse-name", dir: "auto" }, icon("hash"), r.title || r.name),
          r.topic && h("span", { class: "muted small", dir: "auto" }, r.topic),
          h("span", { class: "muted small" }, `${r.members ?? 0} member${r.members === 1 ? "" : "s"}`),
        ),
        h("button", { type: "button", class: "btn btn-primary", onclick: () => joinRoom(r.name), "aria-label": `Join ${r.name}` }, "Join"),
      ),
    ),
  );
}

async function joinRoom(name) {
  try {
    await api.joinRoom(name);
    $("browse-dialog").close();
    await refreshRooms();
    updateRoom(name, (r) => ({ ...r, member: true }));
    joinLive(name);
    goTo(name);
  } catch (err) {
    $("browse-error").textContent = describeError(err);
  }
}

// ------------------------------------------------------------ direct messages

export function openDmDialog(prefill = "") {
  $("dm-form").reset();
  $("dm-users").value = prefill;
  $("dm-error").textContent = "";
  $("dm-dialog").showModal();
  $("dm-users").focus();
}

async function openDm(event) {
  event.preventDefault();
  const users = parseUserList($("dm-users").value).filter((u) => u !== session.user);
  const error = $("dm-error");
  if (!users.length) {
    error.textContent = "Name at least one person.";
    return;
  }
  try {
    const dm = await api.openDm(users);
    putRoom({ ...dm, member: true });
    $("dm-dialog").close();
    joinLive(dm.name);
    goTo(dm.name);
  } catch (err) {
    error.textContent = err instanceof ApiError && err.code === "user_not_found"
      ? `No such user: ${err.detail || users.join(", ")}`
      : describeError(err);
  }
}

// ------------------------------------------------------------ room settings

export function openSettingsDialog() {
  const name = activeRoom();
  const r = name ? roomOf(name) : null;
  if (!r) return;
  const moderator = canModerate(r.role) && r.kind !== "dm";
  $("settings-title").textContent = r.kind === "dm" ? "Conversation settings" : `#${r.name} settings`;
  $("settings-moderation").hidden = !moderator;
  $("settings-room-title").value = r.title ?? "";
  $("settings-topic").value = r.topic ?? "";
  $("settings-notify").replaceChildren(
    ...LEVELS.map((l) => h("option", { value: l.value, selected: (r.notify ?? "all") === l.value }, l.label)),
  );
  $("settings-desktop").hidden = !canAskPermission();
  $("delete-room").hidden = r.role !== "owner" || r.kind === "dm";
  $("settings-error").textContent = "";
  $("settings-dialog").showModal();
}

async function saveSettings(event) {
  event.preventDefault();
  const name = activeRoom();
  const r = roomOf(name);
  if (!r) return;
  const error = $("settings-error");
  try {
    const level = $("settings-notify").value;
    if (level !== (r.notify ?? "all")) {
      const answer = await api.setNotify(name, level);
      updateRoom(name, (x) => ({ ...x, notify: answer?.notify ?? level }));
    }
    if (!$("settings-moderation").hidden) {
      const changes = {};
      const title = $("settings-room-title").value.trim();
      const topic = $("settings-topic").value.trim();
      if (title !== (r.title ?? "")) changes.title = title;
      if (topic !== (r.topic ?? "")) changes.topic = topic;
      if (Object.keys(changes).length) {
        const answer = await api.patchRoom(name, changes);
        updateRoom(name, (x) => ({ ...x, ...changes, ...(answer ?? {}) }));
      }
    }
    $("settings-dialog").close();
  } catch (err) {
    error.textContent = describeError(err);
  }
}

async function deleteRoom() {
  const name = activeRoom();
  if (!name || !window.confirm(`Delete #${name} and everything said in it, for everyone?`)) return;
  if (await attempt(() => api.deleteRoom(name))) {
    $("settings-dialog").close();
    forgetRoom(name);
  }
}

export function wireDialogs() {
  $("create-form").addEventListener("submit", createRoom);
  $("room-name-input").addEventListener("input", (e) => {
    const el = e.target;
    const lower = el.value.toLowerCase().replace(/\s/g, "-");
    if (lower !== el.value) el.value = lower;
  });
  $("dm-form").addEventListener("submit", openDm);
  $("settings-form").addEventListener("submit", saveSettings);
  $("delete-room").addEventListener("click", deleteRoom);
  $("enable-notifications").addEventListener("click", async () => {
    await askPermission();
    $("settings-desktop").hidden = !canAskPermission();
  });
  for (const button of document.querySelectorAll("dialog [data-close]")) {
    button.addEventListener("click", () => button.closest("dialog").close());
  }
}
