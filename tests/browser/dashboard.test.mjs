// dashboard.test.mjs: the agent dashboard in headless Chromium against a
// complete stack (PostgreSQL, wsd, switchboard-fcgi behind lighttpd, the
// demo agent): chat with a streamed reply, activity and workflow
// statistics, long-polling when WebSocket is blocked, wsd killed during a
// stream, history after a reload, and refused tokens.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  USER_PATTERNS, WAIT_MS, assertUnique, dashboardUrl, freshChannel, launch, mintToken, newPage,
  restHistory, screenshot, sendMessage, seqs, signToken, stack, tokenSecret, until, waitConnected, waitReply,
} from './lib.mjs';

// Event types the chat panel shows as one element each.
const SHOWN_CHAT_TYPES = new Set(['message', 'reply', 'agent_step', 'tool_call', 'tool_result', 'cancel', 'cancelled', 'error']);
const QUESTION = 'How do reconnects, ordering and duplicates work with websocket fallback and postgres?';

let browser;
let token;

before(async () => {
  browser = await launch();
  token = mintToken('alice', 'user', 3600, USER_PATTERNS);
});

after(async () => {
  await browser?.close();
});

/** Numbers shown by the workflow card and the activity feed. */
async function counters(page) {
  return page.evaluate(() => ({
    total: Number(document.querySelector('#workflow [data-stat="total"]').textContent) || 0,
    completed: Number(document.querySelector('#workflow [data-stat="completed"]').textContent) || 0,
    statsUpdates: Number(document.querySelector('#workflow').dataset.updates || 0),
    activity: document.querySelectorAll('#activity-feed li[data-seq]').length,
    activityTop: Number(document.querySelector('#activity-feed li[data-seq]')?.dataset.seq || 0),
  }));
}

/** Open the dashboard on channel with the token in the fragment; wait until it has loaded. */
async function openDashboard(page, channel, transport) {
  await page.goto(`${dashboardUrl({ channel })}#token=${token}`);
  await waitConnected(page, transport);
  await until(page, 'the workflow statistics', () => Number(document.querySelector('#workflow').dataset.updates || 0) > 0);
}

/**
 * The flow every transport must carry: send, see the message confirmed,
 * the reply stored once, the agent's tool call, new activity entries and
 * the statistics moving. Returns the message id.
 */
async function chatFlow(page, { expectStream }) {
  const start = await counters(page);
  const messageId = await sendMessage(page, QUESTION);
  if (expectStream) {
    // A draft fed by token signals, growing, before the stored reply.
    const first = await until(page, 'a streamed draft', (id) => {
      const d = document.querySelector(`#chat-log li.turn[data-reply-to="${id}"] .reply.draft`);
      return d && d.textContent.length > 0 ? d.querySelector('.msg-text').textContent.length : 0;
    }, messageId);
    const firstLength = await first.jsonValue();
    await until(page, 'the draft to grow or be stored', ([id, n]) => {
      const turn = document.querySelector(`#chat-log li.turn[data-reply-to="${id}"]`);
      const d = turn.querySelector('.reply.draft .msg-text');
      return (d && d.textContent.length > n) || turn.querySelector('.reply[data-seq]');
    }, [messageId, firstLength]);
  }
  const text = await waitReply(page, messageId);
  assert.ok(text.length > 20, `a whole reply: ${text}`);
  const turn = await page.evaluate((id) => {
    const t = document.querySelector(`#chat-log li.turn[data-reply-to="${id}"]`);
    const msg = document.querySelector(`#chat-log li.msg[data-event-id="${id}"]`);
    return {
      replies: t.querySelectorAll('.reply').length,
      drafts: t.querySelectorAll('.reply.draft').length,
      tools: t.querySelectorAll('.tool[data-seq]').length,
      results: t.querySelectorAll('.tool-result[data-seq]').length,
      msgSeq: msg?.dataset.seq,
      msgPending: msg?.classList.contains('pending'),
    };
  }, messageId);
  assert.equal(turn.replies, 1, 'exactly one reply in the turn');
  assert.equal(turn.drafts, 0, 'no draft left after the stored reply');
  assert.ok(turn.tools >= 1 && turn.results >= 1, `tool calls and results shown: ${JSON.stringify(turn)}`);
  assert.ok(Number(turn.msgSeq) > 0 && !turn.msgPending, 'the message is confirmed with its seq');
  await until(page, 'new activity entries', (top) =>
    Number(document.querySelector('#activity-feed li[data-seq]')?.dataset.seq || 0) > top, start.activityTop);
  await until(page, 'the workflow statistics to count the new task', (s) => {
    const n = (k) => Number(document.querySelector(`#workflow [data-stat="${k}"]`).textContent) || 0;
    return n('total') > s.total && n('completed') > s.completed;
  }, start);
  return messageId;
}

/** The chat and activity panels show each event once, and the chat shows what is stored. */
async function assertEachEventOnce(page, channel) {
  const chatSeqs = await seqs(page, '#chat-log');
  assertUnique(assert, chatSeqs, 'chat');
  assertUnique(assert, await seqs(page, '#activity-feed'), 'activity');
  const stored = (await restHistory(channel, token)).filter((e) => SHOWN_CHAT_TYPES.has(e.type)).map((e) => e.seq);
  assert.deepEqual([...chatSeqs].sort((a, b) => a - b), stored, 'the chat shows every stored event of the channel once');
}

describe('dashboard', { timeout: 8 * WAIT_MS }, () => {
  const channel = freshChannel('ws');

  test('chat over WebSocket: streamed reply, tool calls, activity and statistics', async () => {
    const page = await newPage(browser);
    await openDashboard(page, channel, 'websocket');
    assert.ok(!page.url().includes('token='), 'the token is removed from the address bar');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('switchboard.token')), token);
    await chatFlow(page, { expectStream: true });
    await assertEachEventOnce(page, channel);
    // Presence: another user opening the conversation comes and goes.
    const presenceOf = () => [...document.querySelectorAll('#presence-list li')].map((li) => li.dataset.subject);
    await until(page, 'presence to list me', () =>
      [...document.querySelectorAll('#presence-list li')].some((li) => li.dataset.subject === 'user:alice'));
    const bob = await newPage(browser);
    await bob.goto(`${dashboardUrl({ channel })}#token=${mintToken('bob', 'user', 600, USER_PATTERNS)}`);
    await waitConnected(bob, 'websocket');
    await until(page, 'bob to come online', () =>
      [...document.querySelectorAll('#presence-list li')].some((li) => li.dataset.subject === 'user:bob'));
    await bob.context().close();
    await until(page, 'bob to go offline', () =>
      ![...document.querySelectorAll('#presence-list li')].some((li) => li.dataset.subject === 'user:bob'));
    assert.deepEqual(await page.evaluate(presenceOf), ['user:alice']);
    await until(page, 'metrics', () => document.querySelector('#metrics [data-metric="events.total"]'));
    await screenshot(page, 'dashboard-light');

    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light', 'system theme, light browser');
    await page.click('#theme label:has(input[value="dark"])');
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    assert.equal(await page.evaluate(() => localStorage.getItem('switchboard.theme')), 'dark');
    await screenshot(page, 'dashboard-dark');
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.scrollingElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling at 390 px (${overflow} px too wide)`);
    await screenshot(page, 'dashboard-phone-dark');
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('reload: chat and activity history come back', async () => {
    const page = await newPage(browser);
    await openDashboard(page, channel, 'websocket');
    await until(page, 'the conversation from history', () => document.querySelectorAll('#chat-log .reply[data-seq]').length > 0);
    const chat = await seqs(page, '#chat-log');
    const activity = await seqs(page, '#activity-feed');
    const replyText = await page.$eval('#chat-log .reply[data-seq] .msg-text', (e) => e.textContent);
    assert.ok(activity.length > 0, 'activity history shown');
    await page.reload();
    await waitConnected(page);
    await until(page, 'the conversation after the reload', (n) => document.querySelectorAll('#chat-log [data-seq]').length >= n, chat.length);
    await until(page, 'the activity after the reload', (n) => document.querySelectorAll('#activity-feed [data-seq]').length >= n, activity.length);
    assert.deepEqual(await seqs(page, '#chat-log'), chat, 'the same conversation, in the same order');
    const after = new Set(await seqs(page, '#activity-feed'));
    assert.ok(activity.every((s) => after.has(s)), 'every activity entry is back');
    assert.equal(await page.$eval('#chat-log .reply[data-seq] .msg-text', (e) => e.textContent), replyText);
    assert.ok(!page.url().includes('token='), 'the token came from sessionStorage');
    await assertEachEventOnce(page, channel);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('WebSocket blocked: the same flow over long-polling', async () => {
    const ch = freshChannel('lp');
    const page = await newPage(browser, {
      colorScheme: 'dark',
      initScript: () => {
        window.WebSocket = class {
          constructor() { throw new DOMException('WebSocket blocked by the test', 'SecurityError'); }
        };
      },
    });
    await openDashboard(page, ch, 'longpoll');
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark', 'system theme, dark browser');
    await chatFlow(page, { expectStream: false });
    await assertEachEventOnce(page, ch);
    assert.equal(await page.$eval('#connection', (e) => e.dataset.transport), 'longpoll');
    await screenshot(page, 'dashboard-longpoll');
    // The blocked WebSocket shows up as console errors of the client's tries only.
    assert.deepEqual(page.problems.filter((p) => !/WebSocket blocked/.test(p)), []);
    await page.context().close();
  });

  test('wsd killed and restarted during a stream: reconnects, every event once', async () => {
    const ch = freshChannel('kill');
    const page = await newPage(browser);
    await openDashboard(page, ch, 'websocket');
    const messageId = await sendMessage(page, QUESTION);
    await until(page, 'the stream to begin', (id) =>
      document.querySelector(`#chat-log li.turn[data-reply-to="${id}"] .reply.draft`), messageId);
    stack('kill', ['wsd']);
    // Noticed: no longer connected, or already connected again over
    // long-polling (three refused WebSocket tries in a row, with full-jitter
    // backoff, can pass between two looks at the page).
    await until(page, 'the page to notice', () => {
      const c = document.querySelector('#connection').dataset;
      return c.state !== 'connected' || c.transport !== 'websocket';
    });
    stack('restart', ['wsd']);
    await waitReply(page, messageId);
    await waitConnected(page);
    // Whatever the transport now, the conversation is whole and has no double.
    await until(page, 'every stored event of the turn', (id) => {
      const t = document.querySelector(`#chat-log li.turn[data-reply-to="${id}"]`);
      return t.querySelector('.reply[data-seq]') && !t.querySelector('.reply.draft');
    }, messageId);
    await assertEachEventOnce(page, ch);
    assert.equal(await page.$$eval(`#chat-log li.turn[data-reply-to="${messageId}"] .reply`, (e) => e.length), 1);
    await screenshot(page, 'dashboard-after-wsd-restart');
    await page.context().close();
  });

  test('Stop reply: the agent cancels the running turn', async () => {
    const ch = freshChannel('cancel');
    const page = await newPage(browser);
    await openDashboard(page, ch, 'websocket');
    const messageId = await sendMessage(page, QUESTION);
    await until(page, 'the Stop button', () => !document.querySelector('#chat-cancel').hidden);
    await page.click('#chat-cancel');
    await until(page, 'the turn to end', (id) => {
      const t = document.querySelector(`#chat-log li.turn[data-reply-to="${id}"]`);
      return t && (t.querySelector('.note-cancelled[data-seq]') || t.querySelector('.reply[data-seq]'));
    }, messageId);
    const state = await page.evaluate((id) => {
      const t = document.querySelector(`#chat-log li.turn[data-reply-to="${id}"]`);
      return {
        cancelled: t.querySelectorAll('.note-cancelled[data-seq]').length,
        cancelAsked: t.querySelectorAll('.note-cancel[data-seq]').length,
        replies: t.querySelectorAll('.reply').length,
        stopHidden: document.querySelector('#chat-cancel').hidden,
      };
    }, messageId);
    assert.deepEqual(state, { cancelled: 1, cancelAsked: 1, replies: 0, stopHidden: true });
    await assertEachEventOnce(page, ch);
    await page.context().close();
  });

  for (const [kind, make, pattern] of [
    ['an expired', () => signToken({ sub: 'alice', role: 'user', ch: USER_PATTERNS, iat: now() - 7200, exp: now() - 3600 }, tokenSecret()), /expired/i],
    ['a forged', () => signToken({ sub: 'alice', role: 'admin', exp: now() + 3600 }, Buffer.from('not the secret')), /refused/i],
  ]) {
    test(`${kind} token is refused with a visible message`, async () => {
      const page = await newPage(browser);
      await page.goto(`${dashboardUrl()}#token=${make()}`);
      await until(page, 'the alert', () => {
        const a = document.querySelector('[role="alert"]');
        return a && !a.hidden && a.textContent.trim().length > 0;
      });
      assert.match(await page.$eval('[role="alert"]', (e) => e.textContent), pattern);
      assert.equal(await page.isVisible('#signin-form'), true, 'the sign-in form is offered');
      assert.equal(await page.isVisible('#chat'), false, 'nothing is shown without a valid token');
      assert.equal(await page.$eval('#connection', (e) => e.dataset.state), 'disconnected');
      assert.equal(await page.evaluate(() => sessionStorage.getItem('switchboard.token')), null, 'the refused token is forgotten');
      await screenshot(page, `token-${kind.split(' ')[1]}`);
      // A valid token pasted into the form signs in.
      await page.fill('#signin-token', token);
      await page.click('#signin-form button[type="submit"]');
      await waitConnected(page);
      assert.equal(await page.isVisible('#chat'), true);
      await page.context().close();
    });
  }
});

function now() {
  return Math.floor(Date.now() / 1000);
}
