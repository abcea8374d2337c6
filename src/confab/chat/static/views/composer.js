// The composer: text, attached images, the message replied to, @-completion, typing.

import { ApiError } from "../api.js";
import { h, icon, newClientId } from "../dom.js";
import { completeMention, mentionQuery } from "../model/mentions.js";
import { api, live } from "../net.js";
import { membersOf } from "../stores/people.js";
import { attachments } from "../stores/outbox.js";
import { $, describeError, toast } from "../ui.js";
import { submit } from "../sending.js";
import { activeRoom } from "./timelineview.js";

export const MAX_TEXT = 4000;
const TYPING_SEND_EVERY_MS = 3_000;
const state = { replyTo: null, lastTypingSent: 0, menu: [], pick: 0 };

export function autosize(area = $("message-input")) {
  area.style.height = "auto";
  area.style.height = `${Math.min(area.scrollHeight, 200)}px`;
}

/** Reply to `message` from the main composer. */
export function replyTo(message) {
  state.replyTo = message;
  $("reply-bar").hidden = !message;
  if (message) {
    $("reply-text").replaceChildren("Replying to ", h("strong", { dir: "auto" }, message.author), ": ", h("span", { dir: "auto" }, message.text));
    $("message-input").focus();
  }
}

async function submitComposer(event) {
  event?.preventDefault();
  const room = activeRoom();
  const input = $("message-input");
  // A message always has text (the API's rule): a picture alone is captioned by its name.
  const text = input.value.trim() || attachments.files.map((f) => f.file.name).join(", ");
  if (!room || !text) return;
  if (text.length > MAX_TEXT) {
    toast(`Messages are at most ${MAX_TEXT} characters.`);
    return;
  }
  if (attachments.files.some((f) => f.status === "error" && !f.retryable)) {
    toast("Remove the images that could not be uploaded first.");
    return;
  }
  const files = attachments.files;
  attachments.files = [];
  renderFiles();
  input.value = "";
  autosize();
  closeMenu();
  const replyId = state.replyTo?.id ?? null;
  replyTo(null);
  submit({
    clientId: newClientId(),
    room,
    text,
    files,
    replyTo: replyId,
    status: "sending",
    createdAt: new Date().toISOString(),
    via: files.length ? "http" : "ws",
    sentAt: 0,
    tries: 0,
  });
}

function sendTyping() {
  const now = Date.now();
  const room = activeRoom();
  if (!room || now - state.lastTypingSent < TYPING_SEND_EVERY_MS) return;
  if (live.send({ type: "typing", room })) state.lastTypingSent = now;
}

// ------------------------------------------------------------ images

export function attachFiles(files) {
  const images = [...files].filter((f) => f.type.startsWith("image/"));
  if (!images.length) {
    if (files.length) toast("Only images can be shared.");
    return;
  }
  if (!activeRoom()) return;
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
    attachments.files.push(item);
    item.upload().catch(() => {});
  }
  renderFiles();
  $("message-input").focus();
}

export function renderFiles() {
  const ul = $("pending-files");
  ul.replaceChildren(
    ...attachments.files.map((item) =>
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
              attachments.files = attachments.files.filter((f) => f !== item);
              URL.revokeObjectURL(item.url);
              renderFiles();
            },
          },
          icon("x"),
        ),
      ),
    ),
  );
  ul.hidden = attachments.files.length === 0;
}

// ------------------------------------------------------------ @-completion

function closeMenu() {
  state.menu = [];
  $("mention-menu").hidden = true;
  $("message-input").removeAttribute("aria-activedescendant");
}

function updateMenu() {
  const input = $("message-input");
  const q = mentionQuery(input.value, input.selectionStart ?? input.value.length);
  const room = activeRoom();
  if (!q || !room) return closeMenu();
  const names = [...membersOf(room).keys()];
  state.menu = completeMention(q.query, names);
  state.pick = 0;
  if (!state.menu.length) return closeMenu();
  renderMenu();
}

function renderMenu() {
  const menu = $("mention-menu");
  menu.replaceChildren(
    ...state.menu.map((name, i) =>
      h(
        "li",
        {
          id: `mention-opt-${i}`,
          role: "option",
          class: "mention-option",
          "aria-selected": String(i === state.pick),
          onmousedown: (e) => {
            e.preventDefault();
            choose(i);
          },
        },
        `@${name}`,
      ),
    ),
  );
  menu.hidden = false;
  $("message-input").setAttribute("aria-activedescendant", `mention-opt-${state.pick}`);
}

function choose(i) {
  const input = $("message-input");
  const caret = input.selectionStart ?? input.value.length;
  const q = mentionQuery(input.value, caret);
  const name = state.menu[i];
  if (!q || !name) return closeMenu();
  input.value = `${input.value.slice(0, q.start)}@${name} ${input.value.slice(caret)}`;
  const at = q.start + name.length + 2;
  input.setSelectionRange(at, at);
  closeMenu();
}

/** Keys for the open completion menu; true when the key was used. */
function menuKey(e) {
  if (!state.menu.length) return false;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    state.pick = (state.pick + (e.key === "ArrowDown" ? 1 : state.menu.length - 1)) % state.menu.length;
    renderMenu();
  } else if (e.key === "Enter" || e.key === "Tab") choose(state.pick);
  else if (e.key === "Escape") closeMenu();
  else return false;
  e.preventDefault();
  return true;
}

// ------------------------------------------------------------ wiring

/** `onEditLast` is called for ArrowUp in an empty composer (edit my last message). */
export function wireComposer({ onEditLast }) {
  const input = $("message-input");
  $("composer").addEventListener("submit", submitComposer);
  input.addEventListener("keydown", (e) => {
    if (e.isComposing || menuKey(e)) return;
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      submitComposer();
    } else if (e.key === "ArrowUp" && !input.value) {
      e.preventDefault();
      onEditLast();
    } else if (e.key === "Escape" && state.replyTo) {
      e.preventDefault();
      replyTo(null);
    }
  });
  input.addEventListener("input", () => {
    autosize();
    updateMenu();
    if (input.value.trim()) sendTyping();
  });
  input.addEventListener("blur", () => closeMenu());
  input.addEventListener("paste", (e) => {
    const files = [...(e.clipboardData?.files ?? [])].filter((f) => f.type.startsWith("image/"));
    if (files.length) {
      e.preventDefault();
      attachFiles(files);
    }
  });
  $("reply-cancel").addEventListener("click", () => {
    replyTo(null);
    input.focus();
  });
  $("attach").addEventListener("click", () => $("file-input").click());
  $("file-input").addEventListener("change", (e) => {
    attachFiles(e.target.files ?? []);
    e.target.value = "";
  });
}
