// Whether a message deserves a desktop notification, given the room's level.

import { mentionsMe } from "./mentions.js";

/**
 * "all": every message by someone else; "mentions": those that mention me (a direct
 * conversation counts as mentioning its participants); "mute": none.
 */
export function shouldNotify(level, message, me, roomKind = "room") {
  if (!message || message.author === me || message.deleted) return false;
  if (level === "mute") return false;
  if (level === "mentions") return roomKind === "dm" || mentionsMe(message, me);
  return true;
}

export const LEVELS = [
  { value: "all", label: "All messages" },
  { value: "mentions", label: "Mentions only" },
  { value: "mute", label: "Mute" },
];
