// "Your devices": the sessions of this account, each revocable, and sign out everywhere.

import { h, icon } from "./dom.js";

function when(iso) {
  return new Date(iso).toLocaleString();
}

/**
 * Add a "Devices" button next to "Sign out" and the dialog it opens.
 * @param {import("./api.js").Api} api
 * @param {() => void} onEverywhere called once every session (this one too) has ended
 */
export function installDevices(api, onEverywhere) {
  const list = h("ul", { id: "device-list", class: "browse-list" });
  const error = h("p", { id: "devices-error", class: "form-error", role: "alert" });
  const everywhere = h(
    "button",
    { id: "sign-out-everywhere", class: "btn btn-danger", type: "button" },
    "Sign out everywhere",
  );
  const close = h("button", { class: "btn", type: "button" }, "Close");
  const dialog = h(
    "dialog",
    { id: "devices-dialog", class: "dialog", "aria-labelledby": "devices-title" },
    h(
      "div",
      { class: "form" },
      h("h2", { id: "devices-title" }, "Your devices"),
      h("p", { class: "muted small" }, "Each sign-in is a session. End any you do not recognise."),
      list,
      error,
      h("div", { class: "dialog-actions" }, close, everywhere),
    ),
  );
  document.body.append(dialog);

  async function refresh() {
    error.textContent = "";
    try {
      const tokens = await api.tokens();
      list.replaceChildren(
        ...tokens.map((t) =>
          h(
            "li",
            { class: "browse-item", dataset: { token: t.id } },
            h(
              "div",
              {},
              h("strong", {}, t.current ? "This device" : "Another device"),
              h("p", { class: "muted small" }, `Signed in ${when(t.created_at)}`),
            ),
            t.current
              ? null
              : h(
                  "button",
                  { class: "btn btn-ghost", type: "button", onclick: () => revoke(t.id) },
                  "Sign out",
                ),
          ),
        ),
      );
    } catch (err) {
      error.textContent = err?.detail || String(err?.message ?? err);
    }
  }

  async function revoke(id) {
    try {
      await api.revokeToken(id);
    } catch (err) {
      error.textContent = err?.detail || String(err?.message ?? err);
    }
    await refresh();
  }

  everywhere.addEventListener("click", async () => {
    try {
      await api.signOutEverywhere();
    } catch {
      /* this session is over either way */
    }
    dialog.close();
    onEverywhere();
  });
  close.addEventListener("click", () => dialog.close());

  const open = h(
    "button",
    {
      id: "devices",
      class: "icon-btn",
      type: "button",
      "aria-label": "Your devices",
      title: "Your devices",
      onclick: () => {
        dialog.showModal();
        refresh();
      },
    },
    icon("users"),
  );
  document.getElementById("sign-out").before(open);
}
