// The live alert feed: a WebSocket that resumes from the last change it saw, so a dropped
// connection loses nothing (the server replays every change after ``since``).

const KEEPALIVE_MS = 15000; // the server pings when idle this long
const SILENCE_MS = KEEPALIVE_MS * 2 + 5000; // nothing for this long: the socket is dead

export class LiveFeed {
  /**
   * handlers: hello({seq, resumed}), change(message), status("connecting" | "up" | "down"),
   * unauthorized(), refused() (the socket never opened: the page checks its session, since a
   * browser sees a refused upgrade only as code 1006).
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.seq = null; // the last change we have applied
    this.ws = null;
    this.stopped = true;
    this.retryMs = 500;
    this.timer = null;
    this.watchdog = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.watchdog);
    if (this.ws) this.ws.close(1000);
    this.ws = null;
    this.seq = null;
  }

  /** Drop the current socket as if the network had failed (the reconnect path is the same). */
  drop() {
    if (this.ws) this.ws.close(4000, "dropped");
  }

  connect() {
    clearTimeout(this.timer);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const since = this.seq === null ? "" : `?since=${this.seq}`;
    const ws = new WebSocket(`${scheme}//${location.host}/api/live${since}`);
    this.ws = ws;
    this.opened = false;
    this.handlers.status(this.seq === null ? "connecting" : "down");
    ws.onopen = () => { this.opened = true; };
    ws.onmessage = (e) => this.receive(ws, JSON.parse(e.data));
    ws.onclose = (e) => this.closed(ws, e);
    this.feedWatchdog(ws);
  }

  receive(ws, message) {
    if (ws !== this.ws) return;
    this.feedWatchdog(ws);
    if (message.type === "hello") {
      const resumed = this.seq !== null;
      if (!resumed) this.seq = message.seq;
      this.retryMs = 500;
      this.handlers.status("up");
      this.handlers.hello({ seq: message.seq, resumed });
    } else if (message.type === "change") {
      if (this.seq !== null && message.seq <= this.seq) return; // already applied
      this.seq = message.seq;
      this.handlers.change(message);
    }
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    clearTimeout(this.watchdog);
    this.ws = null;
    if (this.stopped) return;
    if (event.code === 4401) {
      this.handlers.unauthorized();
      return;
    }
    if (!this.opened) this.handlers.refused();
    this.handlers.status("down");
    const jitter = 0.5 + Math.random();
    this.timer = setTimeout(() => this.connect(), this.retryMs * jitter);
    this.retryMs = Math.min(this.retryMs * 2, 10000);
  }

  feedWatchdog(ws) {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      if (ws === this.ws) ws.close(4000, "silent");
    }, SILENCE_MS);
  }
}
