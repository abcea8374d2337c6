// Who is signed in: the bearer token and the username, kept in localStorage.

const TOKEN_KEY = "confab.token";
const USER_KEY = "confab.user";

export const session = {
  token: localStorage.getItem(TOKEN_KEY),
  user: localStorage.getItem(USER_KEY),
};

export function saveSession(token, user) {
  session.token = token;
  session.user = user;
  localStorage.setItem(TOKEN_KEY, token);
  localStorage.setItem(USER_KEY, user);
}

export function clearToken() {
  session.token = null;
  localStorage.removeItem(TOKEN_KEY);
}
