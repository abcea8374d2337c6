// Members of each room (role and presence) and who is typing.

const members = new Map(); // room -> Map(user -> {online, role})
const typing = new Map(); // room -> Map(user -> expiry time)

export function membersOf(room) {
  let m = members.get(room);
  if (!m) {
    m = new Map();
    members.set(room, m);
  }
  return m;
}

export function hasMembers(room) {
  return members.has(room);
}

/** Set the whole list: `[{user, role?, online?}]`; known presence is kept. */
export function setMembers(room, list) {
  const old = members.get(room) ?? new Map();
  const next = new Map();
  for (const m of list) {
    const was = old.get(m.user);
    next.set(m.user, { online: m.online ?? was?.online ?? false, role: m.role ?? was?.role ?? "member" });
  }
  members.set(room, next);
}

export function setMember(room, user, change) {
  const m = membersOf(room);
  m.set(user, { online: false, role: "member", ...m.get(user), ...change });
}

export function removeMember(room, user) {
  members.get(room)?.delete(user);
}

export function forgetPeople(room) {
  members.delete(room);
  typing.delete(room);
}

export function clearPeople() {
  members.clear();
  typing.clear();
}

export function typingIn(room) {
  let t = typing.get(room);
  if (!t) {
    t = new Map();
    typing.set(room, t);
  }
  return t;
}
