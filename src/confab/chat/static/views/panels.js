// Side panels: the room list (a drawer on phones), and on the right either the members
// or a thread (a column on wide screens, a drawer otherwise).

import { $ } from "../ui.js";

export const wide = window.matchMedia("(min-width: 1100px)");
const app = () => $("app");

function syncAria() {
  $("open-sidebar").setAttribute("aria-expanded", String(app().classList.contains("sidebar-open")));
  $("toggle-members").setAttribute("aria-expanded", String(app().classList.contains("members-open")));
}

function showScrim() {
  const a = app().classList;
  const drawer = a.contains("sidebar-open") || (!wide.matches && (a.contains("members-open") || a.contains("thread-open")));
  $("scrim").hidden = !drawer;
}

/** Close the drawers (on wide screens the members column stays as it was). */
export function closePanels() {
  const a = app().classList;
  a.remove("sidebar-open");
  if (!wide.matches) a.remove("members-open", "thread-open");
  showScrim();
  syncAria();
}

export function toggleSidebar() {
  const open = !app().classList.contains("sidebar-open");
  closePanels();
  app().classList.toggle("sidebar-open", open);
  showScrim();
  syncAria();
  if (open) $("room-list").querySelector("a")?.focus();
}

/** Open the right-hand panel `name` ("members" or "thread"); the other one closes. */
export function openPanel(name) {
  const a = app().classList;
  a.remove("sidebar-open");
  a.toggle("members-open", name === "members");
  a.toggle("thread-open", name === "thread");
  showScrim();
  syncAria();
}

export function closeRight(onClosed = () => {}) {
  app().classList.remove("members-open", "thread-open");
  onClosed();
  showScrim();
  syncAria();
}

export function toggleMembers() {
  if (app().classList.contains("members-open")) closeRight();
  else openPanel("members");
}

/** Escape closes an open drawer; answers true if it did. */
export function escapeDrawer() {
  const a = app().classList;
  if (a.contains("sidebar-open") || (!wide.matches && (a.contains("members-open") || a.contains("thread-open")))) {
    closePanels();
    return true;
  }
  return false;
}
