// The rooms the client knows (mine, and public ones for the directory), by name.

import { sections } from "../model/rooms.js";
import { session } from "./session.js";

const rooms = new Map();
const listeners = new Set();

/** Call `fn` after every change (the room list and header re-render). */
export function onRoomsChanged(fn) {
  listeners.add(fn);
}

function changed() {
  for (const fn of listeners) fn();
}

export function room(name) {
  return rooms.get(name);
}

export function isMine(name) {
  const r = rooms.get(name);
  return !!r && r.member !== false;
}

export function allRooms() {
  return [...rooms.values()];
}

/** `{rooms, dms}` that I am in, sorted. */
export function mySections() {
  return sections(allRooms(), session.user);
}

export function myRooms() {
  const { rooms: r, dms } = mySections();
  return [...r, ...dms];
}

/** Replace the list with the server's answer (live counters newer than it are kept). */
export function setRooms(list) {
  const seen = new Set();
  for (const r of list) {
    seen.add(r.name);
    const known = rooms.get(r.name);
    if (known && (known.last_seq ?? 0) > (r.last_seq ?? 0)) {
      r.last_seq = known.last_seq;
      r.unread = known.unread;
      r.mentions = known.mentions;
      r.read_seq = Math.max(known.read_seq ?? 0, r.read_seq ?? 0);
    }
    rooms.set(r.name, r);
  }
  for (const name of [...rooms.keys()]) if (!seen.has(name)) rooms.delete(name);
  changed();
}

/** Add or replace one room (created, joined, `room_added`). */
export function putRoom(r) {
  rooms.set(r.name, { member: true, last_seq: 0, ...rooms.get(r.name), ...r });
  changed();
}

/** Change one room: `fn` gets the room and answers the new one. */
export function updateRoom(name, fn) {
  const r = rooms.get(name);
  if (!r) return;
  rooms.set(name, fn(r));
  changed();
}

/** I am no longer in the room: a public one stays for the directory. */
export function dropRoom(name) {
  const r = rooms.get(name);
  if (!r) return;
  if (r.private || r.kind === "dm") rooms.delete(name);
  else rooms.set(name, { ...r, member: false, role: null, unread: 0, mentions: 0 });
  changed();
}

export function clearRooms() {
  rooms.clear();
}
