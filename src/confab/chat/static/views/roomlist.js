// The room list: rooms and direct messages, with unread and mention counts.

import { h, icon, avatar } from "../dom.js";
import { displayName } from "../model/rooms.js";
import { badgeText } from "../model/unread.js";
import { mySections } from "../stores/rooms.js";
import { session } from "../stores/session.js";
import { $ } from "../ui.js";
import { activeRoom, viewing } from "./timelineview.js";

function entry(r) {
  const active = r.name === activeRoom();
  const seen = active && viewing(r.name);
  const unread = seen ? 0 : r.unread ?? 0;
  const mentions = seen ? 0 : r.mentions ?? 0;
  const muted = r.notify === "mute";
  const name = displayName(r, session.user);
  const lead = r.kind === "dm"
    ? avatar((r.participants ?? []).find((u) => u !== session.user) ?? name, "avatar-xs")
    : icon(r.private ? "lock" : "hash");
  return h(
    "li",
    {},
    h(
      "a",
      {
        class: `room-link${unread && !muted ? " has-unread" : ""}${muted ? " muted-room" : ""}`,
        href: `#${encodeURIComponent(r.name)}`,
        "aria-current": active ? "page" : false,
        title: name,
        dataset: { room: r.name },
      },
      lead,
      h("span", { class: "room-label", dir: "auto" }, name),
      mentions > 0 &&
        h("span", { class: "badge badge-mention", "aria-label": `${mentions} mention${mentions === 1 ? "" : "s"}` }, `@${badgeText(mentions)}`),
      unread > 0 &&
        h("span", { class: `badge${muted ? " badge-muted" : ""}`, "aria-label": `${unread} unread` }, badgeText(unread)),
    ),
  );
}

/** Draw both sections, the menu dot and the window title. */
export function renderRoomList() {
  const { rooms, dms } = mySections();
  $("room-list").replaceChildren(...rooms.map(entry));
  $("dm-list").replaceChildren(...dms.map(entry));
  $("no-rooms").hidden = rooms.length > 0;
  let total = 0;
  for (const r of [...rooms, ...dms]) {
    if (r.notify === "mute" || (r.name === activeRoom() && viewing(r.name))) continue;
    total += r.unread ?? 0;
  }
  $("menu-badge").hidden = total === 0;
  const prefix = total ? `(${total}) ` : "";
  const open = activeRoom();
  document.title = `${prefix}${open ? `${$("room-name").textContent} · ` : ""}Confab`;
}
