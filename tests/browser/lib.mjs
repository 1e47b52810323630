// lib.mjs: helpers of the browser tests: the stack's environment, tokens,
// a headless Chromium, and what the tests read from the dashboard's DOM.
//
// The stack is started by run-browser-tests.sh (tests/stack.sh start DIR
// --agent); SB_STACK_DIR names DIR, SB_TOP_SRCDIR the source tree and
// SB_SHOTS_DIR where screenshots go; playwright-core is loaded from the
// node_modules of SB_BROWSER_MODULES_DIR (default: this directory), so a
// read-only copy of the tests (make distcheck) can use the source tree's.

import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const moduleBase = process.env.SB_BROWSER_MODULES_DIR
  ? pathToFileURL(join(process.env.SB_BROWSER_MODULES_DIR, 'lib.mjs'))
  : import.meta.url;
const { chromium } = createRequire(moduleBase)('playwright-core');

export const CHROMIUM = process.env.SB_CHROMIUM || '/usr/bin/chromium';
export const STACK_DIR = process.env.SB_STACK_DIR;
export const TOP_SRCDIR = process.env.SB_TOP_SRCDIR;
export const SHOTS_DIR = process.env.SB_SHOTS_DIR;
// Upper bound of every wait on a condition in the page.
export const WAIT_MS = Number(process.env.SB_BROWSER_WAIT_MS || 30000);

if (!STACK_DIR || !TOP_SRCDIR || !SHOTS_DIR) {
  throw new Error('run these tests through tests/browser/run-browser-tests.sh (SB_STACK_DIR, SB_TOP_SRCDIR, SB_SHOTS_DIR)');
}

/** DIR/stack.env as an object. */
export function stackEnv() {
  const env = {};
  for (const line of readFileSync(join(STACK_DIR, 'stack.env'), 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
  }
  return env;
}

/** Run tests/stack.sh CMD ... DIR (token: stack.sh token DIR ...); its output. */
export function stack(cmd, args = [], env = {}) {
  const script = join(TOP_SRCDIR, 'tests', 'stack.sh');
  const argv = cmd === 'token' ? [cmd, STACK_DIR, ...args] : [cmd, ...args, STACK_DIR];
  return execFileSync(script, argv, { encoding: 'utf8', timeout: 60000, env: { ...process.env, ...env } }).trim();
}

/** A token minted by the database (switchboard.mint_token). */
export function mintToken(sub, role, ttlSeconds, patterns) {
  return stack('token', [role, String(ttlSeconds), ...patterns], { SB_TOKEN_SUB: sub });
}

/** An HS256 JWT signed here with key (bytes): for expired and forged tokens. */
export function signToken(claims, key) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${unsigned}.${createHmac('sha256', key).update(unsigned).digest('base64url')}`;
}

/** The stack's token secret as raw key bytes (the file holds base64url). */
export function tokenSecret() {
  return Buffer.from(readFileSync(join(STACK_DIR, 'token_secret'), 'utf8').trim(), 'base64url');
}

export const USER_PATTERNS = ['chat:*', 'activity:*', 'workflow:*', 'metrics:overview'];

/** A chat channel of its own for one test. */
export function freshChannel(name) {
  return `chat:browser-${name}-${randomBytes(4).toString('hex')}`;
}

export async function launch() {
  // Run as root in CI, Chromium needs --no-sandbox.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
}

/**
 * A new browser context and page; console errors and uncaught exceptions
 * of the page are collected in page.problems for the tests to check.
 */
export async function newPage(browser, { viewport = { width: 1360, height: 900 }, colorScheme = 'light', initScript } = {}) {
  const context = await browser.newContext({ viewport, colorScheme });
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') page.problems.push(`console: ${m.text()}`);
  });
  return page;
}

export function dashboardUrl(query = {}) {
  const qs = new URLSearchParams(query).toString();
  return `${stackEnv().SB_HTTP_URL}/${qs ? `?${qs}` : ''}`;
}

/** Wait until fn(arg) is truthy in the page; fails after WAIT_MS with what. */
export async function until(page, what, fn, arg) {
  try {
    return await page.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 100 });
  } catch (e) {
    throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}: ${e.message.split('\n')[0]}`);
  }
}

export async function waitConnected(page, transport) {
  await until(page, `the connection${transport ? ` over ${transport}` : ''}`,
    (t) => {
      const c = document.querySelector('#connection');
      return c.dataset.state === 'connected' && (!t || c.dataset.transport === t);
    }, transport || null);
}

/** The data-seq values of the elements under selector, in DOM order. */
export async function seqs(page, selector) {
  return page.$$eval(`${selector} [data-seq]`, (els) => els.map((e) => Number(e.dataset.seq)));
}

/** Fail when a seq appears twice under selector. */
export function assertUnique(assert, list, what) {
  const seen = new Set();
  const twice = list.filter((s) => (seen.has(s) ? true : (seen.add(s), false)));
  assert.deepEqual(twice, [], `${what}: seqs shown twice: ${twice.join(', ')}`);
}

/** Send a chat message through the form; returns the new message's event id. */
export async function sendMessage(page, text) {
  const before = await page.$$eval('#chat-log li.msg.mine', (els) => els.map((e) => e.dataset.eventId));
  await page.fill('#chat-input', text);
  await page.press('#chat-input', 'Enter');
  const handle = await until(page, 'the message to show', (prev) => {
    const mine = [...document.querySelectorAll('#chat-log li.msg.mine')].find((e) => !prev.includes(e.dataset.eventId));
    return mine ? mine.dataset.eventId : null;
  }, before);
  return handle.jsonValue();
}

/** Wait for the stored reply of the turn answering messageId; returns its text. */
export async function waitReply(page, messageId) {
  const handle = await until(page, `the stored reply to ${messageId}`, (id) => {
    const turn = document.querySelector(`#chat-log li.turn[data-reply-to="${id}"]`);
    const reply = turn && turn.querySelector('.reply[data-seq]');
    return reply ? reply.querySelector('.msg-text').textContent : null;
  }, messageId);
  return handle.jsonValue();
}

/** Every stored event of channel through REST history (as the test user). */
export async function restHistory(channel, token) {
  const { SB_API_URL } = stackEnv();
  const out = [];
  let after = 0;
  for (let page = 0; page < 100; page += 1) {
    const res = await fetch(`${SB_API_URL}/v1/channels/${encodeURIComponent(channel)}/events?after=${after}&limit=1000`,
      { headers: { Authorization: `Bearer ${token}` } });
    if (!res.ok) throw new Error(`history of ${channel}: HTTP ${res.status} ${await res.text()}`);
    const body = await res.json();
    out.push(...body.events);
    if (!body.more || body.events.length === 0) break;
    after = body.events[body.events.length - 1].seq;
  }
  return out;
}

/** Save a full-page screenshot into SHOTS_DIR and print its path. */
export async function screenshot(page, name) {
  const path = join(SHOTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
  return path;
}
