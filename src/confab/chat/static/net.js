// The client's two links to the server, the HTTP API and the socket, and which rooms the
// current socket has joined.

import { Api } from "./api.js";
import { Live } from "./live.js";
import { session } from "./stores/session.js";

const handlers = { unauthorized: () => {}, frame: () => {}, state: () => {} };

/** Where the app plugs its handlers in (set once at boot). */
export function onNet({ unauthorized, frame, state }) {
  Object.assign(handlers, { unauthorized, frame, state });
}

export const api = new Api(
  () => session.token,
  () => handlers.unauthorized(),
);

export const live = new Live({
  // A one-time ticket for each connection: the session token never appears in a URL.
  url: async () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ticket = await api.wsTicket();
    return `${scheme}://${location.host}/ws?ticket=${encodeURIComponent(ticket)}`;
  },
  onFrame: (frame) => handlers.frame(frame),
  onState: (s, info) => handlers.state(s, info),
});

export const joined = new Set(); // rooms joined on the current socket
export const resuming = new Set(); // rooms whose replay is under way

/** Join a room on the socket (once per socket). */
export function joinLive(room) {
  if (joined.has(room)) return;
  if (live.send({ type: "join", room })) joined.add(room);
}

/** Ask for every event after the timeline's `hi` (a gap, or a new socket). */
export function resumeLive(room, after) {
  if (!joined.has(room) || resuming.has(room)) return;
  if (live.send({ type: "resume", room, after })) resuming.add(room);
}

export function leaveLive(room) {
  live.send({ type: "leave", room });
  joined.delete(room);
  resuming.delete(room);
}
