// Which room is open: its header, switching rooms, and rooms appearing or going away.

import { h, icon } from "../dom.js";
import { displayName } from "../model/rooms.js";
import { api, joinLive, leaveLive, live } from "../net.js";
import { hasMembers, forgetPeople } from "../stores/people.js";
import { dropRoom, isMine, myRooms, room as roomOf, setRooms } from "../stores/rooms.js";
import { session } from "../stores/session.js";
import { forgetTimeline, timelineOf } from "../stores/timelines.js";
import { $ } from "../ui.js";
import { renderFiles } from "./composer.js";
import { cancelEdit } from "./editor.js";
import { loadMembers, renderMembers } from "./members.js";
import { closePanels, closeRight } from "./panels.js";
import { closeThread } from "./thread.js";
import { renderTyping } from "./typing.js";
import { markRead } from "../readmarkers.js";
import { activeRoom, list, loadLatest, placeDivider, renderTimeline, setActiveRoom } from "./timelineview.js";
import { renderRoomList } from "./roomlist.js";
import { replyTo } from "./composer.js";

const LAST_ROOM_KEY = "confab.lastRoom";
const finePointer = window.matchMedia("(pointer: fine)");

/** Open `name` through the URL (so Back works and the hash names the room). */
export function goTo(name) {
  if (decodeURIComponent(location.hash.slice(1)) === name) openRoom(name);
  else location.hash = encodeURIComponent(name);
}

/** The header of the open room (its name, topic, lock). */
export function renderHeader() {
  const name = activeRoom();
  const r = name ? roomOf(name) : null;
  const mark = !r ? "" : r.kind === "dm" ? "@" : r.private ? icon("lock") : "#";
  $("room-name").replaceChildren(
    r ? h("span", { class: "room-hash" }, mark) : "",
    h("span", { class: "room-name-text", dir: "auto" }, r ? displayName(r, session.user) : "Confab"),
  );
  $("room-topic").textContent = r?.topic ?? "";
  $("room-topic").setAttribute("dir", "auto");
  $("room-settings").hidden = !r;
  $("message-input").placeholder = r ? `Message ${r.kind === "dm" ? "" : "#"}${displayName(r, session.user)}` : "Message";
}

export function openRoom(name) {
  closePanels();
  if (name && !isMine(name)) name = null;
  const changed = name !== activeRoom();
  if (changed) {
    cancelEdit();
    replyTo(null);
    closeRight(closeThread);
    if (window.matchMedia("(min-width: 1100px)").matches) $("app").classList.add("members-open");
  }
  setActiveRoom(name);
  $("app").classList.toggle("no-room", !name);
  $("welcome").hidden = !!name;
  $("timeline").hidden = !name;
  $("composer").hidden = !name;
  $("toggle-members").hidden = !name;
  renderHeader();
  if (!name) {
    list().replaceChildren();
    renderRoomList();
    renderMembers();
    renderTyping();
    return;
  }
  localStorage.setItem(LAST_ROOM_KEY, name);
  if (decodeURIComponent(location.hash.slice(1)) !== name) history.replaceState(null, "", `#${encodeURIComponent(name)}`);
  if (changed) {
    renderFiles();
    if (!hasMembers(name)) loadMembers(name);
    const tl = timelineOf(name);
    if (tl.state === "idle") loadLatest(name);
    else {
      placeDivider(name);
      renderTimeline();
    }
  }
  renderMembers();
  renderTyping();
  markRead();
  renderRoomList();
  if (finePointer.matches) $("message-input").focus();
}

/** The room to open after signing in: the URL's, the last one, or the first. */
export function startingRoom() {
  const fromHash = decodeURIComponent(location.hash.slice(1));
  const last = localStorage.getItem(LAST_ROOM_KEY);
  return [fromHash, last].find((n) => n && isMine(n)) ?? myRooms()[0]?.name ?? null;
}

/** Ask the server for the room list again (and join the new ones on the socket). */
export async function refreshRooms() {
  setRooms(await api.rooms());
  if (live.open) for (const r of myRooms()) joinLive(r.name);
  if (activeRoom()) renderHeader();
}

/** This user is no longer in `room` (left, kicked, banned, deleted). */
export function forgetRoom(room) {
  leaveLive(room);
  forgetTimeline(room);
  forgetPeople(room);
  dropRoom(room);
  if (activeRoom() === room) {
    history.replaceState(null, "", location.pathname);
    openRoom(myRooms()[0]?.name ?? null);
  }
  renderRoomList();
}
