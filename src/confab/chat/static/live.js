// The WebSocket connection: reconnects with backoff and checks it is alive with pings.

const PING_EVERY_MS = 20_000;
const DEAD_AFTER_MS = 10_000; // no frame this long after a ping: the link is gone
const MAX_BACKOFF_MS = 30_000;
const BASE_BACKOFF_MS = 500;
const CLOSE_SERVICE_RESTART = 1012; // a node draining for shutdown: reconnect elsewhere
const CLOSE_RATE_LIMITED = 4008;
const CLOSE_SLOW_READER = 4009;
const CLOSE_SESSION_ENDED = 4001; // signed out or expired: the next ticket request says so
const CLOSE_TOO_MANY = 4029; // too many sockets for this user on the node

/**
 * The wait before reconnect attempt number `attempt` (0 first) after a close with `code`
 * and `reason`. A draining node (1012) suggests a delay in its reason (`retry_ms=N`): wait
 * that plus a little jitter. Otherwise exponential backoff with jitter, so clients dropped
 * together never come back in step. Same rule as bench/reconnect.py.
 */
export function retryDelay(attempt, code, reason = "", random = Math.random) {
  const suggested = /retry_ms=(\d+)/.exec(reason || "");
  if (code === CLOSE_SERVICE_RESTART && suggested && attempt === 0) {
    return Number(suggested[1]) + random() * BASE_BACKOFF_MS;
  }
  if (code === CLOSE_SLOW_READER) return 200; // we fell behind: come back at once, resume
  const base = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** attempt);
  const delay = base / 2 + random() * (base / 2);
  return code === CLOSE_RATE_LIMITED ? Math.max(delay, 5_000) : delay;
}

/**
 * States passed to `onState`: "connecting", "open", "waiting" (a retry is scheduled;
 * `info.retryIn` ms, `info.opened` false if the handshake never completed), "stopped".
 */
export class Live {
  /**
   * @param {{url: () => Promise<string>, onFrame: (f: object) => void,
   *          onState: (s: string, info?: object) => void}} opts
   */
  constructor({ url, onFrame, onState }) {
    this.url = url;
    this.onFrame = onFrame;
    this.onState = onState;
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastFrameAt = 0;
    this.pingSentAt = 0;
    this.running = false;
    this.onOnline = () => this.reconnectNow();
    this.onOffline = () => this.probe();
    this.onVisible = () => {
      if (document.visibilityState === "visible") this.probe();
    };
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    if (this.running) return;
    this.running = true;
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    document.addEventListener("visibilitychange", this.onVisible);
    this.connect();
  }

  stop() {
    this.running = false;
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    document.removeEventListener("visibilitychange", this.onVisible);
    clearTimeout(this.retryTimer);
    this.drop(1000);
    this.onState("stopped");
  }

  /** Send a frame; false when the socket is not open (the caller queues and retries). */
  send(frame) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  async connect() {
    clearTimeout(this.retryTimer);
    this.drop(1000);
    this.onState("connecting");
    const attempt = (this.connecting = {}); // a newer connect() supersedes this one
    let ws;
    try {
      // The URL carries a one-time ticket, fetched per connection (never the token).
      const url = await this.url();
      if (this.connecting !== attempt || !this.running) return;
      ws = new WebSocket(url);
    } catch {
      if (this.connecting === attempt) this.scheduleRetry(false, 1006, "");
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.lastFrameAt = Date.now();
      this.pingSentAt = 0;
      this.pingTimer = setInterval(() => this.heartbeat(), 2_000);
    };
    ws.onmessage = (event) => {
      this.lastFrameAt = Date.now();
      this.pingSentAt = 0;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "ready") {
        this.attempt = 0;
        this.onState("open");
      }
      if (frame.type !== "pong") this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return; // an older socket we already gave up on
      this.ws = null;
      clearInterval(this.pingTimer);
      this.scheduleRetry(opened, event.code, event.reason);
    };
  }

  /** Forget the current socket (its late events are ignored) and close it. */
  drop(code) {
    const ws = this.ws;
    this.ws = null;
    clearInterval(this.pingTimer);
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(code);
      } catch {
        /* already closed */
      }
    }
  }

  scheduleRetry(opened, code, reason = "") {
    if (!this.running) return;
    let delay;
    if (code === CLOSE_SESSION_ENDED) {
      delay = 0; // the ticket request will be refused and the app signs out
    } else {
      delay = retryDelay(this.attempt, code, reason);
      if (code !== CLOSE_SLOW_READER) this.attempt += 1;
    }
    this.onState("waiting", { retryIn: delay, opened, code });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Try now (the network is back, or the user asked). */
  reconnectNow() {
    if (!this.running || this.open) return;
    this.attempt = 0;
    this.connect();
  }

  /** Check the link soon: a ping must be answered, or the socket is replaced. */
  probe() {
    if (!this.running) return;
    if (!this.open) {
      if (navigator.onLine) this.reconnectNow();
      return;
    }
    this.ping();
  }

  ping() {
    if (this.send({ type: "ping" }) && !this.pingSentAt) this.pingSentAt = Date.now();
  }

  heartbeat() {
    const now = Date.now();
    if (this.pingSentAt && now - this.pingSentAt > DEAD_AFTER_MS) {
      // The socket looks open but nothing comes back: the network is gone.
      this.drop(4000);
      this.scheduleRetry(true, 1006, "");
      return;
    }
    if (!this.pingSentAt && now - this.lastFrameAt > PING_EVERY_MS) this.ping();
  }
}
