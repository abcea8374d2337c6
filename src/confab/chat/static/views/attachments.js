// Images attached to a message and link previews: only safe URLs, sized before they load.

import { h, icon } from "../dom.js";

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
