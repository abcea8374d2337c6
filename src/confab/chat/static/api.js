// HTTP calls to the chat API and the media upload endpoint.

/** An HTTP failure: `status` 0 means the network failed (the request may be retried). */
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }

  get retryable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

const enc = encodeURIComponent;

export class Api {
  /**
   * @param {() => string | null} getToken the current bearer token
   * @param {() => void} onUnauthorized called when the server refuses the token
   */
  constructor(getToken, onUnauthorized) {
    this.getToken = getToken;
    this.onUnauthorized = onUnauthorized;
  }

  async request(method, path, { json, body, headers = {}, auth = true } = {}) {
    const init = { method, headers: { Accept: "application/json", ...headers } };
    const token = this.getToken();
    if (auth && token) init.headers.Authorization = `Bearer ${token}`;
    if (json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    } else if (body !== undefined) {
      init.body = body;
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, "network", "The server cannot be reached.");
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const code = data?.error ?? `http_${response.status}`;
      const detail = data?.detail || response.statusText || code;
      if (response.status === 401 && auth && token) this.onUnauthorized();
      throw new ApiError(response.status, code, detail);
    }
    return data;
  }

  // accounts and tokens
  register(username, password) {
    return this.request("POST", "/api/accounts", { json: { username, password }, auth: false });
  }
  signIn(username, password) {
    return this.request("POST", "/api/tokens", { json: { username, password }, auth: false });
  }
  signOut() {
    return this.request("DELETE", "/api/tokens/current");
  }
  /** A one-time ticket for the WebSocket URL (the token never goes into a URL). */
  async wsTicket() {
    return (await this.request("POST", "/api/ws-tickets")).ticket;
  }
  /** This user's sessions: `[{id, created_at, expires_at, current}]`. */
  async tokens() {
    return (await this.request("GET", "/api/tokens")).tokens ?? [];
  }
  revokeToken(id) {
    return this.request("DELETE", `/api/tokens/${enc(id)}`);
  }
  signOutEverywhere() {
    return this.request("DELETE", "/api/tokens");
  }

  // rooms
  async rooms() {
    const data = await this.request("GET", "/api/rooms");
    return Array.isArray(data) ? data : data?.rooms ?? [];
  }
  createRoom(name, topic, isPrivate) {
    return this.request("POST", "/api/rooms", { json: { name, topic, private: isPrivate } });
  }
  room(room) {
    return this.request("GET", `/api/rooms/${enc(room)}`);
  }
  /** Change the topic and/or title (moderators and the owner). */
  patchRoom(room, changes) {
    return this.request("PATCH", `/api/rooms/${enc(room)}`, { json: changes });
  }
  deleteRoom(room) {
    return this.request("DELETE", `/api/rooms/${enc(room)}`);
  }
  /** Open (or find) the direct conversation with these people. */
  openDm(users) {
    return this.request("POST", "/api/dms", { json: { users } });
  }
  setRole(room, username, role) {
    return this.request("PUT", `/api/rooms/${enc(room)}/members/${enc(username)}/role`, { json: { role } });
  }
  async bans(room) {
    const data = await this.request("GET", `/api/rooms/${enc(room)}/bans`);
    return data?.bans ?? [];
  }
  ban(room, username) {
    return this.request("POST", `/api/rooms/${enc(room)}/bans`, { json: { username } });
  }
  unban(room, username) {
    return this.request("DELETE", `/api/rooms/${enc(room)}/bans/${enc(username)}`);
  }
  setNotify(room, level) {
    return this.request("PUT", `/api/rooms/${enc(room)}/notify`, { json: { level } });
  }
  markRead(room, seq) {
    return this.request("POST", `/api/rooms/${enc(room)}/read`, { json: { seq } });
  }
  joinRoom(room) {
    return this.request("POST", `/api/rooms/${enc(room)}/members`, { json: {} });
  }
  invite(room, username) {
    return this.request("POST", `/api/rooms/${enc(room)}/members`, { json: { username } });
  }
  /** Members of a room as `[{user, role}]` (presence comes over the socket). */
  async members(room) {
    const data = await this.request("GET", `/api/rooms/${enc(room)}/members`);
    const list = Array.isArray(data) ? data : data?.members ?? [];
    return list
      .map((m) => (typeof m === "string" ? { user: m } : { user: m.user ?? m.username, role: m.role }))
      .filter((m) => m.user);
  }
  removeMember(room, username) {
    return this.request("DELETE", `/api/rooms/${enc(room)}/members/${enc(username)}`);
  }

  // messages
  /** One page: `{messages, has_more}`, in seq order. */
  history(room, { before, after, limit = 50 } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before !== undefined && before !== null) q.set("before", String(before));
    if (after !== undefined && after !== null) q.set("after", String(after));
    return this.request("GET", `/api/rooms/${enc(room)}/messages?${q}`);
  }
  send(room, text, clientId, attachments, replyTo) {
    const json = { text, client_id: clientId };
    if (attachments?.length) json.attachments = attachments;
    if (replyTo != null) json.reply_to = replyTo;
    return this.request("POST", `/api/rooms/${enc(room)}/messages`, { json });
  }
  edit(room, id, text) {
    return this.request("PATCH", `/api/rooms/${enc(room)}/messages/${id}`, { json: { text } });
  }
  remove(room, id) {
    return this.request("DELETE", `/api/rooms/${enc(room)}/messages/${id}`);
  }
  /** `{root, replies, has_more}`. */
  thread(room, id, limit = 100) {
    return this.request("GET", `/api/rooms/${enc(room)}/messages/${id}/thread?limit=${limit}`);
  }
  react(room, id, emoji) {
    return this.request("PUT", `/api/rooms/${enc(room)}/messages/${id}/reactions/${enc(emoji)}`);
  }
  unreact(room, id, emoji) {
    return this.request("DELETE", `/api/rooms/${enc(room)}/messages/${id}/reactions/${enc(emoji)}`);
  }

  // media
  /** Upload an image file; answers `{id, width, height, format, bytes}`.
   * Media takes an upload grant from the chat node, never the session token. */
  async upload(file) {
    const { grant, header } = await this.request("POST", "/api/upload-grants");
    return this.request("POST", "/media/uploads", {
      body: file,
      auth: false,
      headers: { "Content-Type": file.type || "application/octet-stream", [header]: grant },
    });
  }
}
