// test_client.mjs: the JavaScript client's everyday API against the real
// stack, over WebSocket (through the web server's /ws) and long-polling:
// connect, subscribe, publish and ack, order, history, signals, presence,
// resets, REST calls, latency and metrics.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  SwitchboardError, assertSeqs, channel, client, closeAll, collect, mintToken, restPublish, sql,
  stack, waitFor,
} from './helpers.mjs';

after(closeAll);

for (const kind of ['websocket', 'longpoll']) {
  describe(`over ${kind} (${stack.SB_WEB})`, { timeout: 60000 }, () => {
    test('connect reports connecting then connected, with the transport', async () => {
      const sb = client({ transports: [kind] });
      assert.equal(sb.state, 'disconnected');
      await sb.connect();
      assert.equal(sb.state, 'connected');
      assert.equal(sb.transport, kind);
      assert.deepEqual(sb.states.map((s) => s.state), ['connecting', 'connected']);
      assert.equal(sb.states[1].transport, kind);
      sb.close();
      assert.equal(sb.state, 'disconnected');
      assert.equal(sb.transport, null);
    });

    test('publish resolves with the ack; events arrive once, in order', async () => {
      const sb = client({ transports: [kind] });
      await sb.connect();
      const ch = channel('chat', 'order');
      const rec = await collect(sb, ch);
      const acks = await Promise.all(Array.from({ length: 30 }, (_, i) =>
        sb.publish(ch, { type: 'message', data: { text: `m${i}`, n: i } })));
      assert.deepEqual(acks.map((a) => a.seq).sort((a, b) => a - b), Array.from({ length: 30 }, (_, i) => i + 1));
      for (const a of acks) {
        assert.equal(a.channel, ch);
        assert.equal(a.duplicate, false);
        assert.match(a.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      }
      await waitFor(() => rec.events.length >= 30, '30 events');
      assertSeqs(rec.events, 1, 30);
      const ev = rec.events[0];
      assert.deepEqual(Object.keys(ev), ['channel', 'seq', 'id', 'type', 'sender', 'time', 'data']);
      assert.equal(ev.sender, 'user:tester');
      // The same id again stores nothing and answers the original seq.
      const again = await sb.publish(ch, { type: 'message', data: { text: 'x' }, id: acks[3].id });
      assert.deepEqual(again, { channel: ch, seq: acks[3].seq, id: acks[3].id, duplicate: true });
      assert.deepEqual(sql(`SELECT count(*), count(DISTINCT id) FROM switchboard.event_log WHERE channel = '${ch}'`),
        [['30', '30']]);
    });

    test('a subscription without since gets only new events; events from other publishers arrive', async () => {
      const sb = client({ transports: [kind] });
      await sb.connect();
      const ch = channel('chat', 'live');
      await restPublish(ch, { text: 'before' });
      const rec = await collect(sb, ch, { since: undefined });
      await restPublish(ch, { text: 'after' });
      await waitFor(() => rec.events.length >= 1, 'the new event');
      assertSeqs(rec.events, 2, 2);
      assert.equal(rec.events[0].data.text, 'after');
      assert.equal(rec.events[0].sender, 'agent:publisher');
      assert.equal(rec.sub.lastSeq, 2);
    });

    test('two subscriptions of one channel from different points: each gets every event once', async () => {
      const sb = client({ transports: [kind] });
      await sb.connect();
      const ch = channel('chat', 'twosubs');
      const a = await collect(sb, ch);
      for (let i = 0; i < 3; i++) await sb.publish(ch, { type: 'message', data: { n: i } });
      await waitFor(() => a.events.length === 3, 'three events on the first');
      const b = await collect(sb, ch, { since: 1 }); // replays 2 and 3
      const c = await collect(sb, ch, { since: undefined }); // from now
      await sb.publish(ch, { type: 'message', data: { n: 3 } });
      await waitFor(() => a.events.length === 4 && b.events.length === 3 && c.events.length === 1, 'all delivered');
      assertSeqs(a.events, 1, 4);
      assertSeqs(b.events, 2, 4);
      assertSeqs(c.events, 4, 4);
      b.sub.unsubscribe();
      a.sub.unsubscribe();
      await sb.publish(ch, { type: 'message', data: { n: 4 } });
      await waitFor(() => c.events.length === 2, 'the event after two unsubscribed');
      assert.equal(a.events.length, 4);
      assert.equal(b.events.length, 3);
    });

    test('publish errors are SwitchboardErrors with the server code and status', async () => {
      const sb = client({ transports: [kind], token: mintToken({ ch: ['chat:*'] }) });
      await sb.connect();
      await assert.rejects(sb.publish('alerts:main', { type: 'alert', data: {} }),
        (e) => e instanceof SwitchboardError && e.code === 'forbidden');
      await assert.rejects(sb.publish('chat:x', { type: 'Bad Type', data: {} }),
        (e) => e.code === 'invalid_type');
      await assert.rejects(sb.publish('chat:x', { type: 'message', data: [1] }),
        (e) => e.code === 'invalid_data');
      assert.equal(sb.outboxSize, 0);
    });

    test('history pages back and forward', async () => {
      const sb = client({ transports: [kind] });
      await sb.connect();
      const ch = channel('chat', 'history');
      for (let i = 0; i < 5; i++) await sb.publish(ch, { type: 'message', data: { n: i } });
      let h = await sb.history(ch, { limit: 2 });
      assert.equal(h.channel, ch);
      assert.deepEqual(h.events.map((e) => e.seq), [4, 5]);
      assert.equal(h.more, true);
      h = await sb.history(ch, { before: 4, limit: 10 });
      assert.deepEqual(h.events.map((e) => e.seq), [1, 2, 3]);
      assert.equal(h.more, false);
      h = await sb.history(ch, { after: 3 });
      assert.deepEqual(h.events.map((e) => e.data.n), [3, 4]);
      await assert.rejects(sb.history(ch, { before: 0 }), (e) => e.code === 'invalid_cursor');
    });

    test('signals reach subscribers, not history', async () => {
      const a = client({ transports: [kind], token: mintToken({ sub: 'alice' }) });
      const b = client({ transports: ['websocket'], token: mintToken({ sub: 'bob' }) });
      await Promise.all([a.connect(), b.connect()]);
      const ch = channel('chat', 'signals');
      const recB = await collect(b, ch);
      const ack = await a.signal(ch, { type: 'typing', data: { active: true } });
      assert.equal(ack.seq, null);
      const sig = await waitFor(() => recB.signals.find((s) => s.type === 'typing'), 'the typing signal');
      assert.equal(sig.sender, 'user:alice');
      assert.equal(sig.seq, null);
      assert.deepEqual(sig.data, { active: true });
      assert.equal(recB.events.length, 0);
      if (kind === 'longpoll') {
        // A long-poll receives the signals that arrive while it waits.
        const recA = await collect(a, ch);
        await waitFor(async () => {
          await b.signal(ch, { type: 'typing', data: { active: false } });
          return recA.signals.some((s) => s.sender === 'user:bob');
        }, 'a signal on the long-poll', 15000);
      }
      a.close();
      await assert.rejects(a.signal(ch, { type: 'typing', data: { active: true } }), (e) => e.code === 'offline');
    });

    test('presence lists WebSocket subscribers and announces joins', async () => {
      const watcher = client({ transports: ['websocket'], token: mintToken({ sub: 'watcher' }) });
      const sb = client({ transports: [kind], token: mintToken({ sub: 'member' }) });
      await Promise.all([watcher.connect(), sb.connect()]);
      const ch = channel('chat', 'presence');
      const rec = await collect(watcher, ch);
      await collect(sb, ch);
      // The presence list is written just after `subscribed`.
      const want = kind === 'websocket' ? ['user:member', 'user:watcher'] : ['user:watcher'];
      let members;
      await waitFor(async () => {
        members = await sb.presence(ch);
        return want.every((s) => members.some((m) => m.subject === s));
      }, `presence of ${want}`);
      const subjects = members.map((m) => m.subject);
      if (kind === 'websocket') {
        const join = await waitFor(() => rec.signals.find((s) => s.type === 'presence.join' &&
          s.data.subject === 'user:member'), 'presence.join of user:member');
        assert.equal(join.data.connections, 1);
      } else {
        assert.ok(!subjects.includes('user:member'), 'long-poll clients are not listed');
      }
    });

    test('a since beyond the channel calls onReset and continues live', async () => {
      const sb = client({ transports: [kind] });
      await sb.connect();
      const ch = channel('chat', 'reset');
      for (let i = 0; i < 3; i++) await restPublish(ch, { n: i });
      const rec = await collect(sb, ch, { since: 1000 });
      await waitFor(() => rec.resets.length === 1, 'onReset');
      assert.equal(rec.resets[0].channel, ch);
      assert.equal(rec.resets[0].reason, 'rewound');
      assert.equal(rec.resets[0].last_seq, 3);
      assert.equal(rec.sub.lastSeq, 3);
      await restPublish(ch, { n: 3 });
      await waitFor(() => rec.events.length === 1, 'the live event after the reset');
      assertSeqs(rec.events, 4, 4);
    });

    test('request() calls REST with the token and throws SwitchboardError on errors', async () => {
      const sb = client({ transports: [kind] });
      await sb.connect();
      const ch = channel('chat', 'rest');
      await sb.publish(ch, { type: 'message', data: {} });
      const info = await sb.request('GET', `/channels/${encodeURIComponent(ch)}`);
      assert.equal(info.last_seq, 1);
      await assert.rejects(sb.request('GET', '/no/such/route'),
        (e) => e instanceof SwitchboardError && e.code === 'not_found' && e.status === 404);
    });

    test('latency is measured and reported', async () => {
      const sb = client({ transports: [kind], pingIntervalMs: 100 });
      const seen = [];
      sb.on('latency', (ms) => seen.push(ms));
      await sb.connect();
      await waitFor(() => seen.length >= 3, 'three latency reports');
      for (const ms of seen) assert.ok(Number.isFinite(ms) && ms >= 0 && ms < 5000, String(ms));
      assert.equal(sb.latency, seen[seen.length - 1]);
    });

    test('metrics call back with a snapshot, again only when it changed, and on refresh', async (t) => {
      const sb = client({ transports: [kind], token: mintToken({ ch: ['chat:*', 'metrics:overview'] }) });
      await sb.connect();
      const snaps = [];
      const m = sb.metrics({ windowHours: 24, intervalSeconds: 1 }, (s) => snaps.push(s));
      try {
        await waitFor(() => snaps.length >= 1 || m.error, 'the first metrics snapshot or an error');
        if (kind === 'websocket' && m.error && m.error.code === 'internal') {
          // wsd answers metrics.* with internal until it serves them
          // (PROTOCOL.md, implementation status); the client polls HTTP then.
          assert.equal(m.mode, 'http');
          t.skip(`wsd does not serve metrics subscriptions yet: ${m.error.message}`);
          return;
        }
        assert.equal(m.mode, kind === 'websocket' ? 'websocket' : 'http');
        assert.equal(m.error, null);
        const first = snaps[0];
        assert.equal(first.window_hours, 24);
        for (const k of ['events', 'chat', 'activity', 'tasks', 'nodes', 'connections', 'subscriptions']) {
          assert.ok(k in first.data, k);
        }
        const total = first.data.events.total;
        await sb.publish(channel('chat', 'metrics'), { type: 'message', data: { text: 'count me' } });
        await waitFor(() => snaps.some((s) => s.data.events.total > total), 'a snapshot with the new event', 15000);
        for (let i = 1; i < snaps.length; i++) {
          assert.notDeepEqual(snaps[i].data, snaps[i - 1].data, 'called back without a change');
        }
        const n = snaps.length;
        m.refresh();
        await waitFor(() => snaps.length > n, 'the refreshed snapshot');
        m.update({ windowHours: 1 });
        await waitFor(() => m.snapshot && m.snapshot.window_hours === 1, 'a snapshot of the 1 h window');
      } finally {
        m.close();
      }
    });
  });
}
