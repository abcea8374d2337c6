// "alice is typing…": who is typing in each room, shown for a few seconds per frame.

import { h } from "../dom.js";
import { typingIn } from "../stores/people.js";
import { session } from "../stores/session.js";
import { $ } from "../ui.js";
import { activeRoom } from "./timelineview.js";

const TYPING_SHOWN_MS = 6_000;

/** A `typing` frame. */
export function onTyping(f) {
  if (f.user === session.user) return;
  const users = typingIn(f.room);
  users.set(f.user, Date.now() + TYPING_SHOWN_MS);
  if (f.room === activeRoom()) renderTyping();
  setTimeout(() => {
    if ((users.get(f.user) ?? 0) <= Date.now()) {
      users.delete(f.user);
      if (f.room === activeRoom()) renderTyping();
    }
  }, TYPING_SHOWN_MS + 50);
}

export function stopTyping(room, user) {
  if (typingIn(room).delete(user) && room === activeRoom()) renderTyping();
}

export function renderTyping() {
  const el = $("typing");
  const room = activeRoom();
  const users = room ? [...typingIn(room).keys()] : [];
  let text = "";
  if (users.length === 1) text = `${users[0]} is typing…`;
  else if (users.length === 2) text = `${users[0]} and ${users[1]} are typing…`;
  else if (users.length > 2) text = "Several people are typing…";
  el.replaceChildren(text ? h("span", { class: "typing-dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")) : "", text);
  el.classList.toggle("on", !!text);
}
