// The room list as the user sees it: names to show, sections, order.

/** The name to show: a DM's other participants, a room's title, else its name. */
export function displayName(room, me) {
  if (room.kind === "dm") {
    const others = (room.participants ?? []).filter((u) => u !== me);
    return others.length ? others.join(", ") : me;
  }
  return room.title || room.name;
}

/** Rooms I am in, split into `{rooms, dms}`, each sorted by the name shown. */
export function sections(rooms, me) {
  const mine = rooms.filter((r) => r.member !== false);
  const byName = (a, b) => displayName(a, me).localeCompare(displayName(b, me));
  return {
    rooms: mine.filter((r) => r.kind !== "dm").sort(byName),
    dms: mine.filter((r) => r.kind === "dm").sort(byName),
  };
}

/** Can `role` moderate (topic, title, kick, ban, invite)? */
export function canModerate(role) {
  return role === "owner" || role === "moderator";
}

/**
 * What `myRole` may do to a member with `theirRole` (never to oneself): kick and ban for
 * moderators over members and for the owner over anyone; role changes for the owner only.
 */
export function memberActions(myRole, theirRole, isMe) {
  if (isMe || !canModerate(myRole) || theirRole === "owner") return [];
  const out = [];
  if (myRole === "owner" || theirRole === "member") out.push("kick", "ban");
  if (myRole === "owner") {
    out.push(theirRole === "moderator" ? "demote" : "promote", "transfer");
  }
  return out;
}

/** Usernames typed in a box ("alice, @bob carol"): lowercase, once each, in order. */
export function parseUserList(text) {
  const out = [];
  for (const word of (text ?? "").split(/[\s,;]+/)) {
    const name = word.replace(/^@/, "").toLowerCase();
    if (name && !out.includes(name)) out.push(name);
  }
  return out;
}
