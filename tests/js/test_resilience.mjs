// test_resilience.mjs: the client across failures of the real stack:
// wsd killed (SIGKILL) and restarted while a publisher keeps publishing,
// publishes made while offline (the outbox), WebSocket blocked (long-poll,
// then the upgrade back), switchboard-fcgi killed under a long-poll.
// Every test restarts what it killed before it ends.

import assert from 'node:assert/strict';
import { after, afterEach, test } from 'node:test';
import {
  assertSeqs, channel, client, closeAll, collect, freePort, relay, restPublisher, sql, stack,
  stackCtl, waitFor,
} from './helpers.mjs';

after(closeAll);

// Whatever a test killed runs again before the next one.
const killed = new Set();
function kill(service) {
  killed.add(service);
  stackCtl('kill', service);
}
function restart(service) {
  stackCtl('restart', service);
  killed.delete(service);
}
afterEach(() => {
  for (const s of [...killed]) restart(s);
  closeAll();
});

function storedOnce(ch, ids) {
  const rows = sql(`SELECT id, seq FROM switchboard.event_log WHERE channel = '${ch}' ORDER BY seq`);
  assert.equal(rows.length, ids.length, 'one stored event per publish');
  assert.equal(new Set(rows.map((r) => r[0])).size, rows.length, 'no id stored twice');
  assert.deepEqual(new Set(rows.map((r) => r[0])), new Set(ids));
  return rows;
}

function sawReconnect(sb) {
  const s = sb.states.map((x) => x.state);
  const i = s.indexOf('reconnecting');
  return i > 0 && s.indexOf('connected', i) > i;
}

for (const transports of [['websocket'], ['websocket', 'longpoll']]) {
  test(`wsd killed and restarted under a publisher: every event once, in order (${transports})`, { timeout: 60000 }, async () => {
    const N = 150;
    const sb = client({ transports, upgradeIntervalMs: 300 });
    await sb.connect();
    const ch = channel('chat', 'kill');
    const rec = await collect(sb, ch);
    const publisher = restPublisher(ch, N, 10);
    await waitFor(() => rec.events.length >= 20, 'the first events');
    kill('wsd');
    await waitFor(() => sb.state === 'reconnecting' || sb.transport === 'longpoll', 'the client noticing');
    if (transports.length > 1) {
      // Reconnecting to wsd fails: the client goes on by long-polling.
      await waitFor(() => sb.transport === 'longpoll', 'the long-poll fallback');
      const n = rec.events.length;
      await waitFor(() => rec.events.length > n + 10, 'events over long-poll');
    }
    restart('wsd');
    await waitFor(() => sb.transport === 'websocket', 'WebSocket again', 20000);
    await publisher;
    await waitFor(() => rec.events.length >= N, `${N} events`, 20000);
    assertSeqs(rec.events, 1, N);
    assert.deepEqual(rec.events.map((e) => e.data.n), Array.from({ length: N }, (_, i) => i));
    assert.ok(sawReconnect(sb) || transports.length > 1, JSON.stringify(sb.states.map((x) => x.state)));
  });
}

test('a reconnect names its channels and positions in the upgrade request (PROTOCOL.md 4.1)', { timeout: 60000 }, async () => {
  const urls = [];
  class Recording extends globalThis.WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      urls.push(String(url));
    }
  }
  const sb = client({ transports: ['websocket'], WebSocket: Recording });
  await sb.connect();
  assert.ok(!urls[0].includes('subscribe='), `nothing to resume yet: ${urls[0]}`);
  const a = channel('chat', 'url-a');
  const b = channel('chat', 'url-b');
  const recA = await collect(sb, a);
  const recB = await collect(sb, b);
  await restPublisher(a, 10, 0);
  await waitFor(() => recA.events.length >= 10, '10 events');
  kill('wsd');
  await waitFor(() => sb.state === 'reconnecting', 'the client noticing');
  await restPublisher(a, 5, 0); // stored while the client is away
  restart('wsd');
  await waitFor(() => sb.state === 'connected', 'connected again', 20000);
  const last = urls[urls.length - 1];
  const list = decodeURIComponent(new URL(last).searchParams.get('subscribe') ?? '').split(',');
  assert.deepEqual(list.sort(), [`${a}@10`, `${b}@0`].sort(), last);
  await restPublisher(a, 5, 0);
  await restPublisher(b, 3, 0);
  await waitFor(() => recA.events.length >= 20 && recB.events.length >= 3, 'every event', 20000);
  assertSeqs(recA.events, 1, 20);
  assertSeqs(recB.events, 1, 3);
});

test('publishes made while offline wait in the outbox and are stored once after the reconnect', { timeout: 60000 }, async () => {
  const sb = client({ transports: ['websocket'] });
  await sb.connect();
  const ch = channel('chat', 'outbox');
  const rec = await collect(sb, ch);
  kill('wsd');
  await waitFor(() => sb.state === 'reconnecting', 'state reconnecting');
  const given = '5d3c6b8e-1f2a-4b3c-8d4e-5f6a7b8c9d0e';
  const acks = [];
  const pending = Array.from({ length: 20 }, (_, i) =>
    sb.publish(ch, { type: 'message', data: { n: i }, id: i === 0 ? given : undefined }).then((a) => acks.push(a)));
  assert.equal(sb.outboxSize, 20);
  assert.equal(acks.length, 0);
  assert.equal(sb.state, 'reconnecting');
  const st = sb.states.filter((s) => s.state === 'reconnecting');
  assert.ok(st.every((s, i) => s.attempt === i + 1), 'attempts count up: ' + st.map((s) => s.attempt));
  restart('wsd');
  await Promise.all(pending);
  assert.equal(sb.outboxSize, 0);
  assert.equal(acks.find((a) => a.id === given).duplicate, false);
  storedOnce(ch, acks.map((a) => a.id));
  await waitFor(() => rec.events.length === 20, 'the 20 events on the subscription');
  assertSeqs(rec.events, 1, 20);
});

test('publishes in flight when wsd dies are retried with their ids: none lost, none doubled', { timeout: 60000 }, async () => {
  const N = 300;
  const sb = client({ transports: ['websocket'], publishWindow: 32 });
  await sb.connect();
  const ch = channel('chat', 'inflight');
  let acked = 0;
  const all = Array.from({ length: N }, (_, i) =>
    sb.publish(ch, { type: 'message', data: { n: i } }).then((a) => { acked++; return a; }));
  await waitFor(() => acked >= 10, 'the first acks');
  kill('wsd');
  assert.ok(acked < N, 'wsd was killed while publishes were in flight');
  restart('wsd');
  const acks = await Promise.all(all);
  const seqs = acks.map((a) => a.seq);
  assert.equal(new Set(seqs).size, N, 'one seq per publish');
  assert.deepEqual([...seqs].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i + 1));
  storedOnce(ch, acks.map((a) => a.id));
});

test('the outbox is bounded: outbox_full beyond outboxLimit', { timeout: 30000 }, async () => {
  const sb = client({ transports: ['websocket'], outboxLimit: 3 });
  await sb.connect();
  kill('wsd');
  await waitFor(() => sb.state === 'reconnecting', 'state reconnecting');
  const ch = channel('chat', 'full');
  const kept = [1, 2, 3].map((n) => sb.publish(ch, { type: 'message', data: { n } }));
  await assert.rejects(sb.publish(ch, { type: 'message', data: { n: 4 } }), (e) => e.code === 'outbox_full');
  restart('wsd');
  await Promise.all(kept);
  assert.equal(sql(`SELECT count(*) FROM switchboard.event_log WHERE channel = '${ch}'`)[0][0], '3');
});

test('WebSocket blocked: long-poll delivers the same events, then the client upgrades back', { timeout: 60000 }, async () => {
  const port = await freePort(); // nothing listens there: WebSocket is "blocked"
  const sb = client({ wsUrl: `ws://127.0.0.1:${port}/ws`, upgradeIntervalMs: 300 });
  await sb.connect();
  assert.equal(sb.transport, 'longpoll');
  const wsFailures = sb.states.filter((s) => s.state === 'reconnecting');
  assert.ok(wsFailures.length >= 3 && wsFailures.every((s) => s.error.code === 'network'),
    JSON.stringify(wsFailures));
  const ch = channel('chat', 'blocked');
  const rec = await collect(sb, ch);
  for (let i = 0; i < 10; i++) await sb.publish(ch, { type: 'message', data: { n: i } });
  await waitFor(() => rec.events.length >= 10, '10 events over long-poll');
  const publisher = restPublisher(ch, 40, 10);
  const way = await relay(port, Number(stack.SB_WSD_PORT)); // WebSocket reachable now
  try {
    await waitFor(() => sb.transport === 'websocket', 'the upgrade to WebSocket', 15000);
    await publisher;
    for (let i = 50; i < 60; i++) await sb.publish(ch, { type: 'message', data: { n: i } });
    await waitFor(() => rec.events.length >= 60, '60 events');
    assertSeqs(rec.events, 1, 60);
    const last = sb.states[sb.states.length - 1];
    assert.deepEqual([last.state, last.transport], ['connected', 'websocket']);
  } finally {
    sb.close();
    await way.close();
  }
});

test('switchboard-fcgi killed under a long-poll: publishes wait, events resume from the cursor', { timeout: 60000 }, async () => {
  const sb = client({ transports: ['longpoll'] });
  await sb.connect();
  const ch = channel('chat', 'fcgi');
  const rec = await collect(sb, ch);
  await sb.publish(ch, { type: 'message', data: { n: 0 } });
  await waitFor(() => rec.events.length === 1, 'the first event');
  kill('fcgi');
  await waitFor(() => sb.state === 'reconnecting', 'state reconnecting');
  const pending = Array.from({ length: 10 }, (_, i) => sb.publish(ch, { type: 'message', data: { n: i + 1 } }));
  // Meanwhile another path stores more: they come with the resumed cursor.
  for (let i = 0; i < 5; i++) {
    sql(`SELECT switchboard.publish('${ch}', 'message', '{"n":"sql-${i}"}', 'agent:sql')`);
  }
  restart('fcgi');
  const acks = await Promise.all(pending);
  await waitFor(() => rec.events.length === 16, '16 events', 20000);
  assertSeqs(rec.events, 1, 16);
  assert.equal(new Set(acks.map((a) => a.seq)).size, 10);
  assert.ok(sawReconnect(sb));
});
