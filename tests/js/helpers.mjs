// helpers.mjs: what the Node tests of the JavaScript client share: the
// stack started by tests/stack.sh (its stack.env in $SB_STACK_DIR), tokens,
// psql, stack control, bounded waits and a TCP relay. node: modules only.

import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const srcdir = process.env.top_srcdir || path.resolve(here, '../..');
export const STACK_SH = path.join(srcdir, 'tests/stack.sh');

const { Switchboard, SwitchboardError } = await import(
  pathToFileURL(path.join(srcdir, 'contrib/js/switchboard.js')).href);
export { Switchboard, SwitchboardError };

/** The stack's stack.env as an object (KEY=VALUE or KEY='VALUE' lines). */
export function loadStack(dir = process.env.SB_STACK_DIR) {
  assert.ok(dir, 'SB_STACK_DIR names a directory made by tests/stack.sh start');
  const env = { dir };
  for (const line of readFileSync(path.join(dir, 'stack.env'), 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(?:'([^']*)'|(.*))$/.exec(line);
    if (m) env[m[1]] = m[2] ?? m[3];
  }
  return env;
}

export const stack = loadStack();

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** An HS256 token signed with the stack's secret (or `secret`). */
export function mintToken({ sub = 'tester', role = 'user', ch = ['*'], ttl = 600, exp, iat, secret } = {}) {
  const key = secret ?? Buffer.from(readFileSync(stack.SB_TOKEN_SECRET_FILE, 'utf8').trim(), 'base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub, role, iat: iat ?? now, exp: exp ?? now + ttl };
  if (ch) claims.ch = ch;
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac('sha256', key).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64url(sig)}`;
}

/** Rows of a query run by psql as the database owner, as arrays of text. */
export function sql(query) {
  const out = execFileSync('psql', ['-X', '-q', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1',
    '-d', stack.SB_DSN, '-c', query], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
}

/** tests/stack.sh SUBCOMMAND ... on this stack (kill wsd, restart fcgi, token ...). */
export function stackCtl(cmd, ...args) {
  const argv = cmd === 'token' ? [cmd, stack.dir, ...args] : [cmd, args[0], stack.dir];
  return execFileSync(STACK_SH, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/** Waits until cond() is truthy, at most timeoutMs; returns its value. */
export async function waitFor(cond, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const pause = (ms) => new Promise((r) => setTimeout(r, ms));

/** A channel name of its own for each test. */
export const channel = (ns, name) => `${ns}:${name}-${randomUUID().slice(0, 8)}`;

const clients = new Set();

/** A client on this stack (closed by closeAll()), recording its states and errors. */
export function client(opts = {}) {
  const sb = new Switchboard({
    wsUrl: stack.SB_WS_URL,
    httpUrl: stack.SB_API_URL,
    token: mintToken(),
    backoff: { baseMs: 50, maxMs: 1000 },
    ...opts,
  });
  sb.states = [];
  sb.errors = [];
  sb.on('state', (s) => sb.states.push(s));
  sb.on('error', (e) => sb.errors.push(e));
  clients.add(sb);
  return sb;
}

export function closeAll() {
  for (const sb of clients) sb.close();
  clients.clear();
}

/** Subscribes and records events and signals; resolves once subscribed. */
export async function collect(sb, ch, opts = {}) {
  const rec = { events: [], signals: [], resets: [] };
  rec.sub = sb.subscribe(ch, {
    since: 0,
    ...opts,
    onEvent: (ev) => rec.events.push(ev),
    onSignal: (s) => rec.signals.push(s),
    onReset: (info) => rec.resets.push(info),
  });
  await rec.sub.ready;
  return rec;
}

/** Asserts events are exactly seq from..to, once each, in order. */
export function assertSeqs(events, from, to) {
  const seqs = events.map((e) => e.seq);
  const want = Array.from({ length: to - from + 1 }, (_, i) => from + i);
  assert.deepEqual(seqs, want);
}

/** Publishes over REST (not through the client under test), with an id. */
export async function restPublish(ch, data, token = mintToken({ sub: 'publisher', role: 'agent' })) {
  const id = randomUUID();
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${stack.SB_API_URL}/v1/channels/${encodeURIComponent(ch)}/events`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ type: 'message', data, id }),
    });
    const body = await res.json().catch(() => null);
    if (res.ok) return body;
    if (attempt >= 20 || res.status < 500) throw new Error(`REST publish: ${res.status} ${JSON.stringify(body)}`);
    await pause(100);
  }
}

/** Publishes n events {n: 0..n-1} over REST, spaced by gapMs. */
export async function restPublisher(ch, n, gapMs) {
  for (let i = 0; i < n; i++) {
    await restPublish(ch, { text: `event ${i}`, n: i });
    if (gapMs) await pause(gapMs);
  }
}

/** A free loopback port that nothing listens on (yet). */
export async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** Relays TCP connections on `port` to `toPort`: a WebSocket path that can be opened later. */
export async function relay(port, toPort) {
  const socks = new Set();
  const server = net.createServer((c) => {
    const up = net.connect(toPort, '127.0.0.1');
    socks.add(c).add(up);
    c.pipe(up).pipe(c);
    const done = () => { c.destroy(); up.destroy(); socks.delete(c); socks.delete(up); };
    c.on('error', done).on('close', done);
    up.on('error', done).on('close', done);
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { close: () => { for (const s of socks) s.destroy(); return new Promise((r) => server.close(r)); } };
}
