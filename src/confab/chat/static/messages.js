// Rendering of messages, attachments and link previews, and their place in the list.

import { avatar, fullTime, h, icon, linkified, shortTime } from "./dom.js";

const GROUP_WITHIN_MS = 5 * 60 * 1000;

/** Only links that cannot run script: same-origin paths and http(s). */
export function safeUrl(value) {
  if (typeof value !== "string" || !value) return null;
  if (value.startsWith("/") && !value.startsWith("//")) return value;
  try {
    const url = new URL(value, location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function firstUrl(obj, keys) {
  for (const key of keys) {
    const url = safeUrl(obj[key]);
    if (url) return url;
  }
  return null;
}

/**
 * What we can show of an attachment, whatever its shape: an upload id (the thumbnail is
 * not known yet) or an object carrying thumbnail URLs.
 */
export function describeAttachment(a) {
  if (typeof a === "string") return { id: a };
  if (!a || typeof a !== "object") return {};
  let thumb = firstUrl(a, ["thumbnail_url", "thumbnail", "thumb_url", "thumb", "small", "preview"]);
  if (!thumb && a.thumbnails) {
    const list = Array.isArray(a.thumbnails) ? a.thumbnails : Object.values(a.thumbnails);
    for (const t of list) {
      thumb = safeUrl(typeof t === "string" ? t : t?.url);
      if (thumb) break;
    }
  }
  const full = firstUrl(a, ["full_url", "original_url", "large_url", "large", "full", "original", "url"]);
  return {
    id: a.id ?? a.upload_id,
    thumb: thumb ?? full,
    full: full ?? thumb,
    width: Number(a.width) || null,
    height: Number(a.height) || null,
  };
}

function placeholder(label) {
  return h(
    "div",
    { class: "attachment attachment-placeholder", role: "img", "aria-label": label },
    icon("image"),
    h("span", { class: "small" }, label),
  );
}

function sized(el, info) {
  if (info.width && info.height) el.style.aspectRatio = `${info.width} / ${info.height}`;
  return el;
}

function attachmentView(a, localUrl) {
  const info = describeAttachment(a);
  if (!info.thumb && localUrl) {
    return h("div", { class: "attachment" }, h("img", { src: localUrl, alt: "Image being sent" }));
  }
  if (!info.thumb) return sized(placeholder("Preparing image…"), info);
  const img = h("img", { src: info.thumb, alt: "Shared image", loading: "lazy", decoding: "async" });
  const link = h(
    "a",
    { class: "attachment", href: info.full, target: "_blank", rel: "noopener noreferrer" },
    img,
  );
  img.addEventListener("error", () => link.replaceWith(sized(placeholder("Image unavailable"), info)), {
    once: true,
  });
  return sized(link, info);
}

export function renderAttachments(list, localUrls = []) {
  if (!list?.length && !localUrls.length) return null;
  const items = list?.length ? list : localUrls.map(() => null);
  const count = Math.min(items.length, 4);
  return h(
    "div",
    { class: `attachments n${count}` },
    items.map((a, i) => attachmentView(a, localUrls[i])),
  );
}

export function renderPreviews(previews) {
  const cards = (previews ?? [])
    .filter((p) => p && safeUrl(p.url))
    .map((p) => {
      const url = safeUrl(p.url);
      let host = "";
      try {
        host = new URL(url, location.href).hostname;
      } catch {
        host = "";
      }
      const image = safeUrl(p.image);
      return h(
        "a",
        { class: "preview", href: url, target: "_blank", rel: "noopener noreferrer nofollow ugc" },
        image && h("img", { class: "preview-image", src: image, alt: "", loading: "lazy" }),
        h(
          "div",
          { class: "preview-body" },
          h("span", { class: "preview-host" }, host),
          p.title && h("span", { class: "preview-title" }, p.title),
          p.description && h("span", { class: "preview-desc" }, p.description),
        ),
      );
    });
  return cards.length ? h("div", { class: "previews" }, cards) : null;
}

/**
 * A stored message as a list item. `me` is the signed-in user, `canModerate` whether they
 * own the room (owners may delete anyone's message).
 */
export function renderMessage(m, { me, canModerate }) {
  const own = m.author === me;
  const li = h("li", {
    class: `msg${own ? " own" : ""}${m.deleted ? " deleted" : ""}`,
    id: `msg-${m.seq}`,
    dataset: { seq: String(m.seq), author: m.author, time: m.created_at ?? "" },
  });
  const head = h(
    "div",
    { class: "msg-head" },
    h("span", { class: "msg-author" }, m.author),
    h("time", { datetime: m.created_at, title: fullTime(m.created_at) }, shortTime(m.created_at)),
    m.edited_at && !m.deleted && h("span", { class: "msg-edited", title: fullTime(m.edited_at) }, "(edited)"),
  );
  const body = m.deleted
    ? h("p", { class: "msg-text msg-gone" }, "This message was deleted.")
    : m.text && h("p", { class: "msg-text" }, linkified(m.text));
  const main = h(
    "div",
    { class: "msg-main" },
    head,
    body,
    !m.deleted && renderAttachments(m.attachments),
    !m.deleted && renderPreviews(m.previews),
  );
  li.append(avatar(m.author, "msg-avatar"), main);
  if (!m.deleted && (own || canModerate)) {
    li.append(
      h(
        "div",
        { class: "msg-actions" },
        own &&
          h(
            "button",
            { type: "button", class: "icon-btn", "data-action": "edit", "aria-label": "Edit message", title: "Edit" },
            icon("edit"),
          ),
        h(
          "button",
          { type: "button", class: "icon-btn", "data-action": "delete", "aria-label": "Delete message", title: "Delete" },
          icon("trash"),
        ),
      ),
    );
  }
  return li;
}

/** A message of ours not yet stored: shown greyed until the server has it. */
export function renderPending(entry, me) {
  const failed = entry.status === "failed";
  const status = failed
    ? h(
        "span",
        { class: "pending-status failed" },
        `Not sent${entry.error ? `: ${entry.error}` : ""}. `,
        h("button", { type: "button", class: "link", "data-action": "retry" }, "Retry"),
        " · ",
        h("button", { type: "button", class: "link", "data-action": "discard" }, "Discard"),
      )
    : h("span", { class: "pending-status" }, entry.status === "queued" ? "Waiting for the connection…" : "Sending…");
  const li = h("li", {
    class: `msg own pending${failed ? " failed" : ""}`,
    dataset: { pending: entry.clientId, author: me, time: entry.createdAt },
  });
  li.append(
    avatar(me, "msg-avatar"),
    h(
      "div",
      { class: "msg-main" },
      h("div", { class: "msg-head" }, h("span", { class: "msg-author" }, me), status),
      entry.text && h("p", { class: "msg-text" }, linkified(entry.text)),
      renderAttachments(
        [],
        entry.files.map((f) => f.url),
      ),
    ),
  );
  return li;
}

/** Mark `li` as a continuation of the message above it (same author, a few minutes apart). */
export function regroup(li) {
  if (!li || !li.classList.contains("msg")) return;
  const prev = li.previousElementSibling;
  let cont = false;
  if (prev && prev.dataset.author === li.dataset.author) {
    const gap = Date.parse(li.dataset.time) - Date.parse(prev.dataset.time);
    cont = Number.isFinite(gap) && gap >= 0 && gap < GROUP_WITHIN_MS;
  }
  li.classList.toggle("cont", cont);
}

/** Put a stored message's element at its seq position (pending ones stay last). */
export function place(list, li, seq) {
  let ref = null;
  for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
    if (node.dataset.pending !== undefined || Number(node.dataset.seq) > seq) {
      ref = node;
      continue;
    }
    break;
  }
  list.insertBefore(li, ref);
  regroup(li);
  regroup(li.nextElementSibling);
}
