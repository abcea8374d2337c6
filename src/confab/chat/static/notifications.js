// Desktop notifications (the Notification API) for messages that pass the room's level
// while the tab is hidden.

import { displayName } from "./model/rooms.js";
import { shouldNotify } from "./model/notify.js";
import { session } from "./stores/session.js";

const supported = () => typeof Notification !== "undefined";

/** Is there a permission left to ask for? */
export function canAskPermission() {
  return supported() && Notification.permission === "default";
}

/** Ask (from a click: browsers only ask on a user gesture). */
export async function askPermission() {
  if (!canAskPermission()) return;
  try {
    await Notification.requestPermission();
  } catch {
    /* old browsers: callback form only; not worth supporting */
  }
}

/** A live message of `room` arrived: notify if the tab is hidden and the level lets it. */
export function notifyMessage(room, message, onOpen) {
  if (!supported() || Notification.permission !== "granted") return;
  if (document.visibilityState === "visible") return;
  if (!shouldNotify(room.notify ?? "all", message, session.user, room.kind)) return;
  const where = room.kind === "dm" ? "" : ` in ${displayName(room, session.user)}`;
  const n = new Notification(`${message.author}${where}`, {
    body: message.deleted ? "" : message.text || "sent an image",
    tag: `${room.name}:${message.id}`,
  });
  n.onclick = () => {
    window.focus();
    onOpen(room.name);
    n.close();
  };
}
