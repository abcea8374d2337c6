// Signing in and creating an account.

import { ApiError } from "../api.js";
import { api } from "../net.js";
import { saveSession, session } from "../stores/session.js";
import { $, describeError } from "../ui.js";

const USERNAME_RE = /^[a-z0-9_.-]{3,32}$/;
let signingUp = false;
let onSignedIn = async () => {};

function setAuthMode(signup) {
  signingUp = signup;
  $("auth-title").textContent = signup ? "Create your account" : "Sign in";
  $("auth-sub").textContent = signup
    ? "Pick a username and a password of at least 8 characters."
    : "Welcome back. Talk with your rooms in real time.";
  $("auth-submit").textContent = signup ? "Create account" : "Sign in";
  $("auth-switch-text").textContent = signup ? "Already have an account?" : "New here?";
  $("auth-toggle").textContent = signup ? "Sign in" : "Create an account";
  $("auth-password").autocomplete = signup ? "new-password" : "current-password";
  $("auth-password-hint").hidden = !signup;
  $("auth-error").textContent = "";
}

async function submitAuth(event) {
  event.preventDefault();
  const username = $("auth-username").value.trim().toLowerCase();
  const password = $("auth-password").value;
  const error = $("auth-error");
  error.textContent = "";
  if (!USERNAME_RE.test(username)) {
    error.textContent = "Usernames are 3–32 letters, digits, dots, dashes or underscores.";
    $("auth-username").focus();
    return;
  }
  if (password.length < (signingUp ? 8 : 1)) {
    error.textContent = signingUp ? "Use at least 8 characters for the password." : "Enter your password.";
    $("auth-password").focus();
    return;
  }
  const button = $("auth-submit");
  button.disabled = true;
  try {
    if (signingUp) await api.register(username, password);
    const { token } = await api.signIn(username, password);
    saveSession(token, username);
    $("auth-password").value = "";
    await onSignedIn();
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) error.textContent = "That username is taken.";
    else if (err instanceof ApiError && err.status === 401) error.textContent = "Wrong username or password.";
    else if (err instanceof ApiError && err.status === 429) {
      error.textContent = "Too many attempts. Wait a moment and try again.";
    } else error.textContent = describeError(err);
  } finally {
    button.disabled = false;
  }
}

/** The sign-in screen, with an optional reason ("Your session has ended."). */
export function showAuth(message = "") {
  $("app").hidden = true;
  $("auth").hidden = false;
  setAuthMode(false);
  $("auth-error").textContent = message;
  if (session.user) $("auth-username").value = session.user;
  ($("auth-username").value ? $("auth-password") : $("auth-username")).focus();
  document.title = "Confab";
}

/** `signedIn()` runs once a token is saved. */
export function wireAuth(signedIn) {
  onSignedIn = signedIn;
  $("auth-form").addEventListener("submit", submitAuth);
  $("auth-toggle").addEventListener("click", () => {
    setAuthMode(!signingUp);
    $("auth-username").focus();
  });
}
