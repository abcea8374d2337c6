// Small shared UI pieces: element lookup, toasts, screen-reader announcements, errors.

import { ApiError } from "./api.js";

export const $ = (id) => document.getElementById(id);

let toastTimer = null;

/** A short message at the bottom of the screen for a few seconds. */
export function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 5_000);
}

/** Say something to screen readers. */
export function announce(text) {
  const el = $("announcer");
  el.textContent = "";
  // A fresh node makes screen readers speak it even if the text repeats.
  requestAnimationFrame(() => (el.textContent = text));
}

/** A failure in words for people. */
export function describeError(err) {
  if (err instanceof ApiError) {
    if (err.status === 0) return "The server cannot be reached. Check your connection.";
    return err.detail || err.code;
  }
  return String(err?.message ?? err);
}

/** Run an API call from a button: failures become a toast; answers true on success. */
export async function attempt(call) {
  try {
    await call();
    return true;
  } catch (err) {
    toast(describeError(err));
    return false;
  }
}
