// The member panel: who is here and online, roles, and the moderators' actions
// (invite, kick, ban, unban, promote/demote, hand ownership over) and leaving.

import { avatar, h } from "../dom.js";
import { canModerate, memberActions } from "../model/rooms.js";
import { api, live } from "../net.js";
import { membersOf, setMembers } from "../stores/people.js";
import { room as roomOf } from "../stores/rooms.js";
import { session } from "../stores/session.js";
import { $, attempt, toast } from "../ui.js";
import { activeRoom } from "./timelineview.js";

const ROLE_RANK = { owner: 0, moderator: 1, member: 2 };
const bans = new Map(); // room -> [username] (moderators only)
let onLeft = () => {};

/** Members by HTTP (roles), until the socket's `joined` frame brings presence. */
export async function loadMembers(room) {
  try {
    const list = await api.members(room);
    setMembers(room, list.map((m) => ({ ...m, online: m.user === session.user && live.open ? true : undefined })));
    if (room === activeRoom()) renderMembers();
  } catch {
    /* the joined frame fills it in */
  }
}

async function loadBans(room) {
  try {
    bans.set(room, await api.bans(room));
  } catch {
    bans.set(room, []);
  }
  if (room === activeRoom()) renderMembers();
}

/** A member change was made here: the server's view wins. */
function reload(room) {
  loadMembers(room);
  if (canModerate(roomOf(room)?.role)) loadBans(room);
}

const LABELS = {
  kick: "Remove from room",
  ban: "Ban",
  promote: "Make moderator",
  demote: "Make member",
  transfer: "Make owner",
};

async function act(room, user, action) {
  const calls = {
    kick: () => api.removeMember(room, user),
    ban: () => api.ban(room, user),
    promote: () => api.setRole(room, user, "moderator"),
    demote: () => api.setRole(room, user, "member"),
    transfer: () => api.setRole(room, user, "owner"),
  };
  if (action === "transfer" && !window.confirm(`Hand #${room} over to ${user}? You become a moderator.`)) return;
  if (action === "ban" && !window.confirm(`Ban ${user} from #${room}?`)) return;
  if (await attempt(calls[action])) reload(room);
}

function memberMenu(room, user, actions) {
  if (!actions.length) return null;
  return h(
    "details",
    { class: "member-menu" },
    h("summary", { class: "icon-btn", "aria-label": `Actions for ${user}`, title: "Actions" }, "⋯"),
    h(
      "div",
      { class: "menu" },
      actions.map((a) =>
        h("button", { type: "button", class: `menu-item${a === "ban" || a === "kick" ? " danger" : ""}`, onclick: () => act(room, user, a) }, LABELS[a]),
      ),
    ),
  );
}

export function renderMembers() {
  const room = activeRoom();
  const members = room ? membersOf(room) : new Map();
  const r = room ? roomOf(room) : null;
  const myRole = r?.role ?? (r?.owner === session.user ? "owner" : "member");
  const entries = [...members.entries()].sort(
    ([a, am], [b, bm]) =>
      Number(bm.online) - Number(am.online) ||
      (ROLE_RANK[am.role] ?? 3) - (ROLE_RANK[bm.role] ?? 3) ||
      a.localeCompare(b),
  );
  const online = entries.filter(([, m]) => m.online).length;
  $("member-count").textContent = String(entries.length || r?.members || 0);
  $("toggle-members").title = `${online} online`;
  $("member-list").replaceChildren(
    ...entries.map(([user, m]) => {
      const role = m.role ?? (r?.owner === user ? "owner" : "member");
      return h(
        "li",
        { class: `member${m.online ? " online" : ""}`, dataset: { user } },
        h("span", { class: "presence-wrap" }, avatar(user, "avatar-sm"), h("span", { class: "presence-dot" })),
        h("span", { class: "member-name", dir: "auto" }, user),
        user === session.user && h("span", { class: "muted small" }, "you"),
        role !== "member" && h("span", { class: "tag" }, role),
        h("span", { class: "sr-only" }, m.online ? ", online" : ", offline"),
        r?.kind !== "dm" && memberMenu(room, user, memberActions(myRole, role, user === session.user)),
      );
    }),
  );
  const moderator = canModerate(myRole) && r?.kind !== "dm";
  $("invite-form").hidden = !moderator;
  const banned = moderator ? bans.get(room) : null;
  if (moderator && banned === undefined) loadBans(room);
  $("bans-section").hidden = !banned?.length;
  $("ban-list").replaceChildren(
    ...(banned ?? []).map((user) =>
      h(
        "li",
        { class: "member" },
        avatar(user, "avatar-sm"),
        h("span", { class: "member-name", dir: "auto" }, user),
        h("button", { type: "button", class: "btn btn-small", "aria-label": `Unban ${user}`, onclick: () => unban(room, user) }, "Unban"),
      ),
    ),
  );
  $("leave-room").hidden = !r || myRole === "owner"; // the owner hands the room over first
  $("leave-room").textContent = r?.kind === "dm" ? "Leave this conversation" : "Leave this room";
}

async function unban(room, user) {
  if (await attempt(() => api.unban(room, user))) {
    bans.set(room, (bans.get(room) ?? []).filter((u) => u !== user));
    renderMembers();
  }
}

/** Banned list changed by an event (member_banned / member_unbanned). */
export function bansChanged(room, user, banned) {
  if (!bans.has(room)) return;
  const now = bans.get(room).filter((u) => u !== user);
  if (banned) now.push(user);
  bans.set(room, now.sort());
}

async function invite(event) {
  event.preventDefault();
  const input = $("invite-name");
  const name = input.value.trim().replace(/^@/, "").toLowerCase();
  const room = activeRoom();
  if (!room || !name) return;
  if (await attempt(() => api.invite(room, name))) {
    input.value = "";
    toast(`${name} was added to #${room}.`);
    reload(room);
  }
}

async function leave() {
  const room = activeRoom();
  if (!room || !window.confirm(`Leave ${$("room-name").textContent}?`)) return;
  if (await attempt(() => api.removeMember(room, session.user))) onLeft(room);
}

/** `left(room)` forgets a room this user left. */
export function wireMembers({ left }) {
  onLeft = left;
  $("invite-form").addEventListener("submit", invite);
  $("leave-room").addEventListener("click", leave);
}
