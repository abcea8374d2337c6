// The Confab browser client: accounts, rooms, live messages, images and presence.

import { Api, ApiError } from "./api.js";
import { avatar, h, icon, newClientId } from "./dom.js";
import { installDevices } from "./devices.js";
import { Live } from "./live.js";
import { place, regroup, renderMessage, renderPending } from "./messages.js";
import { Timeline } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "confab.token";
const USER_KEY = "confab.user";
const LAST_ROOM_KEY = "confab.lastRoom";
const USERNAME_RE = /^[a-z0-9_.-]{3,32}$/;
const ROOM_RE = /^[a-z0-9_-]{1,64}$/;
const MAX_TEXT = 4000;
const PAGE = 50;
const TYPING_SEND_EVERY_MS = 3_000;
const TYPING_SHOWN_MS = 6_000;
const ACK_TIMEOUT_MS = 10_000;
const wide = window.matchMedia("(min-width: 1100px)");
const finePointer = window.matchMedia("(pointer: fine)");
const hoverless = window.matchMedia("(hover: none)");

const state = {
  token: localStorage.getItem(TOKEN_KEY),
  user: localStorage.getItem(USER_KEY),
  rooms: new Map(), // name -> room JSON (mine and public ones)
  active: null,
  timelines: new Map(), // name -> Timeline
  members: new Map(), // name -> Map(user -> online)
  typing: new Map(), // name -> Map(user -> expiry time)
  read: {}, // name -> last seq read
  outbox: new Map(), // client_id -> a message being sent
  files: [], // images attached in the composer
  joined: new Set(), // rooms joined on the current socket
  resuming: new Set(), // rooms whose replay is under way
  catchingUp: new Set(),
  editing: null, // seq of the message being edited in the active room
  unseen: 0, // new messages below the fold
  lastTypingSent: 0,
};

const api = new Api(
  () => state.token,
  () => signedOut("Your session has ended. Please sign in again."),
);
const live = new Live({
  url: async () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ticket = await api.wsTicket();
    return `${scheme}://${location.host}/ws?ticket=${encodeURIComponent(ticket)}`;
  },
  onFrame: (frame) => onFrame(frame),
  onState: (s, info) => onConnState(s, info),
});
// A handle for debugging from the console (and for the browser test).
window.confab = { state, live, receive: (frame) => onFrame(frame) };

// ---------------------------------------------------------------- helpers

function timeline(room) {
  let tl = state.timelines.get(room);
  if (!tl) {
    tl = new Timeline(room);
    state.timelines.set(room, tl);
  }
  return tl;
}

function roomMembers(room) {
  let m = state.members.get(room);
  if (!m) {
    m = new Map();
    state.members.set(room, m);
  }
  return m;
}

function myRooms() {
  return [...state.rooms.values()]
    .filter((r) => r.member !== false)
    .sort((a, b) => a.name.localeCompare(b.name));
}

function isOwner(room) {
  return state.rooms.get(room)?.owner === state.user;
}

let toastTimer = null;
function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 5_000);
}

function announce(text) {
  const el = $("announcer");
  el.textContent = "";
  // A fresh node makes screen readers speak it even if the text repeats.
  requestAnimationFrame(() => (el.textContent = text));
}

function describeError(err) {
  if (err instanceof ApiError) {
    if (err.status === 0) return "The server cannot be reached. Check your connection.";
    return err.detail || err.code;
  }
  return String(err?.message ?? err);
}

// ---------------------------------------------------------------- unread counts

function readKey() {
  return `confab.read.${state.user}`;
}

function loadRead() {
  try {
    state.read = JSON.parse(localStorage.getItem(readKey()) ?? "{}") ?? {};
  } catch {
    state.read = {};
  }
}

function saveRead() {
  localStorage.setItem(readKey(), JSON.stringify(state.read));
}

function unread(room) {
  const r = state.rooms.get(room);
  if (!r) return 0;
  return Math.max(0, (r.last_seq ?? 0) - (state.read[room] ?? 0));
}

function viewing(room) {
  return room === state.active && document.visibilityState === "visible";
}

function markRead() {
  const room = state.active;
  if (!room || !viewing(room) || !timeline(room).loaded) return;
  const last = state.rooms.get(room)?.last_seq ?? 0;
  if ((state.read[room] ?? 0) < last) {
    state.read[room] = last;
    saveRead();
  }
  renderRoomList();
}

function bumpLastSeq(room, seq) {
  const r = state.rooms.get(room);
  if (r && seq > (r.last_seq ?? 0)) r.last_seq = seq;
}

// ---------------------------------------------------------------- sign in / sign up

let signingUp = false;

function setAuthMode(signup) {
  signingUp = signup;
  $("auth-title").textContent = signup ? "Create your account" : "Sign in";
  $("auth-sub").textContent = signup
    ? "Pick a username and a password of at least 8 characters."
    : "Welcome back. Talk with your rooms in real time.";
  $("auth-submit").textContent = signup ? "Create account" : "Sign in";
  $("auth-switch-text").textContent = signup ? "Already have an account?" : "New here?";
  $("auth-toggle").textContent = signup ? "Sign in" : "Create an account";
  $("auth-password").autocomplete = signup ? "new-password" : "current-password";
  $("auth-password-hint").hidden = !signup;
  $("auth-error").textContent = "";
}

async function submitAuth(event) {
  event.preventDefault();
  const username = $("auth-username").value.trim().toLowerCase();
  const password = $("auth-password").value;
  const error = $("auth-error");
  error.textContent = "";
  if (!USERNAME_RE.test(username)) {
    error.textContent = "Usernames are 3–32 letters, digits, dots, dashes or underscores.";
    $("auth-username").focus();
    return;
  }
  if (password.length < (signingUp ? 8 : 1)) {
    error.textContent = signingUp ? "Use at least 8 characters for the password." : "Enter your password.";
    $("auth-password").focus();
    return;
  }
  const button = $("auth-submit");
  button.disabled = true;
  try {
    if (signingUp) await api.register(username, password);
    const { token } = await api.signIn(username, password);
    state.token = token;
    state.user = username;
    localStorage.setItem(TOKEN_KEY, token);
    localStorage.setItem(USER_KEY, username);
    $("auth-password").value = "";
    await enterApp();
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) error.textContent = "That username is taken.";
    else if (err instanceof ApiError && err.status === 401) error.textContent = "Wrong username or password.";
    else if (err instanceof ApiError && err.status === 429) {
      error.textContent = "Too many attempts. Wait a moment and try again.";
    } else error.textContent = describeError(err);
  } finally {
    button.disabled = false;
  }
}

function showAuth(message = "") {
  $("app").hidden = true;
  $("auth").hidden = false;
  setAuthMode(false);
  $("auth-error").textContent = message;
  if (state.user) $("auth-username").value = state.user;
  ($("auth-username").value ? $("auth-password") : $("auth-username")).focus();
  document.title = "Confab";
}

function resetSession() {
  live.stop();
  state.token = null;
  localStorage.removeItem(TOKEN_KEY);
  state.rooms.clear();
  state.timelines.clear();
  state.members.clear();
  state.typing.clear();
  state.outbox.clear();
  for (const f of state.files) URL.revokeObjectURL(f.url);
  state.files = [];
  state.joined.clear();
  state.resuming.clear();
  state.active = null;
  $("messages").replaceChildren();
  $("room-list").replaceChildren();
}

function signedOut(message) {
  if (!state.token) return;
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
  loadRead();
  $("me-avatar").replaceChildren(avatar(state.user, "avatar-sm"));
  $("me-name").textContent = state.user;
  app.classList.toggle("members-open", wide.matches);
  try {
    await refreshRooms();
  } catch (err) {
    if (!state.token) return;
    toast(describeError(err));
  }
  if (!state.token) return;
  live.start();
  const fromHash = decodeURIComponent(location.hash.slice(1));
  const last = localStorage.getItem(LAST_ROOM_KEY);
  const mine = myRooms();
  const pick = [fromHash, last].find((n) => n && state.rooms.get(n)?.member !== false && state.rooms.has(n));
  openRoom(pick ?? mine[0]?.name ?? null);
}

// ---------------------------------------------------------------- rooms

async function refreshRooms() {
  const list = await api.rooms();
  const seen = new Set();
  for (const r of list) {
    seen.add(r.name);
    const known = state.rooms.get(r.name);
    // A live frame may have told us of newer messages than this answer.
    if (known && (known.last_seq ?? 0) > (r.last_seq ?? 0)) r.last_seq = known.last_seq;
    state.rooms.set(r.name, r);
    // A room seen for the first time on this device starts read: its old history is not news.
    if (r.member !== false && state.read[r.name] === undefined) state.read[r.name] = r.last_seq ?? 0;
  }
  for (const name of [...state.rooms.keys()]) if (!seen.has(name)) state.rooms.delete(name);
  saveRead();
  renderRoomList();
  if (live.open) for (const r of myRooms()) joinLive(r.name);
}

function renderRoomList() {
  const list = $("room-list");
  const rooms = myRooms();
  let total = 0;
  list.replaceChildren(
    ...rooms.map((r) => {
      const active = r.name === state.active;
      const count = active && viewing(r.name) ? 0 : unread(r.name);
      total += count;
      return h(
        "li",
        {},
        h(
          "a",
          {
            class: `room-link${count ? " has-unread" : ""}`,
            href: `#${encodeURIComponent(r.name)}`,
            "aria-current": active ? "page" : false,
          },
          icon(r.private ? "lock" : "hash"),
          h("span", { class: "room-label" }, r.name),
          count > 0 &&
            h(
              "span",
              { class: "badge", "aria-label": `${count} unread` },
              count > 99 ? "99+" : String(count),
            ),
        ),
      );
    }),
  );
  $("no-rooms").hidden = rooms.length > 0;
  $("menu-badge").hidden = total === 0;
  const prefix = total ? `(${total}) ` : "";
  document.title = `${prefix}${state.active ? `#${state.active} · ` : ""}Confab`;
}

function joinLive(room) {
  if (state.joined.has(room)) return;
  if (live.send({ type: "join", room })) state.joined.add(room);
}

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
    const room = await api.createRoom(name, topic || undefined, isPrivate);
    state.rooms.set(room.name, { member: true, last_seq: 0, ...room });
    state.read[room.name] = room.last_seq ?? 0;
    saveRead();
    $("create-dialog").close();
    joinLive(room.name);
    location.hash = encodeURIComponent(room.name);
  } catch (err) {
    error.textContent = err instanceof ApiError && err.status === 409
      ? "A room with that name already exists."
      : describeError(err);
  }
}

function openCreateDialog() {
  $("create-form").reset();
  $("create-error").textContent = "";
  $("create-dialog").showModal();
  $("room-name-input").focus();
}

async function openBrowseDialog() {
  const dialog = $("browse-dialog");
  const list = $("browse-list");
  $("browse-error").textContent = "";
  list.replaceChildren(h("li", { class: "muted" }, "Loading…"));
  $("browse-empty").hidden = true;
  dialog.showModal();
  try {
    await refreshRooms();
  } catch (err) {
    $("browse-error").textContent = describeError(err);
  }
  const rooms = [...state.rooms.values()]
    .filter((r) => r.member === false && !r.private)
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
          h("span", { class: "browse-name" }, icon("hash"), r.name),
          r.topic && h("span", { class: "muted small" }, r.topic),
          h("span", { class: "muted small" }, `${r.members ?? 0} member${r.members === 1 ? "" : "s"}`),
        ),
        h(
          "button",
          { type: "button", class: "btn btn-primary", onclick: () => joinRoom(r.name), "aria-label": `Join ${r.name}` },
          "Join",
        ),
      ),
    ),
  );
}

async function joinRoom(name) {
  try {
    await api.joinRoom(name);
    $("browse-dialog").close();
    await refreshRooms();
    const r = state.rooms.get(name);
    if (r) r.member = true;
    state.read[name] = r?.last_seq ?? 0;
    saveRead();
    joinLive(name);
    location.hash = encodeURIComponent(name);
  } catch (err) {
    $("browse-error").textContent = describeError(err);
  }
}

async function leaveRoom() {
  const room = state.active;
  if (!room || !window.confirm(`Leave #${room}?`)) return;
  try {
    await api.removeMember(room, state.user);
  } catch (err) {
    toast(describeError(err));
    return;
  }
  forgetRoom(room);
}

function forgetRoom(room) {
  live.send({ type: "leave", room });
  state.joined.delete(room);
  state.timelines.delete(room);
  state.members.delete(room);
  const r = state.rooms.get(room);
  if (r) {
    if (r.private) state.rooms.delete(room);
    else r.member = false;
  }
  if (state.active === room) {
    history.replaceState(null, "", location.pathname);
    openRoom(myRooms()[0]?.name ?? null);
  }
  renderRoomList();
}

async function invite(event) {
  event.preventDefault();
  const input = $("invite-name");
  const name = input.value.trim().toLowerCase();
  if (!state.active || !name) return;
  try {
    await api.invite(state.active, name);
    input.value = "";
    toast(`${name} was invited to #${state.active}.`);
  } catch (err) {
    toast(describeError(err));
  }
}

// ---------------------------------------------------------------- the open room

const app = $("app");
const list = $("messages");
const scroller = $("timeline");
let stick = true; // the view follows new messages while it is at the bottom

function nearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}

function scrollToBottom() {
  scroller.scrollTop = scroller.scrollHeight;
  stick = true;
  state.unseen = 0;
  $("jump").hidden = true;
}

function openRoom(name) {
  closePanels();
  if (name && !(state.rooms.get(name)?.member !== false && state.rooms.has(name))) name = null;
  const changed = name !== state.active;
  if (changed) cancelEdit();
  state.active = name;
  const r = name ? state.rooms.get(name) : null;
  app.classList.toggle("no-room", !name);
  $("welcome").hidden = !!name;
  scroller.hidden = !name;
  $("composer").hidden = !name;
  $("toggle-members").hidden = !name;
  $("room-name").replaceChildren(name ? h("span", { class: "room-hash" }, r.private ? icon("lock") : "#") : "", name ?? "Confab");
  $("room-topic").textContent = r?.topic ?? "";
  $("message-input").placeholder = name ? `Message #${name}` : "Message";
  if (!name) {
    list.replaceChildren();
    renderRoomList();
    renderMembers();
    renderTyping();
    return;
  }
  localStorage.setItem(LAST_ROOM_KEY, name);
  if (decodeURIComponent(location.hash.slice(1)) !== name) {
    history.replaceState(null, "", `#${encodeURIComponent(name)}`);
  }
  if (changed) {
    renderFiles();
    if (!state.members.has(name)) loadMembers(name);
    const tl = timeline(name);
    if (tl.state === "idle") loadLatest(name);
    else renderTimeline();
  }
  renderMembers();
  renderTyping();
  markRead();
  if (finePointer.matches) $("message-input").focus();
}

function renderTimeline() {
  const room = state.active;
  const tl = timeline(room);
  const canModerate = isOwner(room);
  list.replaceChildren(
    ...tl.ordered().map((m) => renderMessage(m, { me: state.user, canModerate })),
    ...[...state.outbox.values()].filter((e) => e.room === room).map((e) => renderPending(e, state.user)),
  );
  for (const li of list.children) regroup(li);
  updateHistoryStatus();
  scrollToBottom();
  requestAnimationFrame(() => maybeLoadOlder());
}

function updateHistoryStatus(text) {
  const el = $("history-status");
  if (text !== undefined) {
    el.replaceChildren(text);
    return;
  }
  const tl = state.active ? timeline(state.active) : null;
  if (!tl || !tl.loaded) el.replaceChildren(tl?.state === "loading" ? "Loading messages…" : "");
  else if (!tl.hasOlder) {
    el.replaceChildren(
      h("span", { class: "room-start" }, icon("hash"), h("strong", {}, `Welcome to #${state.active}`)),
      h("span", { class: "muted small" }, "This is the very beginning of the room."),
    );
  } else el.replaceChildren("");
}

async function loadLatest(room) {
  const tl = timeline(room);
  tl.state = "loading";
  if (room === state.active) {
    list.replaceChildren();
    updateHistoryStatus();
  }
  let page;
  try {
    page = await api.history(room, { limit: PAGE });
  } catch (err) {
    if (state.timelines.get(room) !== tl) return;
    tl.state = "idle";
    if (room === state.active) {
      updateHistoryStatus(
        h(
          "span",
          {},
          "Couldn't load the messages. ",
          h("button", { type: "button", class: "link", onclick: () => loadLatest(room) }, "Try again"),
        ),
      );
    }
    return;
  }
  if (state.timelines.get(room) !== tl) return; // the room was left meanwhile
  tl.setLatest(page.messages ?? [], !!page.has_more);
  for (const m of page.messages ?? []) resolvePending(m);
  if (tl.hi !== null) bumpLastSeq(room, tl.hi);
  if (room === state.active) {
    renderTimeline();
    markRead();
  }
  // Messages may have been posted while the page was on its way and the socket was down.
  if (tl.hasGap || (state.rooms.get(room)?.last_seq ?? 0) > (tl.hi ?? 0)) catchUp(room);
}

function maybeLoadOlder() {
  if (!state.active || scroller.hidden) return;
  if (scroller.scrollTop < 400) loadOlder();
}

async function loadOlder() {
  const room = state.active;
  const tl = timeline(room);
  if (!tl.loaded || !tl.hasOlder || tl.loadingOlder || tl.lo === null) return;
  tl.loadingOlder = true;
  updateHistoryStatus("Loading older messages…");
  try {
    const page = await api.history(room, { before: tl.lo, limit: PAGE });
    if (state.timelines.get(room) !== tl) return;
    const fresh = tl.addOlder(page.messages ?? [], !!page.has_more);
    if (room !== state.active) return;
    const height = scroller.scrollHeight;
    const top = scroller.scrollTop;
    const canModerate = isOwner(room);
    const nodes = fresh
      .sort((a, b) => a.seq - b.seq)
      .map((m) => renderMessage(m, { me: state.user, canModerate }));
    const firstOld = list.firstElementChild;
    list.prepend(...nodes);
    for (const li of nodes) regroup(li);
    regroup(firstOld);
    // Keep the messages the reader is looking at where they are.
    scroller.scrollTop = top + (scroller.scrollHeight - height);
  } catch (err) {
    if (room === state.active) {
      updateHistoryStatus(
        h(
          "span",
          {},
          "Couldn't load older messages. ",
          h("button", { type: "button", class: "link", onclick: () => loadOlder() }, "Try again"),
        ),
      );
    }
    return;
  } finally {
    tl.loadingOlder = false;
  }
  if (room !== state.active) return;
  updateHistoryStatus();
  requestAnimationFrame(() => maybeLoadOlder());
}

/** Fetch what we miss after `hi` over HTTP (a gap seen outside a resume). */
async function catchUp(room) {
  if (state.catchingUp.has(room) || state.resuming.has(room)) return;
  const tl = timeline(room);
  if (!tl.loaded) return;
  state.catchingUp.add(room);
  try {
    for (let round = 0; round < 20; round += 1) {
      const page = await api.history(room, { after: tl.hi ?? 0, limit: 100 });
      if (state.timelines.get(room) !== tl) return;
      const messages = page.messages ?? [];
      for (const m of messages) acceptMessage(room, m, "replay");
      if (!page.has_more) {
        // Everything up to the newest page entry exists: close any gap left by deletions.
        const top = messages.length ? messages[messages.length - 1].seq : tl.hi ?? 0;
        tl.completeTo(top);
        break;
      }
      if (!messages.length) break;
    }
  } catch {
    /* the next reconnect or frame retries */
  } finally {
    state.catchingUp.delete(room);
  }
}

// ---------------------------------------------------------------- incoming messages

function resolvePending(message) {
  if (!message.client_id || message.author !== state.user) return;
  const entry = state.outbox.get(message.client_id);
  if (!entry) return;
  state.outbox.delete(message.client_id);
  for (const f of entry.files) URL.revokeObjectURL(f.url);
  list.querySelector(`li[data-pending="${CSS.escape(message.client_id)}"]`)?.remove();
}

/** Merge one message, from wherever it came; `how` is "live", "update" or "replay". */
function acceptMessage(room, message, how) {
  if (!room || typeof message.seq !== "number") return;
  bumpLastSeq(room, message.seq);
  const wasAtBottom = stick;
  resolvePending(message);
  const tl = state.timelines.get(room);
  const result = tl ? tl.put(message) : "ignored";
  if (how === "live") stopTyping(room, message.author);
  if (room === state.active && tl?.loaded && result !== "ignored" && result !== "same") {
    const merged = tl.bySeq.get(message.seq);
    const existing = list.querySelector(`li[data-seq="${message.seq}"]`);
    if (state.editing === message.seq && existing) {
      // Re-rendered from the timeline when the editor closes.
    } else {
      const li = renderMessage(merged, { me: state.user, canModerate: isOwner(room) });
      if (existing) {
        existing.replaceWith(li);
        regroup(li);
        regroup(li.nextElementSibling);
      } else place(list, li, message.seq);
    }
    if (result === "new" && how === "live" && message.author !== state.user) {
      announce(`${message.author}: ${message.text || "sent an image"}`);
      if (!wasAtBottom) {
        state.unseen += 1;
        $("jump-text").textContent = `${state.unseen} new message${state.unseen === 1 ? "" : "s"}`;
        $("jump").hidden = false;
      }
    }
    if (result === "new" && how === "live" && message.author === state.user) scrollToBottom();
  }
  if (room === state.active) markRead();
  else renderRoomList();
  if (tl?.loaded && tl.hasGap && !state.resuming.has(room)) catchUp(room);
}

function onDeleted(frame) {
  const tl = state.timelines.get(frame.room);
  const gone = tl?.markDeleted(frame.seq);
  if (!gone || frame.room !== state.active) return;
  if (state.editing === frame.seq) cancelEdit();
  const existing = list.querySelector(`li[data-seq="${frame.seq}"]`);
  if (existing) {
    const li = renderMessage(gone, { me: state.user, canModerate: isOwner(frame.room) });
    existing.replaceWith(li);
    regroup(li);
    regroup(li.nextElementSibling);
  }
}

// ---------------------------------------------------------------- the socket

function onConnState(s, info = {}) {
  const conn = $("conn");
  const banner = $("net-banner");
  conn.dataset.state = s;
  if (s === "open") {
    conn.textContent = "Online";
    banner.hidden = true;
    return;
  }
  if (s === "connecting") {
    conn.textContent = "Connecting…";
  } else if (s === "waiting") {
    state.joined.clear();
    const secs = Math.max(1, Math.round(info.retryIn / 1000));
    const offline = !navigator.onLine;
    conn.textContent = offline ? "Offline" : "Reconnecting…";
    banner.hidden = false;
    banner.replaceChildren(
      offline ? "You are offline. " : `Connection lost. Retrying in ${secs}s. `,
      h("button", { type: "button", class: "link", onclick: () => live.reconnectNow() }, "Retry now"),
    );
    for (const entry of state.outbox.values()) {
      if (entry.via === "ws" && entry.status === "sending") setPending(entry, "queued");
    }
    // A refused handshake looks like any other failure: ask the API whether the token holds.
    if (!info.opened) api.rooms().catch(() => {});
  }
}

function onFrame(f) {
  switch (f.type) {
    case "ready":
      onReady();
      break;
    case "joined":
      onJoined(f);
      break;
    case "message":
    case "message_updated": {
      const { type, ...message } = f;
      acceptMessage(message.room, message, type === "message" ? "live" : "update");
      break;
    }
    case "message_deleted":
      onDeleted(f);
      break;
    case "ack":
      onAck(f);
      break;
    case "resumed":
      onResumed(f);
      break;
    case "presence":
      setPresence(f.room, f.user, !!f.online);
      break;
    case "typing":
      onTyping(f);
      break;
    case "member_joined":
      onMemberJoined(f);
      break;
    case "member_left":
      onMemberLeft(f);
      break;
    case "error":
      onServerError(f);
      break;
    default:
      break;
  }
}

function onReady() {
  state.joined.clear();
  state.resuming.clear();
  for (const r of myRooms()) joinLive(r.name);
  // Rooms may have changed while we were away (invites, kicks).
  refreshRooms().catch(() => {});
}

function onJoined(f) {
  const room = f.room;
  state.joined.add(room);
  bumpLastSeq(room, f.last_seq ?? 0);
  if (Array.isArray(f.members)) {
    const members = new Map();
    for (const m of f.members) members.set(m.user, !!m.online);
    state.members.set(room, members);
    if (room === state.active) renderMembers();
  }
  const tl = timeline(room);
  if (tl.loaded) {
    // Replay everything after the last message we hold; the timeline drops duplicates.
    state.resuming.add(room);
    live.send({ type: "resume", room, after: tl.hi ?? 0 });
  } else {
    flushOutbox(room);
  }
  if (room === state.active) markRead();
  else renderRoomList();
}

function onResumed(f) {
  const room = f.room;
  state.resuming.delete(room);
  const tl = state.timelines.get(room);
  if (tl?.loaded && typeof f.last_seq === "number") {
    bumpLastSeq(room, f.last_seq);
    tl.completeTo(f.last_seq);
    if (tl.hasGap) catchUp(room);
  }
  flushOutbox(room);
  if (room === state.active) markRead();
  else renderRoomList();
}

function onAck(f) {
  const entry = state.outbox.get(f.client_id);
  if (!entry) return;
  entry.status = "acked";
  bumpLastSeq(entry.room, f.seq);
  const tl = state.timelines.get(entry.room);
  if (tl?.bySeq.has(f.seq)) {
    resolvePending({ ...tl.bySeq.get(f.seq), client_id: f.client_id, author: state.user });
    return;
  }
  // The message frame follows the ack; if it got lost on the way, fetch it.
  setTimeout(() => {
    if (state.outbox.has(f.client_id) && tl?.loaded) catchUp(entry.room);
  }, 3_000);
}

function setPresence(room, user, online) {
  if (!room || !user) return;
  roomMembers(room).set(user, online);
  if (room === state.active) renderMembers();
}

function onMemberJoined(f) {
  if (f.user === state.user) {
    refreshRooms().catch(() => {});
    return;
  }
  const members = roomMembers(f.room);
  if (!members.has(f.user)) members.set(f.user, true);
  const r = state.rooms.get(f.room);
  if (r) r.members = Math.max(r.members ?? 0, members.size);
  if (f.room === state.active) renderMembers();
}

function onMemberLeft(f) {
  if (f.user === state.user) {
    if (state.rooms.get(f.room)?.member !== false && state.rooms.has(f.room)) {
      toast(`You are no longer a member of #${f.room}.`);
    }
    forgetRoom(f.room);
    return;
  }
  state.members.get(f.room)?.delete(f.user);
  stopTyping(f.room, f.user);
  if (f.room === state.active) renderMembers();
}

function onServerError(f) {
  const entry = f.client_id ? state.outbox.get(f.client_id) : null;
  if (entry) {
    if (f.code === "internal") {
      setPending(entry, "queued");
      setTimeout(() => dispatch(entry), 2_000);
    } else setPending(entry, "failed", f.message || f.code);
    return;
  }
  if (f.code === "rate_limited") {
    // Unacked sends go out again after the ack timeout.
    toast("You are sending too fast. Slow down a little.");
  } else if (f.code === "not_a_member" && f.room && state.rooms.has(f.room)) {
    toast(`You are no longer a member of #${f.room}.`);
    forgetRoom(f.room);
  } else if (f.message || f.code) toast(f.message || f.code);
}

// ---------------------------------------------------------------- typing

function onTyping(f) {
  if (f.user === state.user) return;
  let users = state.typing.get(f.room);
  if (!users) {
    users = new Map();
    state.typing.set(f.room, users);
  }
  users.set(f.user, Date.now() + TYPING_SHOWN_MS);
  if (f.room === state.active) renderTyping();
  setTimeout(() => {
    if ((users.get(f.user) ?? 0) <= Date.now()) {
      users.delete(f.user);
      if (f.room === state.active) renderTyping();
    }
  }, TYPING_SHOWN_MS + 50);
}

function stopTyping(room, user) {
  if (state.typing.get(room)?.delete(user) && room === state.active) renderTyping();
}

function renderTyping() {
  const el = $("typing");
  const users = state.active ? [...(state.typing.get(state.active)?.keys() ?? [])] : [];
  let text = "";
  if (users.length === 1) text = `${users[0]} is typing…`;
  else if (users.length === 2) text = `${users[0]} and ${users[1]} are typing…`;
  else if (users.length > 2) text = "Several people are typing…";
  el.replaceChildren(text ? h("span", { class: "typing-dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")) : "", text);
  el.classList.toggle("on", !!text);
}

function sendTyping() {
  const now = Date.now();
  if (!state.active || now - state.lastTypingSent < TYPING_SEND_EVERY_MS) return;
  if (live.send({ type: "typing", room: state.active })) state.lastTypingSent = now;
}

// ---------------------------------------------------------------- members

/** Member names over HTTP, until the socket's `joined` frame brings them with presence. */
async function loadMembers(room) {
  try {
    const names = await api.members(room);
    if (state.members.has(room)) return;
    state.members.set(room, new Map(names.map((n) => [n, n === state.user && live.open])));
    if (room === state.active) renderMembers();
  } catch {
    /* the joined frame fills it in */
  }
}

function renderMembers() {
  const room = state.active;
  const members = room ? state.members.get(room) ?? new Map() : new Map();
  const r = room ? state.rooms.get(room) : null;
  const entries = [...members.entries()].sort(
    ([a, ao], [b, bo]) => Number(bo) - Number(ao) || a.localeCompare(b),
  );
  const online = entries.filter(([, o]) => o).length;
  $("member-count").textContent = String(entries.length || r?.members || 0);
  $("toggle-members").title = `${online} online`;
  $("member-list").replaceChildren(
    ...entries.map(([user, isOnline]) =>
      h(
        "li",
        { class: `member${isOnline ? " online" : ""}` },
        h("span", { class: "presence-wrap" }, avatar(user, "avatar-sm"), h("span", { class: "presence-dot" })),
        h("span", { class: "member-name" }, user),
        user === state.user && h("span", { class: "muted small" }, "you"),
        r?.owner === user && h("span", { class: "tag" }, "owner"),
        h("span", { class: "sr-only" }, isOnline ? ", online" : ", offline"),
      ),
    ),
  );
  $("invite-form").hidden = !(r?.private && r.owner === state.user);
  $("leave-room").hidden = !r || r.owner === state.user; // an owner cannot leave their room
}

// ---------------------------------------------------------------- sending

function setPending(entry, status, error) {
  entry.status = status;
  entry.error = error;
  const old = list.querySelector(`li[data-pending="${CSS.escape(entry.clientId)}"]`);
  if (old) {
    const li = renderPending(entry, state.user);
    old.replaceWith(li);
    regroup(li);
  }
}

async function submitComposer(event) {
  event?.preventDefault();
  const room = state.active;
  const input = $("message-input");
  // A message always has text (the API's rule): a picture alone is captioned by its name.
  const text = input.value.trim() || state.files.map((f) => f.file.name).join(", ");
  if (!room || !text) return;
  if (text.length > MAX_TEXT) {
    toast(`Messages are at most ${MAX_TEXT} characters.`);
    return;
  }
  if (state.files.some((f) => f.status === "error" && !f.retryable)) {
    toast("Remove the images that could not be uploaded first.");
    return;
  }
  const entry = {
    clientId: newClientId(),
    room,
    text,
    files: state.files,
    status: "sending",
    createdAt: new Date().toISOString(),
    via: state.files.length ? "http" : "ws",
    sentAt: 0,
    tries: 0,
  };
  state.files = [];
  renderFiles();
  input.value = "";
  autosize();
  state.outbox.set(entry.clientId, entry);
  const li = renderPending(entry, state.user);
  list.append(li);
  regroup(li);
  scrollToBottom();
  dispatch(entry);
}

/** Send (or send again: the client_id makes a repeat harmless). */
async function dispatch(entry) {
  if (!state.outbox.has(entry.clientId)) return;
  entry.tries += 1;
  if (entry.via === "ws") {
    entry.sentAt = Date.now();
    const sent =
      state.joined.has(entry.room) &&
      !state.resuming.has(entry.room) &&
      live.send({ type: "send", room: entry.room, text: entry.text, client_id: entry.clientId });
    setPending(entry, sent ? "sending" : "queued");
    return;
  }
  setPending(entry, "sending");
  try {
    const ids = await Promise.all(entry.files.map((f) => f.upload()));
    const message = await api.send(entry.room, entry.text, entry.clientId, ids);
    if (message && typeof message.seq === "number") acceptMessage(entry.room, message, "live");
    else state.outbox.delete(entry.clientId);
  } catch (err) {
    if (!state.outbox.has(entry.clientId)) return;
    if (err instanceof ApiError && err.retryable && entry.tries < 8) {
      setPending(entry, "queued");
      setTimeout(() => dispatch(entry), Math.min(30_000, 1_000 * 2 ** entry.tries));
    } else {
      setPending(entry, "failed", describeError(err));
    }
  }
}

function flushOutbox(room) {
  for (const entry of state.outbox.values()) {
    if (entry.room === room && entry.via === "ws" && (entry.status === "queued" || entry.status === "sending")) {
      dispatch(entry);
    }
  }
}

// Invitations to private rooms reach nobody's socket: look at the room list now and then.
setInterval(() => {
  if (state.token && live.open && document.visibilityState === "visible") refreshRooms().catch(() => {});
}, 60_000);

// A send that got no ack in time is sent again with the same client_id.
setInterval(() => {
  const now = Date.now();
  for (const entry of state.outbox.values()) {
    if (entry.via === "ws" && entry.status === "sending" && now - entry.sentAt > ACK_TIMEOUT_MS) {
      dispatch(entry);
    }
  }
}, 2_000);

function onMessageListClick(event) {
  const button = event.target.closest("button[data-action]");
  if (!button) {
    // Touch screens: a tap on a message shows its actions (there is no hover).
    const li = event.target.closest("li.msg");
    if (li && !event.target.closest("a, textarea") && hoverless.matches) {
      const was = li.classList.contains("selected");
      for (const other of list.querySelectorAll("li.msg.selected")) other.classList.remove("selected");
      li.classList.toggle("selected", !was);
    }
    return;
  }
  const li = button.closest("li.msg");
  const action = button.dataset.action;
  if (li.dataset.pending !== undefined) {
    const entry = state.outbox.get(li.dataset.pending);
    if (!entry) return;
    if (action === "retry") {
      entry.tries = 0;
      dispatch(entry);
    } else if (action === "discard") {
      state.outbox.delete(entry.clientId);
      li.remove();
    }
    return;
  }
  const seq = Number(li.dataset.seq);
  if (action === "edit") startEdit(seq);
  else if (action === "delete") deleteMessage(seq);
}

async function deleteMessage(seq) {
  const room = state.active;
  const m = timeline(room).bySeq.get(seq);
  if (!m || !window.confirm("Delete this message for everyone?")) return;
  try {
    await api.remove(room, m.id);
    onDeleted({ room, id: m.id, seq });
  } catch (err) {
    toast(describeError(err));
  }
}

// ---------------------------------------------------------------- editing

function startEdit(seq) {
  cancelEdit();
  const room = state.active;
  const m = timeline(room).bySeq.get(seq);
  const li = list.querySelector(`li[data-seq="${seq}"]`);
  if (!m || !li || m.author !== state.user || m.deleted) return;
  state.editing = seq;
  li.classList.add("editing");
  const area = h("textarea", { class: "edit-input", rows: 2, maxlength: MAX_TEXT, "aria-label": "Edit your message" });
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

function cancelEdit() {
  const seq = state.editing;
  if (seq === null) return;
  state.editing = null;
  const room = state.active;
  const m = room ? state.timelines.get(room)?.bySeq.get(seq) : null;
  const li = list.querySelector(`li[data-seq="${seq}"]`);
  if (m && li) {
    const fresh = renderMessage(m, { me: state.user, canModerate: isOwner(room) });
    li.replaceWith(fresh);
    regroup(fresh);
  }
}

async function saveEdit(value) {
  const seq = state.editing;
  const room = state.active;
  const m = timeline(room).bySeq.get(seq);
  const text = value.trim();
  if (!m || !text || text === m.text) {
    cancelEdit();
    return;
  }
  try {
    const updated = await api.edit(room, m.id, text);
    if (state.editing === seq) cancelEdit();
    if (updated && typeof updated.seq === "number") acceptMessage(room, updated, "update");
    $("message-input").focus();
  } catch (err) {
    toast(describeError(err));
  }
}

function editLastOwn() {
  const tl = timeline(state.active);
  const mine = tl.ordered().filter((m) => m.author === state.user && !m.deleted);
  if (mine.length) startEdit(mine[mine.length - 1].seq);
}

// ---------------------------------------------------------------- images

function attachFiles(files) {
  const images = [...files].filter((f) => f.type.startsWith("image/"));
  if (!images.length) {
    if (files.length) toast("Only images can be shared.");
    return;
  }
  if (!state.active) return;
  for (const file of images) {
    const item = { file, url: URL.createObjectURL(file), status: "uploading", id: null, promise: null };
    item.upload = () => {
      if (item.id) return Promise.resolve(item.id);
      if (!item.promise) {
        item.status = "uploading";
        item.promise = api.upload(file).then(
          (info) => {
            item.id = info.id;
            item.status = "done";
            renderFiles();
            return info.id;
          },
          (err) => {
            item.promise = null;
            item.status = "error";
            item.retryable = err instanceof ApiError && err.retryable;
            item.error = describeError(err);
            renderFiles();
            throw err;
          },
        );
      }
      return item.promise;
    };
    state.files.push(item);
    item.upload().catch(() => {});
  }
  renderFiles();
  $("message-input").focus();
}

function renderFiles() {
  const ul = $("pending-files");
  ul.replaceChildren(
    ...state.files.map((item) =>
      h(
        "li",
        { class: `pending-file ${item.status}`, title: item.error ?? item.file.name },
        h("img", { src: item.url, alt: item.file.name }),
        item.status === "uploading" && h("span", { class: "spinner", "aria-label": "Uploading" }),
        item.status === "error" && h("span", { class: "file-error" }, "Failed"),
        h(
          "button",
          {
            type: "button",
            class: "remove-file",
            "aria-label": `Remove ${item.file.name}`,
            onclick: () => {
              state.files = state.files.filter((f) => f !== item);
              URL.revokeObjectURL(item.url);
              renderFiles();
            },
          },
          icon("x"),
        ),
      ),
    ),
  );
  ul.hidden = state.files.length === 0;
}

let dragDepth = 0;
function hasFiles(event) {
  return [...(event.dataTransfer?.types ?? [])].includes("Files");
}

// ---------------------------------------------------------------- panels (narrow screens)

function closePanels() {
  app.classList.remove("sidebar-open");
  if (!wide.matches) app.classList.remove("members-open");
  $("scrim").hidden = true;
  $("open-sidebar").setAttribute("aria-expanded", "false");
  $("toggle-members").setAttribute("aria-expanded", String(app.classList.contains("members-open")));
}

function toggleSidebar() {
  const open = !app.classList.contains("sidebar-open");
  closePanels();
  app.classList.toggle("sidebar-open", open);
  $("scrim").hidden = !open;
  $("open-sidebar").setAttribute("aria-expanded", String(open));
  if (open) $("room-list").querySelector("a")?.focus();
}

function toggleMembers() {
  const open = !app.classList.contains("members-open");
  if (!wide.matches) closePanels();
  app.classList.toggle("members-open", open);
  $("scrim").hidden = !(open && !wide.matches);
  $("toggle-members").setAttribute("aria-expanded", String(open));
}

function autosize(area = $("message-input")) {
  area.style.height = "auto";
  area.style.height = `${Math.min(area.scrollHeight, 200)}px`;
}

// ---------------------------------------------------------------- wiring

function wire() {
  $("auth-form").addEventListener("submit", submitAuth);
  $("auth-toggle").addEventListener("click", () => {
    setAuthMode(!signingUp);
    $("auth-username").focus();
  });
  $("sign-out").addEventListener("click", signOut);
  installDevices(api, () => signedOut("You signed out on every device."));
  $("new-room").addEventListener("click", openCreateDialog);
  $("welcome-create").addEventListener("click", openCreateDialog);
  $("browse-rooms").addEventListener("click", openBrowseDialog);
  $("welcome-browse").addEventListener("click", openBrowseDialog);
  $("create-form").addEventListener("submit", createRoom);
  $("room-name-input").addEventListener("input", (e) => {
    const el = e.target;
    const lower = el.value.toLowerCase().replace(/\s/g, "-");
    if (lower !== el.value) el.value = lower;
  });
  for (const button of document.querySelectorAll("dialog [data-close]")) {
    button.addEventListener("click", () => button.closest("dialog").close());
  }
  $("leave-room").addEventListener("click", leaveRoom);
  $("invite-form").addEventListener("submit", invite);
  $("open-sidebar").addEventListener("click", toggleSidebar);
  $("close-sidebar").addEventListener("click", closePanels);
  $("toggle-members").addEventListener("click", toggleMembers);
  $("close-members").addEventListener("click", () => {
    app.classList.remove("members-open");
    closePanels();
  });
  $("scrim").addEventListener("click", closePanels);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && (app.classList.contains("sidebar-open") || (!wide.matches && app.classList.contains("members-open")))) {
      closePanels();
    }
  });
  window.addEventListener("hashchange", () => {
    if (!state.token) return;
    const name = decodeURIComponent(location.hash.slice(1));
    if (name && name !== state.active) openRoom(name);
  });
  document.addEventListener("visibilitychange", () => {
    markRead();
  });
  wide.addEventListener("change", () => {
    app.classList.toggle("members-open", wide.matches);
    closePanels();
  });

  // the message list
  list.addEventListener("click", onMessageListClick);
  scroller.addEventListener("scroll", () => {
    stick = nearBottom();
    if (stick && !$("jump").hidden) {
      state.unseen = 0;
      $("jump").hidden = true;
    }
    maybeLoadOlder();
  }, { passive: true });
  // Images and previews change heights after the fact: stay at the bottom if we were there.
  new ResizeObserver(() => {
    if (stick) scroller.scrollTop = scroller.scrollHeight;
  }).observe(list);
  $("jump").addEventListener("click", scrollToBottom);

  // the composer
  const input = $("message-input");
  $("composer").addEventListener("submit", submitComposer);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submitComposer();
    } else if (e.key === "ArrowUp" && !input.value) {
      e.preventDefault();
      editLastOwn();
    }
  });
  input.addEventListener("input", () => {
    autosize();
    if (input.value.trim()) sendTyping();
  });
  input.addEventListener("paste", (e) => {
    const files = [...(e.clipboardData?.files ?? [])].filter((f) => f.type.startsWith("image/"));
    if (files.length) {
      e.preventDefault();
      attachFiles(files);
    }
  });
  $("attach").addEventListener("click", () => $("file-input").click());
  $("file-input").addEventListener("change", (e) => {
    attachFiles(e.target.files ?? []);
    e.target.value = "";
  });
  const chat = $("chat");
  chat.addEventListener("dragenter", (e) => {
    if (!hasFiles(e) || !state.active) return;
    e.preventDefault();
    dragDepth += 1;
    $("drop-overlay").hidden = false;
  });
  chat.addEventListener("dragover", (e) => {
    if (!hasFiles(e) || !state.active) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
  });
  chat.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) $("drop-overlay").hidden = true;
  });
  chat.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragDepth = 0;
    $("drop-overlay").hidden = true;
    attachFiles(e.dataTransfer.files);
  });
}

function boot() {
  wire();
  renderFiles();
  if (state.token && state.user) enterApp();
  else showAuth();
}

boot();
