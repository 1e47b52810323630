// switchboard.js: the switchboard client for browsers and Node 20+, one
// dependency-free ES module (docs/PROTOCOL.md is the contract).
//
// What it does: connects to wsd over WebSocket (§4) and falls back to HTTP
// long-polling against switchboard-fcgi (§5.8) when WebSocket fails or is
// blocked, trying WebSocket again every upgradeIntervalMs; reconnects with
// exponential backoff and full jitter; resumes every channel from the last
// seq it delivered, so each durable event reaches a subscription exactly
// once and in seq order; keeps publishes made while offline in a bounded
// outbox and retries them with the same event id (nothing lost, nothing
// doubled); refreshes its token before expiry; measures latency; and
// follows metrics subscriptions (§4.12, or GET /metrics/overview polling).
//
// Limits: outboxLimit publishes wait at most (default 1,000); signals are
// never queued; 'sse' in options.transports is accepted and served by
// long-polling in this version. Node needs `node --experimental-websocket`
// or options.WebSocket for WebSocket; without either it long-polls.

const PROTOCOL = 'switchboard.v1';

const DEFAULTS = {
  transports: ['websocket', 'longpoll'],
  outboxLimit: 1000,
  backoff: { baseMs: 250, maxMs: 30000 },
  pingIntervalMs: 10000,
  // A ping unanswered this long loses the connection (a peer or proxy that
  // went away without closing is noticed within pingIntervalMs + this).
  pongTimeoutMs: 5000,
  upgradeIntervalMs: 60000,
  // Consecutive failures of one transport before the next one is tried.
  fallbackAfter: 3,
  // How long a connection may take to say hello and accept the token.
  openTimeoutMs: 10000,
  // Seconds a long-poll waits on the server (PROTOCOL.md §5.8: 0..60).
  pollTimeoutS: 25,
  // Publishes in flight at once on a WebSocket (HTTP sends one at a time,
  // so that they are stored in the order they were made).
  publishWindow: 64,
};

// Codes of the errors made by the client itself, besides the server's (§6.1).
const E_NETWORK = 'network'; // a connection could not be made or broke
const E_DISCONNECTED = 'disconnected'; // the connection ended before the answer
const E_TIMEOUT = 'timeout';
const E_CLOSED = 'closed'; // close() was called
const E_OFFLINE = 'offline'; // a signal while not connected
const E_OUTBOX_FULL = 'outbox_full';
const E_PROTOCOL = 'protocol'; // closed with 1002, 1003, 1007 or 1009

// Publish failures that are retried with the same id.
const RETRYABLE = new Set([E_NETWORK, E_DISCONNECTED, E_TIMEOUT, 'unavailable',
  'rate_limited', 'token_expired']);
const AUTH_CODES = new Set(['unauthorized', 'token_expired']);
// Longest subscribe list put in the upgrade request (§4.1); channels beyond
// it are subscribed by message.
const URL_SUBSCRIBE_MAX = 4096;

/** An error from switchboard or from the client: code, message, status. */
export class SwitchboardError extends Error {
  constructor(code, message, status, extra) {
    super(message || code);
    this.name = 'SwitchboardError';
    this.code = code;
    this.status = status;
    if (extra) {
      for (const k of ['channel', 'retry', 'index', 'closeCode']) {
        if (extra[k] !== undefined && extra[k] !== null) this[k] = extra[k];
      }
    }
  }

  /** From a WebSocket error message {code, message, channel?, retry?}. */
  static fromMessage(msg) {
    return new SwitchboardError(msg.code || 'internal', msg.message, undefined, msg);
  }
}

// --- small helpers --------------------------------------------------------

function uuid4() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  // randomUUID exists only in secure contexts; getRandomValues everywhere.
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The claims of a JWT (not verified: the server does that), or null. */
export function decodeToken(token) {
  try {
    const part = String(token).split('.')[1];
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((part.length + 3) % 4);
    const bin = atob(b64);
    const bytes = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

// setTimeout takes at most 2^31-1 ms.
function later(fn, ms) {
  return setTimeout(fn, Math.max(0, Math.min(ms, 0x7fffffff)));
}

function isAuthError(err) {
  return !!(err && err.auth && AUTH_CODES.has(err.code));
}

function locationOrigin() {
  const loc = globalThis.location;
  return loc && loc.origin && loc.origin !== 'null' ? loc.origin : null;
}

// --- the WebSocket transport (PROTOCOL.md §4) -----------------------------

class WsTransport {
  constructor(sb) {
    this.sb = sb;
    this.kind = 'websocket';
    this.ws = null;
    this.pending = new Map(); // ref -> {resolve, reject}
    this.nextRef = 1;
    this.opened = false;
    this.closed = false;
    this.onLost = null;
    this.pingSent = null; // {ts, timer} of the unanswered ping
    this.urlChannels = new Set(); // subscribed by the upgrade request (§4.1)
    this.early = []; // messages after auth.ok, until the client adopts this transport
    this.adopted = false;
  }

  // The upgrade URL, naming the channels to resume (§4.1: they are
  // subscribed once authenticated, and their subscribed and replay follow
  // auth.ok without waiting for the client's subscribe messages).
  _url() {
    const items = [];
    let len = 0;
    for (const [name, ch] of this.sb._channels) {
      const since = this.sb._since(ch);
      const item = since === null ? name : `${name}@${since}`;
      if (len + item.length + 1 > URL_SUBSCRIBE_MAX) break;
      items.push(item);
      len += item.length + 1;
      this.urlChannels.add(name);
    }
    const base = this.sb._wsUrl;
    if (items.length === 0) return base;
    return `${base}${base.includes('?') ? '&' : '?'}subscribe=${encodeURIComponent(items.join(','))}`;
  }

  /** The client took this transport: handle what arrived since auth.ok. */
  adopt() {
    this.adopted = true;
    for (const text of this.early.splice(0)) this._onMessage(text);
  }

  /** Resolves with auth.ok once hello came and the token was accepted. */
  open(token) {
    return new Promise((resolve, reject) => {
      const WS = this.sb._opts.WebSocket || globalThis.WebSocket;
      if (!WS) {
        reject(new SwitchboardError(E_NETWORK, 'websocket: no WebSocket in this environment'));
        return;
      }
      let settled = false;
      const timer = later(() => fail(new SwitchboardError(E_TIMEOUT,
        `websocket: no hello and auth.ok within ${this.sb._opts.openTimeoutMs} ms`)),
      this.sb._opts.openTimeoutMs);
      const fail = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.close();
        reject(err);
      };
      this._openOk = (msg) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.opened = true;
        resolve(msg);
      };
      this._openFail = fail;
      this._authRef = 'auth';
      this._token = token;
      let ws;
      try {
        ws = new WS(this._url(), PROTOCOL);
      } catch (e) {
        fail(new SwitchboardError(E_NETWORK, `websocket: ${e.message}`));
        return;
      }
      this.ws = ws;
      ws.onmessage = (m) => this._onMessage(m.data);
      // Some implementations (Node 20's) report a failed handshake by an
      // error event alone, without a close event.
      ws.onerror = () => {
        const err = new SwitchboardError(this.opened ? E_DISCONNECTED : E_NETWORK,
          this.opened ? 'connection failed' : `websocket: could not connect to ${this.sb._wsUrl}`);
        if (!settled) fail(err);
        else this._lose(err);
      };
      ws.onclose = (ev) => {
        const err = this._closeError(ev);
        if (!settled) fail(err);
        else this._lose(err);
      };
    });
  }

  _closeError(ev) {
    const code = ev && ev.code;
    const why = (ev && ev.reason) || '';
    let err;
    if (code === 4001 || code === 4002) {
      err = this._authError ||
        new SwitchboardError(code === 4001 ? 'unauthorized' : 'token_expired',
          `connection closed: ${why || code}`);
      err.auth = true;
    } else if ([1002, 1003, 1007, 1009].includes(code)) {
      err = new SwitchboardError(E_PROTOCOL, `connection closed by the server with ${code}: ${why}`);
      err.fatal = true;
    } else {
      err = new SwitchboardError(this.opened ? E_DISCONNECTED : E_NETWORK,
        this.opened ? `connection closed (${code}${why ? ': ' + why : ''})`
          : `websocket: could not connect to ${this.sb._wsUrl} (${code})`);
    }
    err.closeCode = code;
    return err;
  }

  send(obj) {
    if (this.closed || !this.ws || this.ws.readyState !== 1) {
      throw new SwitchboardError(E_DISCONNECTED, 'not connected');
    }
    this.ws.send(JSON.stringify(obj));
  }

  /** Sends msg with a fresh ref; resolves with the reply carrying it. */
  request(msg) {
    return new Promise((resolve, reject) => {
      const ref = `r${this.nextRef++}`;
      try {
        this.send({ ...msg, ref });
      } catch (e) {
        reject(e);
        return;
      }
      this.pending.set(ref, { resolve, reject });
    });
  }

  _reply(msg, isError) {
    const p = msg.ref !== undefined && this.pending.get(msg.ref);
    if (!p) return false;
    this.pending.delete(msg.ref);
    if (isError) p.reject(SwitchboardError.fromMessage(msg));
    else p.resolve(msg);
    return true;
  }

  _onMessage(text) {
    if (this.opened && !this.adopted) {
      this.early.push(text);
      return;
    }
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    const sb = this.sb;
    switch (msg && msg.op) {
      case 'hello':
        this.hello = msg;
        if (msg.auth !== 'done') {
          try {
            this.send({ op: 'auth', ref: this._authRef, token: this._token });
          } catch (e) {
            this._openFail(e);
          }
        }
        break;
      case 'auth.ok':
        if (!this.opened) this._openOk(msg);
        else this._reply(msg);
        sb._onAuth(msg, this);
        break;
      case 'error':
        this._onError(msg);
        break;
      case 'event':
        sb._deliver(msg.event, this);
        break;
      case 'events':
        for (const ev of msg.events || []) sb._deliver(ev, this);
        break;
      case 'subscribed':
        this._reply(msg);
        sb._onSubscribed(msg, this);
        break;
      case 'unsubscribed':
        this._reply(msg);
        if (msg.reason) {
          sb._onChannelError(msg.channel, new SwitchboardError(msg.reason,
            `subscription to ${msg.channel} ended: ${msg.reason}`, undefined, msg), this);
        }
        break;
      case 'metrics':
        this._reply(msg);
        sb._onMetrics(msg, this);
        break;
      case 'pong':
        if (this.pingSent && this.pingSent.ts === msg.ts) {
          clearTimeout(this.pingSent.timer);
          this.pingSent = null;
        }
        sb._onLatency(Date.now() - msg.ts, this);
        break;
      case 'reload':
        sb._reset(msg.channel, msg, this);
        break;
      default: // ack, history, presence, metrics.unsubscribed; unknown ops ignored (§9)
        this._reply(msg);
    }
  }

  _onError(msg) {
    const err = SwitchboardError.fromMessage(msg);
    if (!this.opened && AUTH_CODES.has(msg.code) && (msg.ref === this._authRef || msg.ref === undefined)) {
      err.auth = true;
      this._authError = err;
      this._openFail(err);
    } else if (this._reply(msg, true)) {
      // the request's own promise has it
    } else if (msg.code === 'token_expired') {
      this._authError = Object.assign(err, { auth: true });
      this.sb._onTokenExpired(err, this);
    } else {
      this.sb._emit('error', err);
    }
  }

  subscribe(channel, since) {
    const msg = { op: 'subscribe', channel };
    if (since !== null && since !== undefined) msg.since = since;
    this.request(msg).catch((err) => this.sb._onChannelError(channel, err, this));
  }

  unsubscribe(channel) {
    this.request({ op: 'unsubscribe', channel }).catch(() => {});
  }

  reauth(token) {
    return this.request({ op: 'auth', token });
  }

  publish(e) {
    return this.request({ op: 'publish', channel: e.channel, type: e.type, data: e.data, id: e.id })
      .then((a) => ({ channel: a.channel, seq: a.seq, id: a.id, duplicate: a.duplicate }));
  }

  signal(channel, type, data) {
    return this.request({ op: 'signal', channel, type, data })
      .then((a) => ({ channel: a.channel, seq: null, id: a.id }));
  }

  history(channel, q) {
    const msg = { op: 'history', channel };
    for (const k of ['before', 'after', 'limit']) if (q[k] !== undefined) msg[k] = q[k];
    return this.request(msg).then(({ op, ref, ...rest }) => rest);
  }

  presence(channel) {
    return this.request({ op: 'presence', channel }).then((r) => r.members);
  }

  /** A ping; unanswered after timeoutMs, it loses the connection. */
  ping(timeoutMs) {
    if (this.pingSent || this.closed) return;
    const now = Date.now();
    const sent = { ts: now, timer: null };
    this.pingSent = sent;
    sent.timer = later(() => {
      if (this.pingSent === sent) this._lose(new SwitchboardError(E_TIMEOUT, `no pong within ${timeoutMs} ms`));
    }, timeoutMs);
    try {
      this.send({ op: 'ping', ts: now });
    } catch {
      // the close event reports it
    }
  }

  _lose(err) {
    if (this.closed) return;
    this.close();
    if (this.onLost) this.onLost(err);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.pingSent) clearTimeout(this.pingSent.timer);
    this.pingSent = null;
    for (const p of this.pending.values()) {
      p.reject(new SwitchboardError(E_DISCONNECTED, 'connection closed before the answer'));
    }
    this.pending.clear();
    if (this.ws) {
      try {
        this.ws.close(1000);
      } catch {
        // already closing
      }
    }
  }
}

// --- the long-poll transport (PROTOCOL.md §5.8) ---------------------------

class PollTransport {
  constructor(sb) {
    this.sb = sb;
    this.kind = 'longpoll';
    this.closed = false;
    this.onLost = null;
    this.ac = null;
    this.wake = null;
    this.kicked = false;
  }

  /** Resolves once the server accepted the token (a cheap authenticated GET). */
  async open() {
    try {
      await this.sb._fetch('GET', '/channels?limit=1', { timeoutMs: this.sb._opts.openTimeoutMs });
    } catch (err) {
      if (AUTH_CODES.has(err.code)) err.auth = true;
      throw err;
    }
    this.sb._onAuth(null, this);
  }

  start() {
    this._loop().catch((err) => this._lose(err));
  }

  async _loop() {
    const sb = this.sb;
    const wait = sb._opts.pollTimeoutS;
    while (!this.closed) {
      const cursors = sb._cursors();
      const names = Object.keys(cursors);
      if (names.length === 0) {
        await new Promise((r) => { this.wake = r; });
        continue;
      }
      // A channel just added is confirmed (and a "from now" cursor
      // resolved) by an immediate answer.
      const timeout = sb._unconfirmed() ? 0 : wait;
      this.ac = new AbortController();
      this.kicked = false;
      let res;
      try {
        res = await sb._fetch('POST', '/poll', {
          body: { cursors, timeout, limit: 1000 },
          signal: this.ac.signal,
          timeoutMs: (timeout + 15) * 1000,
        });
      } catch (err) {
        if (this.closed) return;
        if (this.kicked) continue;
        if (err.channel && (err.status === 403 || err.status === 422)) {
          sb._onChannelError(err.channel, err, this);
          continue;
        }
        if (AUTH_CODES.has(err.code)) err.auth = true;
        this._lose(err);
        return;
      }
      if (this.closed) return;
      sb._onPoll(res, cursors, this);
    }
  }

  /** Ends the waiting poll, so that the next one has the new channel set. */
  kick() {
    this.kicked = true;
    if (this.ac) this.ac.abort();
    if (this.wake) {
      const w = this.wake;
      this.wake = null;
      w();
    }
  }

  subscribe() {
    this.kick();
  }

  unsubscribe() {
    this.kick();
  }

  reauth() {
    return Promise.resolve(null); // the next request carries the new token
  }

  publish(e) {
    return this.sb._fetch('POST', `/channels/${encodeURIComponent(e.channel)}/events`,
      { body: { type: e.type, data: e.data, id: e.id } });
  }

  signal(channel, type, data) {
    return this.sb._fetch('POST', `/channels/${encodeURIComponent(channel)}/signals`,
      { body: { type, data } });
  }

  history(channel, q) {
    return this.sb._httpHistory(channel, q);
  }

  presence(channel) {
    return this.sb._httpPresence(channel);
  }

  ping() {
    const t0 = Date.now();
    this.sb._fetch('GET', '/health', { timeoutMs: 10000, auth: false })
      .then(() => this.sb._onLatency(Date.now() - t0, this), () => {});
  }

  _lose(err) {
    if (this.closed) return;
    this.close();
    if (this.onLost) this.onLost(err);
  }

  close() {
    this.closed = true;
    this.kick();
  }
}

// --- subscriptions and metrics --------------------------------------------

class Subscription {
  constructor(sb, channel, opts) {
    this._sb = sb;
    this.channel = channel;
    this.lastSeq = Number.isInteger(opts.since) && opts.since >= 0 ? opts.since : null;
    this.active = true;
    this._h = opts;
    this.ready = new Promise((resolve, reject) => {
      this._resolve = resolve;
      this._reject = reject;
    });
    this.ready.catch(() => {}); // rejections also go to onError and 'error'
  }

  unsubscribe() {
    this._sb._unsubscribe(this);
  }

  _call(name, arg) {
    const fn = this._h[name];
    if (typeof fn !== 'function') return;
    try {
      fn(arg);
    } catch (e) {
      this._sb._emit('error', new SwitchboardError('handler', `${name} threw: ${e && e.message}`));
    }
  }
}

class MetricsSubscription {
  constructor(sb, opts, cb) {
    this._sb = sb;
    this._cb = cb;
    this.windowHours = opts.windowHours ?? 24;
    this.intervalSeconds = opts.intervalSeconds ?? 5;
    this.mode = null; // 'websocket' (pushed by wsd) or 'http' (polled)
    this.error = null;
    this.snapshot = null;
    this._last = null;
    this._timer = null;
    this._wsOnly = false;
    this.closed = false;
  }

  refresh() {
    this._fetch(true);
  }

  update({ windowHours, intervalSeconds } = {}) {
    if (windowHours !== undefined) this.windowHours = windowHours;
    if (intervalSeconds !== undefined) this.intervalSeconds = intervalSeconds;
    this._sb._metricsSync(this);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this._stopPolling();
    this._sb._metricsClose(this);
  }

  /** Calls back when the data differ from the last snapshot, or when forced. */
  _snapshot(s, force) {
    if (this.closed) return;
    const key = JSON.stringify(s.data);
    this.snapshot = s;
    if (!force && key === this._last) return;
    this._last = key;
    try {
      this._cb(s);
    } catch (e) {
      this._sb._emit('error', new SwitchboardError('handler', `metrics callback threw: ${e && e.message}`));
    }
  }

  _fetch(force) {
    const sb = this._sb;
    const t = sb._t;
    if (this.mode === 'websocket' && t && t.kind === 'websocket') {
      t.request({ op: 'metrics.refresh', window_hours: this.windowHours })
        .then((m) => this._snapshot(m, true), (err) => this._failed(err));
      return;
    }
    sb._fetch('GET', `/metrics/overview?window_hours=${encodeURIComponent(this.windowHours)}`)
      .then((r) => this._snapshot({ ...r, interval_s: this.intervalSeconds }, force),
        (err) => this._failed(err));
  }

  _failed(err) {
    if (['forbidden', 'invalid_parameter', 'bad_request'].includes(err.code)) {
      this.error = err;
      this._stopPolling();
      this._sb._emit('error', err);
    } else {
      this.error = err; // transient: the next interval tries again
    }
  }

  _startPolling() {
    this.mode = 'http';
    this._stopPolling();
    this._fetch(false);
    const every = Math.min(60, Math.max(1, this.intervalSeconds)) * 1000;
    this._timer = setInterval(() => this._fetch(false), every);
  }

  _stopPolling() {
    if (this._timer) clearInterval(this._timer);
    this._timer = null;
  }
}

// --- the client -----------------------------------------------------------

/** Emits 'state', 'latency', 'error' and 'auth'. */
export class Switchboard {
  constructor(options = {}) {
    const o = { ...DEFAULTS, ...options };
    o.backoff = { ...DEFAULTS.backoff, ...(options.backoff || {}) };
    const origin = locationOrigin();
    this._wsUrl = o.wsUrl || (origin ? origin.replace(/^http/, 'ws') + '/ws' : null);
    this._httpBase = (o.httpUrl || (origin ? origin + '/api' : '')).replace(/\/+$/, '');
    if (!this._wsUrl && !this._httpBase) {
      throw new SwitchboardError('bad_request', 'wsUrl and httpUrl are needed outside a browser page');
    }
    o.transports = (o.transports || DEFAULTS.transports).map((k) => (k === 'sse' ? 'longpoll' : k))
      .filter((k, i, a) => (k === 'websocket' || k === 'longpoll') && a.indexOf(k) === i);
    if (!this._wsUrl) o.transports = o.transports.filter((k) => k !== 'websocket');
    if (o.transports.length === 0) throw new SwitchboardError('bad_request', 'no usable transport');
    this._opts = o;
    this._token = typeof o.token === 'function' ? null : (o.token ?? null);
    this._listeners = new Map();
    this._state = 'disconnected';
    this._latency = null;
    this._t = null; // the transport in use
    this._opening = null; // a transport being opened
    this._probe = null; // a WebSocket tried while long-polling
    this._wanted = false;
    this._attempt = 0;
    this._fails = 0;
    this._tIdx = 0;
    this._timers = {};
    this._waiters = [];
    this._channels = new Map(); // channel -> {subs: Set, resyncing, signals: Set}
    this._outbox = [];
    this._flushPaused = false;
    this._metricsSubs = new Set();
    this._wsMetrics = null; // the metrics subscription wsd pushes to
  }

  get state() { return this._state; }
  get transport() { return this._t ? this._t.kind : null; }
  get latency() { return this._latency; }
  get outboxSize() { return this._outbox.length; }

  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => this.off(event, fn);
  }

  off(event, fn) {
    const s = this._listeners.get(event);
    if (s) s.delete(fn);
  }

  _emit(event, arg) {
    for (const fn of [...(this._listeners.get(event) || [])]) {
      try {
        fn(arg);
      } catch (e) {
        if (event !== 'error') this._emit('error', new SwitchboardError('handler', `${event} listener threw: ${e && e.message}`));
      }
    }
  }

  _setState(state, extra = {}) {
    this._state = state;
    this._emit('state', { state, attempt: this._attempt, transport: this.transport, ...extra });
  }

  // --- connecting --------------------------------------------------------

  /** Resolves when connected; rejects when the client gives up (bad token, close()). */
  connect() {
    if (this._state === 'connected') return Promise.resolve();
    const p = new Promise((resolve, reject) => this._waiters.push({ resolve, reject }));
    if (!this._wanted) {
      this._wanted = true;
      this._attempt = 0;
      this._fails = 0;
      this._tIdx = 0;
      this._try();
    }
    return p;
  }

  /** Tries now, with the backoff reset (a "retry" button). */
  reconnectNow() {
    if (this._t || this._opening) return;
    this._clearTimer('retry');
    this._wanted = true;
    this._attempt = 0;
    this._fails = 0;
    this._try();
  }

  close() {
    this._wanted = false;
    for (const k of Object.keys(this._timers)) this._clearTimer(k);
    for (const t of [this._t, this._opening, this._probe]) if (t) { t.onLost = null; t.close(); }
    this._t = this._opening = this._probe = null;
    for (const m of this._metricsSubs) m._stopPolling();
    const err = new SwitchboardError(E_CLOSED, 'the client was closed');
    for (const e of this._outbox.splice(0)) e.reject(err);
    this._settleWaiters(err);
    this._attempt = 0;
    if (this._state !== 'disconnected') this._setState('disconnected');
  }

  _clearTimer(name) {
    const t = this._timers[name];
    if (t !== undefined) {
      clearTimeout(t);
      clearInterval(t);
      delete this._timers[name];
    }
  }

  _settleWaiters(err) {
    for (const w of this._waiters.splice(0)) (err ? w.reject(err) : w.resolve());
  }

  async _token_() {
    const src = this._opts.token;
    if (typeof src !== 'function') return this._token;
    const claims = this._token && decodeToken(this._token);
    if (this._token && !(claims && claims.exp && claims.exp * 1000 < Date.now() + 5000)) return this._token;
    return this._newToken();
  }

  async _newToken() {
    const v = await this._opts.token();
    this._token = v;
    this._tokenAt = Date.now();
    return v;
  }

  _newTransport(kind) {
    return kind === 'websocket' ? new WsTransport(this) : new PollTransport(this);
  }

  async _try() {
    delete this._timers.retry;
    if (!this._wanted || this._t || this._opening) return;
    if (this._attempt === 0) this._setState('connecting');
    const t = this._newTransport(this._opts.transports[this._tIdx]);
    this._opening = t;
    let token;
    let err = null;
    try {
      token = await this._token_();
      await t.open(token);
    } catch (e) {
      err = e instanceof SwitchboardError ? e : new SwitchboardError('unauthorized', `token function failed: ${e && e.message}`);
    }
    if (this._opening !== t) {
      t.close();
      return;
    }
    this._opening = null;
    if (err) {
      t.close();
      if (isAuthError(err)) {
        this._authFailed(err, token);
        return;
      }
      if (++this._fails >= this._opts.fallbackAfter && this._opts.transports.length > 1) {
        this._tIdx = (this._tIdx + 1) % this._opts.transports.length;
        this._fails = 0;
      }
      this._retry(err);
      return;
    }
    this._adopt(t);
  }

  _retry(err) {
    this._attempt++;
    this._setState('reconnecting', { error: err });
    const { baseMs, maxMs } = this._opts.backoff;
    const cap = Math.min(maxMs, baseMs * 2 ** Math.min(this._attempt - 1, 30));
    this._timers.retry = later(() => this._try(), Math.random() * cap);
  }

  // A token the server refused: retry only with a different one.
  async _authFailed(err, refused) {
    if (typeof this._opts.token === 'function') {
      let fresh = null;
      try {
        fresh = await this._newToken();
      } catch {
        fresh = null;
      }
      if (!this._wanted) return;
      if (fresh && fresh !== refused) {
        this._retry(err);
        return;
      }
      this._token = null;
    }
    this._fatal(err);
  }

  _fatal(err) {
    this._wanted = false;
    for (const k of Object.keys(this._timers)) this._clearTimer(k);
    for (const m of this._metricsSubs) m._stopPolling();
    this._setState('disconnected', { error: err });
    this._emit('error', err);
    this._settleWaiters(err);
  }

  _adopt(t) {
    this._t = t;
    this._attempt = 0;
    this._fails = 0;
    t.onLost = (err) => this._lost(t, err);
    this._setState('connected');
    this._settleWaiters(null);
    for (const [name, ch] of this._channels) {
      ch.resyncing = false;
      if (!t.urlChannels || !t.urlChannels.has(name)) t.subscribe(name, this._since(ch));
    }
    // Named in the upgrade request but given up meanwhile.
    for (const name of t.urlChannels || []) if (!this._channels.has(name)) t.unsubscribe(name);
    if (t.adopt) t.adopt();
    if (t.start) t.start();
    this._flushPaused = false;
    this._flush();
    this._metricsSync();
    this._clearTimer('ping');
    const ping = () => { if (this._t === t) t.ping(this._opts.pongTimeoutMs); };
    ping();
    this._timers.ping = setInterval(ping, this._opts.pingIntervalMs);
    this._scheduleRefresh();
    this._scheduleUpgrade();
  }

  _lost(t, err) {
    if (t !== this._t) return;
    this._t = null;
    this._clearTimer('ping');
    this._clearTimer('upgrade');
    if (this._probe) { this._probe.close(); this._probe = null; }
    for (const ch of this._channels.values()) {
      ch.resyncing = false;
      ch.confirmed = false;
    }
    if (!this._wanted) return;
    if (err.fatal) {
      this._fatal(err);
      return;
    }
    if (isAuthError(err)) {
      this._authFailed(err, this._token);
      return;
    }
    // 4029: the server asks for a longer pause than usual.
    if (err.closeCode === 4029) this._attempt = Math.max(this._attempt, 6);
    this._retry(err);
  }

  // While on a fallback transport, try WebSocket again now and then.
  _scheduleUpgrade() {
    this._clearTimer('upgrade');
    if (this._tIdx === 0 || this._opts.transports[0] !== 'websocket') return;
    this._timers.upgrade = later(() => this._upgrade(), this._opts.upgradeIntervalMs);
  }

  async _upgrade() {
    delete this._timers.upgrade;
    if (!this._t || this._probe) return;
    const probe = new WsTransport(this);
    this._probe = probe;
    try {
      await probe.open(await this._token_());
    } catch {
      probe.close();
      if (this._probe === probe) {
        this._probe = null;
        this._scheduleUpgrade();
      }
      return;
    }
    if (this._probe !== probe || !this._t) {
      probe.close();
      return;
    }
    this._probe = null;
    const old = this._t;
    old.onLost = null;
    old.close();
    this._t = null;
    this._tIdx = 0;
    this._adopt(probe);
  }

  // --- tokens -------------------------------------------------------------

  _onAuth(msg, t) {
    let info = msg;
    if (!info) {
      const c = decodeToken(this._token) || {};
      info = { sub: c.sub, role: c.role, sender: c.role && c.sub ? `${c.role}:${c.sub}` : undefined, exp: c.exp };
    }
    const { sub, role, sender, exp } = info;
    this._emit('auth', { sub, role, sender, exp, transport: t.kind });
  }

  // Refresh at about 80% of the token's lifetime (PROTOCOL.md §3.5).
  _scheduleRefresh() {
    this._clearTimer('refresh');
    if (typeof this._opts.token !== 'function' || !this._t) return;
    const c = decodeToken(this._token);
    if (!c || !Number.isFinite(c.exp)) return;
    const issued = Number.isFinite(c.iat) ? c.iat * 1000 : (this._tokenAt || Date.now());
    const at = issued + 0.8 * (c.exp * 1000 - issued);
    this._timers.refresh = later(() => this._refresh(), Math.max(1000, at - Date.now()));
  }

  async _refresh() {
    this._clearTimer('refresh');
    const t = this._t;
    if (!t) return;
    const old = this._token;
    let tok;
    try {
      tok = await this._newToken();
    } catch (e) {
      this._emit('error', new SwitchboardError('unauthorized', `token function failed: ${e && e.message}`));
      this._timers.refresh = later(() => this._refresh(), 5000);
      return;
    }
    if (this._t !== t) return;
    if (tok !== old) {
      try {
        await t.reauth(tok);
        if (t.kind !== 'websocket') this._onAuth(null, t);
      } catch (err) {
        if (err.code !== E_DISCONNECTED) this._emit('error', err);
      }
    }
    this._scheduleRefresh();
  }

  // wsd says the token has expired and the grace period runs.
  _onTokenExpired(err, t) {
    if (typeof this._opts.token === 'function') {
      this._clearTimer('refresh');
      this._refresh();
    } else {
      this._emit('error', err);
    }
  }

  // --- subscriptions ------------------------------------------------------

  subscribe(channel, opts = {}) {
    const sub = new Subscription(this, channel, opts);
    let ch = this._channels.get(channel);
    const before = ch ? this._since(ch) : undefined;
    if (!ch) {
      ch = { subs: new Set(), resyncing: false, confirmed: false, pos: null, signals: new Set() };
      this._channels.set(channel, ch);
    }
    if (sub.lastSeq === null && ch.confirmed && ch.pos !== null) sub.lastSeq = ch.pos;
    ch.subs.add(sub);
    const since = this._since(ch);
    if (before === undefined || (since !== null && (before === null || since < before)) || !ch.confirmed) {
      // Until `subscribed`, events of the previous subscription may still
      // come: they are not gaps to act on.
      ch.confirmed = false;
      ch.resyncing = before !== undefined;
      if (this._t) this._t.subscribe(channel, since);
    } else {
      sub._resolve();
    }
    return sub;
  }

  _unsubscribe(sub) {
    if (!sub.active) return;
    sub.active = false;
    const ch = this._channels.get(sub.channel);
    if (!ch) return;
    ch.subs.delete(sub);
    if (ch.subs.size === 0) {
      this._channels.delete(sub.channel);
      if (this._t) this._t.unsubscribe(sub.channel);
    }
  }

  // The resume point of a channel: the lowest lastSeq of its subscriptions.
  _since(ch) {
    let min = null;
    for (const s of ch.subs) if (s.lastSeq !== null && (min === null || s.lastSeq < min)) min = s.lastSeq;
    return min;
  }

  _cursors() {
    const out = {};
    for (const [name, ch] of this._channels) out[name] = this._since(ch);
    return out;
  }

  _unconfirmed() {
    for (const ch of this._channels.values()) if (!ch.confirmed) return true;
    return false;
  }

  _onSubscribed(msg, t) {
    const ch = t === this._t && this._channels.get(msg.channel);
    if (!ch) return;
    ch.resyncing = false;
    ch.confirmed = true;
    ch.pos = msg.last_seq;
    for (const sub of ch.subs) {
      if (sub.lastSeq === null) sub.lastSeq = msg.last_seq;
      else if (msg.recovered === false && sub.lastSeq !== msg.last_seq) this._resetSub(sub, msg);
      sub._resolve();
    }
  }

  // §2.7: the channel cannot be continued from where a subscription is.
  _reset(channel, info, t) {
    const ch = t === this._t && this._channels.get(channel);
    if (!ch) return;
    ch.pos = info.last_seq;
    for (const sub of ch.subs) if (sub.lastSeq !== info.last_seq) this._resetSub(sub, info);
  }

  _resetSub(sub, info) {
    sub.lastSeq = info.last_seq;
    sub._call('onReset', {
      channel: sub.channel, reason: info.reason || 'pruned',
      oldest_seq: info.oldest_seq, last_seq: info.last_seq,
    });
  }

  _onChannelError(channel, err, t) {
    if (t !== this._t) return;
    const ch = this._channels.get(channel);
    if (!ch) return;
    if (RETRYABLE.has(err.code) && err.code !== E_DISCONNECTED) {
      // unavailable, rate_limited, token_expired: subscribe again shortly
      later(() => { if (this._t === t && this._channels.get(channel) === ch) t.subscribe(channel, this._since(ch)); },
        err.retry || 1000);
      return;
    }
    if (err.code === E_DISCONNECTED) return; // resubscribed on the next connection
    this._channels.delete(channel);
    if (t.kind === 'longpoll') t.kick();
    for (const sub of ch.subs) {
      sub.active = false;
      sub._call('onError', err);
      sub._reject(err);
    }
    this._emit('error', err);
  }

  _deliver(ev, t) {
    if (t !== this._t || !ev) return;
    const ch = this._channels.get(ev.channel);
    if (!ch) return;
    if (ev.seq === null || ev.seq === undefined) {
      if (ch.signals.has(ev.id)) return;
      ch.signals.add(ev.id);
      if (ch.signals.size > 256) ch.signals.delete(ch.signals.values().next().value);
      for (const sub of ch.subs) sub._call('onSignal', ev);
      return;
    }
    if (ch.pos === null || ev.seq > ch.pos) ch.pos = ev.seq;
    for (const sub of ch.subs) {
      if (sub.lastSeq === null || ev.seq === sub.lastSeq + 1) {
        sub.lastSeq = ev.seq;
        sub._call('onEvent', ev);
      } else if (ev.seq > sub.lastSeq + 1 && !ch.resyncing) {
        // A gap (§2.4): subscribe again from what this subscription has.
        ch.resyncing = true;
        t.subscribe(ev.channel, this._since(ch));
      }
    }
  }

  _onPoll(res, sent, t) {
    if (t !== this._t) return;
    for (const r of res.reload || []) this._reset(r.channel, r, t);
    const events = res.events || [];
    const first = {};
    for (const ev of events) if (ev.seq !== null && !(ev.channel in first)) first[ev.channel] = ev.seq;
    for (const name of Object.keys(sent)) {
      const ch = this._channels.get(name);
      if (!ch) continue;
      const base = sent[name] !== null ? sent[name]
        : (name in first ? first[name] - 1 : (res.cursors || {})[name]);
      for (const sub of ch.subs) if (sub.lastSeq === null && Number.isInteger(base)) sub.lastSeq = base;
    }
    for (const ev of events) this._deliver(ev, t);
    for (const name of Object.keys(sent)) {
      const ch = this._channels.get(name);
      if (!ch) continue;
      ch.confirmed = true;
      ch.resyncing = false;
      const c = (res.cursors || {})[name];
      if (Number.isInteger(c) && (ch.pos === null || c > ch.pos)) ch.pos = c;
      for (const sub of ch.subs) sub._resolve();
    }
  }

  // --- publishing ---------------------------------------------------------

  publish(channel, { type, data = {}, id } = {}) {
    if (typeof channel !== 'string' || typeof type !== 'string') {
      return Promise.reject(new SwitchboardError('bad_request', 'publish needs a channel and a type'));
    }
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      return Promise.reject(new SwitchboardError('invalid_data', 'invalid data: not a JSON object'));
    }
    if (this._outbox.length >= this._opts.outboxLimit) {
      return Promise.reject(new SwitchboardError(E_OUTBOX_FULL,
        `outbox full: ${this._opts.outboxLimit} publishes wait already`));
    }
    return new Promise((resolve, reject) => {
      this._outbox.push({ channel, type, data, id: id || uuid4(), resolve, reject, inflight: false });
      this._flush();
    });
  }

  _flush() {
    const t = this._t;
    if (!t || this._flushPaused) return;
    const window = t.kind === 'websocket' ? this._opts.publishWindow : 1;
    let inflight = 0;
    for (const e of this._outbox) if (e.inflight) inflight++;
    for (const e of this._outbox) {
      if (inflight >= window) break;
      if (e.inflight) continue;
      e.inflight = true;
      inflight++;
      t.publish(e).then((ack) => this._acked(e, ack), (err) => this._publishFailed(e, err));
    }
  }

  _acked(e, ack) {
    const i = this._outbox.indexOf(e);
    if (i >= 0) this._outbox.splice(i, 1);
    e.resolve({ channel: ack.channel ?? e.channel, seq: ack.seq, id: ack.id, duplicate: !!ack.duplicate });
    this._flush();
  }

  _publishFailed(e, err) {
    e.inflight = false;
    const i = this._outbox.indexOf(e);
    if (i < 0) return; // closed meanwhile
    if (!RETRYABLE.has(err.code)) {
      this._outbox.splice(i, 1);
      e.reject(err);
      this._flush();
      return;
    }
    if (err.code === E_DISCONNECTED) return; // sent again on the next connection
    if (err.code === 'token_expired' && typeof this._opts.token === 'function') this._refresh();
    if (this._flushPaused) return;
    this._flushPaused = true;
    this._timers.flush = later(() => {
      delete this._timers.flush;
      this._flushPaused = false;
      this._flush();
    }, err.retry || 1000);
  }

  signal(channel, { type, data = {} } = {}) {
    if (!this._t) return Promise.reject(new SwitchboardError(E_OFFLINE, 'not connected: signals are not kept'));
    return this._t.signal(channel, type, data);
  }

  // --- reading ------------------------------------------------------------

  /** Over the WebSocket when there is one, else over HTTP. */
  _read(viaTransport, viaHttp) {
    const t = this._t;
    if (t && t.kind === 'websocket') {
      return viaTransport(t).catch((err) => (err.code === E_DISCONNECTED ? viaHttp() : Promise.reject(err)));
    }
    return viaHttp();
  }

  history(channel, { before, after, limit } = {}) {
    const q = { before, after, limit };
    return this._read((t) => t.history(channel, q), () => this._httpHistory(channel, q));
  }

  _httpHistory(channel, q) {
    const p = new URLSearchParams();
    for (const k of ['before', 'after', 'limit']) if (q[k] !== undefined) p.set(k, String(q[k]));
    const qs = p.toString();
    return this._fetch('GET', `/channels/${encodeURIComponent(channel)}/events${qs ? '?' + qs : ''}`);
  }

  presence(channel) {
    return this._read((t) => t.presence(channel), () => this._httpPresence(channel));
  }

  _httpPresence(channel) {
    return this._fetch('GET', `/channels/${encodeURIComponent(channel)}/presence`).then((r) => r.members);
  }

  /** An authenticated REST call, path relative to /api/v1; JSON back. */
  async request(method, path, body) {
    if (typeof this._opts.token === 'function' && !this._token) await this._token_();
    return this._fetch(method, path, { body });
  }

  async _fetch(method, path, { body, signal, timeoutMs = 30000, auth = true } = {}) {
    const headers = { Accept: 'application/json' };
    if (auth && this._token) headers.Authorization = `Bearer ${this._token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const ac = new AbortController();
    let timedOut = false;
    const timer = later(() => { timedOut = true; ac.abort(); }, timeoutMs);
    const onAbort = () => ac.abort();
    if (signal) signal.addEventListener('abort', onAbort);
    let res;
    let text;
    try {
      res = await fetch(`${this._httpBase}/v1${path.startsWith('/') ? '' : '/'}${path}`, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        signal: ac.signal, cache: 'no-store', credentials: 'same-origin',
      });
      text = await res.text();
    } catch (e) {
      if (timedOut) throw new SwitchboardError(E_TIMEOUT, `${method} ${path}: no answer within ${timeoutMs} ms`);
      throw new SwitchboardError(E_NETWORK, `${method} ${path}: ${(e && e.cause && e.cause.message) || (e && e.message)}`);
    } finally {
      clearTimeout(timer);
      if (signal) signal.removeEventListener('abort', onAbort);
    }
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!res.ok) {
      const e = (json && json.error) || {};
      const retryAfter = Number(res.headers.get('Retry-After'));
      let code = e.code;
      if (!code) code = res.status === 401 ? 'unauthorized' : res.status >= 500 ? 'unavailable' : 'http_error';
      throw new SwitchboardError(code, e.message || `${method} ${path}: HTTP ${res.status}`, res.status, {
        channel: e.channel, index: e.index, retry: retryAfter > 0 ? retryAfter * 1000 : undefined,
      });
    }
    if (json === null && text) throw new SwitchboardError('internal', `${method} ${path}: the answer is not JSON`, res.status);
    return json;
  }

  // --- latency and metrics ------------------------------------------------

  _onLatency(ms, t) {
    if (t !== this._t) return;
    this._latency = ms;
    this._emit('latency', ms);
  }

  metrics(opts, cb) {
    if (typeof opts === 'function') [opts, cb] = [{}, opts];
    const m = new MetricsSubscription(this, opts || {}, cb);
    this._metricsSubs.add(m);
    this._metricsSync(m);
    return m;
  }

  // Starts m (or every metrics subscription) on the transport in use: wsd
  // pushes to one per connection, the others poll GET /metrics/overview.
  _metricsSync(only) {
    const t = this._t;
    for (const m of only ? [only] : this._metricsSubs) {
      if (m.closed) continue;
      if (!t) {
        m._stopPolling();
        continue;
      }
      const ws = t.kind === 'websocket' && !m._wsFailed &&
        (this._wsMetrics === null || this._wsMetrics === m || this._wsMetrics.closed);
      if (!ws) {
        m._startPolling();
        continue;
      }
      m._stopPolling();
      m.mode = 'websocket';
      this._wsMetrics = m;
      t.request({ op: 'metrics.subscribe', window_hours: m.windowHours, interval_s: m.intervalSeconds })
        .then((msg) => m._snapshot(msg, false), (err) => this._metricsFailed(m, err, t));
    }
  }

  _metricsFailed(m, err, t) {
    if (err.code === E_DISCONNECTED || t !== this._t || m.closed) return;
    m.error = err;
    if (['forbidden', 'invalid_parameter'].includes(err.code)) {
      this._emit('error', err);
      return;
    }
    // wsd without metrics subscriptions (internal), or another failure:
    // poll over HTTP instead.
    m._wsFailed = true;
    if (this._wsMetrics === m) this._wsMetrics = null;
    m._startPolling();
  }

  _onMetrics(msg, t) {
    const m = this._wsMetrics;
    if (t !== this._t || !m || m.closed || m.mode !== 'websocket' || msg.ref !== undefined) return;
    m._snapshot(msg, false);
  }

  _metricsClose(m) {
    this._metricsSubs.delete(m);
    if (this._wsMetrics === m) {
      this._wsMetrics = null;
      if (this._t && this._t.kind === 'websocket') this._t.request({ op: 'metrics.unsubscribe' }).catch(() => {});
    }
  }
}

export default Switchboard;
