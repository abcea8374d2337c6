// The Confab browser client: boot, session start and end, and wiring the views together.
// Each concern lives in its own module: model/ (pure rules, unit-tested under node),
// stores/ (small state holders), views/ (the DOM), and net/sync/sending (the server).

import { installDevices } from "./devices.js";
import { avatar } from "./dom.js";
import { api, live, onNet } from "./net.js";
import { clearPeople } from "./stores/people.js";
import { clearOutbox, queued } from "./stores/outbox.js";
import { clearRooms, onRoomsChanged } from "./stores/rooms.js";
import { clearToken, session } from "./stores/session.js";
import { clearTimelines } from "./stores/timelines.js";
import { $, describeError, toast } from "./ui.js";
import { acceptMessage, onConnState, onFrame } from "./sync.js";
import { onStored, startResender } from "./sending.js";
import { wireActions } from "./views/actions.js";
import { showAuth, wireAuth } from "./views/auth.js";
import { attachFiles, renderFiles, wireComposer } from "./views/composer.js";
import { openBrowseDialog, openCreateDialog, openDmDialog, openSettingsDialog, wireDialogs } from "./views/dialogs.js";
import { editLastOwn } from "./views/editor.js";
import { wireMembers } from "./views/members.js";
import { closePanels, closeRight, escapeDrawer, toggleMembers, toggleSidebar, wide } from "./views/panels.js";
import { renderRoomList } from "./views/roomlist.js";
import { forgetRoom, openRoom, refreshRooms, renderHeader, startingRoom } from "./views/roomview.js";
import { closeThread, wireThread } from "./views/thread.js";
import { markRead } from "./readmarkers.js";
import { activeRoom, list, wireScroll } from "./views/timelineview.js";

function resetSession() {
  live.stop();
  clearToken();
  clearRooms();
  clearTimelines();
  clearPeople();
  clearOutbox();
  openRoom(null);
  list().replaceChildren();
  $("room-list").replaceChildren();
  $("dm-list").replaceChildren();
}

function signedOut(message) {
  if (!session.token) return;
  resetSession();
  showAuth(message);
}

async function signOut() {
  try {
    await api.signOut();
  } catch {
    /* the token is forgotten here either way */
  }
  resetSession();
  showAuth();
}

async function enterApp() {
  $("auth").hidden = true;
  $("app").hidden = false;
  $("me-avatar").replaceChildren(avatar(session.user, "avatar-sm"));
  $("me-name").textContent = session.user;
  $("app").classList.toggle("members-open", wide.matches);
  try {
    await refreshRooms();
  } catch (err) {
    if (!session.token) return;
    toast(describeError(err));
  }
  if (!session.token) return;
  live.start();
  openRoom(startingRoom());
}

function wireDrops() {
  let depth = 0;
  const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes("Files");
  const chat = $("chat");
  chat.addEventListener("dragenter", (e) => {
    if (!hasFiles(e) || !activeRoom()) return;
    e.preventDefault();
    depth += 1;
    $("drop-overlay").hidden = false;
  });
  chat.addEventListener("dragover", (e) => {
    if (!hasFiles(e) || !activeRoom()) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
  });
  chat.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) $("drop-overlay").hidden = true;
  });
  chat.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    $("drop-overlay").hidden = true;
    attachFiles(e.dataTransfer.files);
  });
}

function wire() {
  onNet({
    unauthorized: () => signedOut("Your session has ended. Please sign in again."),
    frame: onFrame,
    state: (s, info) => {
      // A refused handshake looks like any other failure: ask the API whether the token holds.
      if (!onConnState(s, info)) api.rooms().catch(() => {});
    },
  });
  onStored(acceptMessage);
  onRoomsChanged(() => {
    renderRoomList();
    if (activeRoom()) renderHeader();
  });
  wireAuth(enterApp);
  wireDialogs();
  wireComposer({ onEditLast: editLastOwn });
  wireActions();
  wireThread();
  wireMembers({ left: forgetRoom });
  wireScroll();
  wireDrops();
  $("sign-out").addEventListener("click", signOut);
  installDevices(api, () => signedOut("You signed out on every device."));
  $("new-room").addEventListener("click", openCreateDialog);
  $("welcome-create").addEventListener("click", openCreateDialog);
  $("browse-rooms").addEventListener("click", openBrowseDialog);
  $("welcome-browse").addEventListener("click", openBrowseDialog);
  $("new-dm").addEventListener("click", () => openDmDialog());
  $("room-settings").addEventListener("click", openSettingsDialog);
  $("open-sidebar").addEventListener("click", toggleSidebar);
  $("close-sidebar").addEventListener("click", closePanels);
  // A tap on the room already open changes no hash: the drawer must close all the same.
  $("sidebar").addEventListener("click", (e) => {
    if (e.target.closest("a.room-link")) closePanels();
  });
  $("toggle-members").addEventListener("click", toggleMembers);
  $("close-members").addEventListener("click", () => closeRight());
  $("close-thread").addEventListener("click", () => closeRight(closeThread));
  $("scrim").addEventListener("click", closePanels);
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || e.defaultPrevented || document.querySelector("dialog[open]")) return;
    if (!escapeDrawer() && $("app").classList.contains("thread-open")) {
      closeRight(closeThread);
      $("message-input").focus();
    }
  });
  window.addEventListener("hashchange", () => {
    if (!session.token) return;
    const name = decodeURIComponent(location.hash.slice(1));
    if (name && name !== activeRoom()) openRoom(name);
  });
  document.addEventListener("visibilitychange", () => {
    markRead();
    renderRoomList();
  });
  wide.addEventListener("change", () => {
    $("app").classList.toggle("members-open", wide.matches);
    closePanels();
  });
  startResender();
  // A handle for debugging from the console (and for the browser test).
  window.confab = { session, live, receive: onFrame, queued };
}

wire();
renderFiles();
if (session.token && session.user) enterApp();
else showAuth();
