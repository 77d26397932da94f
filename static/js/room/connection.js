// The room socket and its protocol rules (docs/protocol.md): reconnect with jittered backoff,
// ping watchdog, seq gap detection with resync, and posts queued while the socket is down.

const FATAL_CLOSE = new Set([4400, 4401, 4403, 4404, 4410, 4429]);
const PING_EVERY = 20000;
const PING_GRACE = 10000;

export class Connection {
  constructor({ slug, onEvent, onStatus }) {
    this.slug = slug;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.attempt = 0;
    this.socket = null;
    this.closedForGood = false;
    this.lastSeq = null;
    this.resyncing = false;
    this.queue = [];  // posts typed while the socket was not open
    this.pinger = null;
    this.watchdog = null;
    window.addEventListener("online", () => this.retryNow());
  }

  connect() {
    if (this.closedForGood) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/rooms/${this.slug}/`);
    this.socket = socket;
    this.onStatus(this.attempt ? "reconnecting" : "connecting");
    socket.onopen = () => {
      this.attempt = 0;
      this.startPinging();
    };
    socket.onmessage = (message) => {
      clearTimeout(this.watchdog);
      this.watchdog = null;
      let event;
      try { event = JSON.parse(message.data); } catch { return; }
      this.receive(event);
    };
    socket.onclose = (close) => this.closed(socket, close);
  }

  receive(event) {
    if (event.type === "snapshot") {
      this.lastSeq = Number.isInteger(event.seq) ? event.seq : null;
      this.resyncing = false;
      this.onStatus("open");
      this.onEvent(event);
      this.flushQueue();
      return;
    }
    if (event.type === "closing") this.closedForGood = true;
    // Room-wide events carry seq; a missing seq means no gap checking.
    if (Number.isInteger(event.seq)) {
      if (this.lastSeq !== null && event.seq <= this.lastSeq) return;  // already applied
      if (this.lastSeq !== null && event.seq > this.lastSeq + 1 && !this.resyncing) {
        this.resyncing = true;
        this.send("resync");
      }
      this.lastSeq = event.seq;
    }
    this.onEvent(event);
  }

  startPinging() {
    clearInterval(this.pinger);
    this.pinger = setInterval(() => {
      if (!this.send("ping")) return;
      clearTimeout(this.watchdog);
      // No frame at all within the grace: the socket is dead even if it looks open.
      this.watchdog = setTimeout(() => this.socket && this.socket.close(4000), PING_GRACE);
    }, PING_EVERY);
  }

  closed(socket, close) {
    if (socket !== this.socket) return;
    clearInterval(this.pinger);
    clearTimeout(this.watchdog);
    if (this.closedForGood || FATAL_CLOSE.has(close.code)) {
      this.closedForGood = true;
      this.onStatus("closed", close.code);
      return;
    }
    this.onStatus(navigator.onLine === false ? "offline" : "reconnecting");
    const delay = Math.min(15000, 500 * 2 ** this.attempt) * (0.5 + Math.random());
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  retryNow() {
    if (this.closedForGood || !this.socket || this.socket.readyState !== WebSocket.CLOSED) return;
    clearTimeout(this.timer);
    this.connect();
  }

  get open() {
    return Boolean(this.socket && this.socket.readyState === WebSocket.OPEN);
  }

  send(type, fields = {}) {
    if (!this.open) return false;
    this.socket.send(JSON.stringify({ type, ...fields }));
    return true;
  }

  // A post goes now, or after the next snapshot if the socket is down; never dropped silently.
  post(text) {
    if (this.open && !this.queue.length) return this.send("post", { text });
    this.queue.push(text);
    return false;
  }

  flushQueue() {
    const queued = this.queue;
    this.queue = [];
    for (const text of queued) this.send("post", { text });
  }

  close() {
    this.closedForGood = true;
    if (this.socket) this.socket.close(1000);
  }
}
