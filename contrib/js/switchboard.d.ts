// switchboard.d.ts: TypeScript declarations of contrib/js/switchboard.js,
// the switchboard client (docs/PROTOCOL.md is the contract).

/** The one JSON event shape of every path (PROTOCOL.md §1.3). */
export interface SwitchboardEvent<D = Record<string, unknown>> {
  channel: string;
  /** Position in the channel, 1-based and gapless; null for a signal. */
  seq: number | null;
  id: string;
  type: string;
  sender: string;
  time: string;
  data: D;
}

/** A durable event: seq is a number. */
export interface DurableEvent<D = Record<string, unknown>> extends SwitchboardEvent<D> {
  seq: number;
}

/** An ephemeral signal: seq is null. */
export interface Signal<D = Record<string, unknown>> extends SwitchboardEvent<D> {
  seq: null;
}

export type State = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';
export type Transport = 'websocket' | 'longpoll';

export interface StateChange {
  state: State;
  /** Reconnection attempt (1, 2, ...) while reconnecting; 0 otherwise. */
  attempt: number;
  /** The transport in use, null unless connected. */
  transport: Transport | null;
  /** Why the connection failed or ended, when it did. */
  error?: SwitchboardError;
}

/** The identity the server accepted (auth.ok, or the token's claims on HTTP). */
export interface AuthInfo {
  sub: string;
  role: 'reader' | 'user' | 'agent' | 'admin';
  sender: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
  transport: Transport;
}

export interface SwitchboardOptions {
  /** Default: ws[s]://<page host>/ws. */
  wsUrl?: string;
  /** Default: <page origin>/api. REST paths are relative to httpUrl + '/v1'. */
  httpUrl?: string;
  /** A token, or a function returning a fresh one (called again to refresh). */
  token?: string | (() => string | Promise<string>);
  /** Order tried; default ['websocket', 'longpoll']. 'sse' is accepted and served by long-polling. */
  transports?: Array<'websocket' | 'longpoll' | 'sse'>;
  /** WebSocket constructor (Node without --experimental-websocket, tests). */
  WebSocket?: unknown;
  /** Publishes kept while offline or unacknowledged; default 1000. */
  outboxLimit?: number;
  /** Exponential backoff with full jitter; default { baseMs: 250, maxMs: 30000 }. */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Application ping (latency); default 10000. */
  pingIntervalMs?: number;
  /** A ping unanswered this long loses the connection (default 5000). */
  pongTimeoutMs?: number;
  /** While on a fallback transport, try WebSocket again this often; default 60000. */
  upgradeIntervalMs?: number;
  /** Consecutive failures of a transport before the next one is tried; default 3. */
  fallbackAfter?: number;
  /** Time for a connection to say hello and accept the token; default 10000. */
  openTimeoutMs?: number;
  /** Seconds a long-poll waits on the server (0..60); default 25. */
  pollTimeoutS?: number;
  /** Publishes in flight at once on a WebSocket; default 64. */
  publishWindow?: number;
}

export interface ResetInfo {
  channel: string;
  /** 'pruned', 'rewound' or another reason (treat unknown ones like 'pruned'). */
  reason: string;
  oldest_seq: number;
  /** Delivery continues after this seq; load history before last_seq + 1. */
  last_seq: number;
}

export interface SubscribeOptions {
  /** Resume point: the last seq the application has (0: everything stored). Omitted: only new events. */
  since?: number;
  /** Durable events, each exactly once, in seq order. */
  onEvent?(ev: DurableEvent): void;
  /** Ephemeral signals (typing, tokens, presence.join / presence.leave). */
  onSignal?(sig: Signal): void;
  /** The channel cannot be continued from where the subscription is (§2.7): reload it. */
  onReset?(info: ResetInfo): void;
  /** The subscription ended for good (forbidden, invalid channel, ...). */
  onError?(err: SwitchboardError): void;
}

export interface Subscription {
  readonly channel: string;
  /** The seq of the last event delivered (null until known). */
  readonly lastSeq: number | null;
  readonly active: boolean;
  /** Resolves once the server confirmed the subscription; rejects if it refused it. */
  readonly ready: Promise<void>;
  unsubscribe(): void;
}

export interface PublishInput<D = Record<string, unknown>> {
  type: string;
  data?: D;
  /** Event id (UUID); generated when omitted, and kept across retries. */
  id?: string;
}

export interface Ack {
  channel: string;
  seq: number;
  id: string;
  /** True when the id was already stored: seq is the original event's. */
  duplicate: boolean;
}

export interface SignalAck {
  channel: string;
  seq: null;
  id: string;
}

export interface HistoryQuery {
  before?: number;
  after?: number;
  limit?: number;
}

export interface HistoryPage {
  channel: string;
  events: DurableEvent[];
  more: boolean;
  /** Present when read over HTTP. */
  last_seq?: number;
  oldest_seq?: number;
}

export interface PresenceMember {
  subject: string;
  node: string;
  conn: string;
  joined_at: string;
}

export interface MetricsOptions {
  /** 1..168, default 24. */
  windowHours?: number;
  /** 1..60, default 5. */
  intervalSeconds?: number;
}

export interface MetricsSnapshot {
  window_hours: number;
  interval_s?: number;
  generated_at: string;
  data: {
    events: { total: number; by_namespace: Record<string, number> };
    chat: Record<string, number>;
    activity: Record<string, number>;
    tasks: Record<string, number>;
    nodes: Record<string, number>;
    connections: number;
    subscriptions: number;
    [key: string]: unknown;
  };
}

export interface MetricsSubscription {
  windowHours: number;
  intervalSeconds: number;
  /** 'websocket' when wsd pushes the snapshots, 'http' when they are polled. */
  readonly mode: 'websocket' | 'http' | null;
  /** The last snapshot received. */
  readonly snapshot: MetricsSnapshot | null;
  /** The last failure (e.g. wsd answering metrics with 'internal', then polled over HTTP). */
  readonly error: SwitchboardError | null;
  /** Fetches the current snapshot now and calls back even if unchanged. */
  refresh(): void;
  update(opts: MetricsOptions): void;
  close(): void;
}

export declare class SwitchboardError extends Error {
  constructor(code: string, message?: string, status?: number, extra?: object);
  /** A code of PROTOCOL.md §6.1, or the client's own: network, disconnected, timeout, closed, offline, outbox_full, protocol, handler. */
  code: string;
  /** HTTP status, when the error came over HTTP. */
  status?: number;
  channel?: string;
  /** Milliseconds after which a retry may succeed (rate_limited, unavailable). */
  retry?: number;
  index?: number;
  /** The WebSocket close code, when a close caused it. */
  closeCode?: number;
  static fromMessage(msg: { code: string; message?: string }): SwitchboardError;
}

export interface SwitchboardEvents {
  state: StateChange;
  latency: number;
  error: SwitchboardError;
  auth: AuthInfo;
}

export declare class Switchboard {
  constructor(options?: SwitchboardOptions);
  readonly state: State;
  readonly transport: Transport | null;
  /** The last round-trip time in ms, null before the first. */
  readonly latency: number | null;
  /** Publishes waiting for their acknowledgement. */
  readonly outboxSize: number;

  on<K extends keyof SwitchboardEvents>(event: K, fn: (arg: SwitchboardEvents[K]) => void): () => void;
  off<K extends keyof SwitchboardEvents>(event: K, fn: (arg: SwitchboardEvents[K]) => void): void;

  /** Resolves when connected; rejects when the client gives up (a refused token, close()). */
  connect(): Promise<void>;
  /** Reset the backoff and try now (a retry button). */
  reconnectNow(): void;
  /** State 'disconnected', no more retries; waiting publishes are rejected with 'closed'. */
  close(): void;

  subscribe(channel: string, opts?: SubscribeOptions): Subscription;
  publish<D = Record<string, unknown>>(channel: string, input: PublishInput<D>): Promise<Ack>;
  /** Rejects with 'offline' while not connected: signals are never queued. */
  signal<D = Record<string, unknown>>(channel: string, input: { type: string; data?: D }): Promise<SignalAck>;
  history(channel: string, query?: HistoryQuery): Promise<HistoryPage>;
  presence(channel: string): Promise<PresenceMember[]>;
  metrics(opts: MetricsOptions, cb: (snapshot: MetricsSnapshot) => void): MetricsSubscription;
  metrics(cb: (snapshot: MetricsSnapshot) => void): MetricsSubscription;
  /** An authenticated REST call; path relative to /api/v1; JSON back; SwitchboardError on non-2xx. */
  request<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
}

/** The claims of a JWT, not verified (the server verifies), or null. */
export declare function decodeToken(token: string): Record<string, unknown> | null;

export default Switchboard;
