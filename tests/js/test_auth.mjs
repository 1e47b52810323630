// test_auth.mjs: tokens: refresh before expiry on a short-lived token,
// forged and expired tokens refused visibly (error event, state
// disconnected, no endless retries), a token function that recovers.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  SwitchboardError, channel, client, closeAll, collect, mintToken, restPublish, stackCtl, waitFor,
} from './helpers.mjs';

after(closeAll);

const FORGED_KEY = Buffer.from('not the secret of this stack');

for (const kind of ['websocket', 'longpoll']) {
  describe(`tokens over ${kind}`, { timeout: 60000 }, () => {
    test('a short-lived token is refreshed before it expires, without a reconnect', async () => {
      const tokens = [];
      const sb = client({
        transports: [kind],
        token: async () => {
          tokens.push(mintToken({ sub: 'refresher', ttl: 3 }));
          return tokens[tokens.length - 1];
        },
      });
      const auths = [];
      sb.on('auth', (a) => auths.push(a));
      await sb.connect();
      const ch = channel('chat', 'refresh');
      const rec = await collect(sb, ch);
      // 80% of 3 s: the first refresh comes after about 2.4 s.
      await waitFor(() => auths.length >= 2, 'an auth event after the refresh', 8000);
      assert.ok(tokens.length >= 2);
      assert.equal(auths[0].sub, 'refresher');
      assert.equal(auths[0].sender, 'user:refresher');
      assert.ok(auths[1].exp > auths[0].exp, `exp ${auths[1].exp} after ${auths[0].exp}`);
      assert.deepEqual(sb.states.map((s) => s.state), ['connecting', 'connected'], 'no reconnect');
      const ack = await sb.publish(ch, { type: 'message', data: { text: 'after refresh' } });
      await restPublish(ch, { text: 'from elsewhere' });
      await waitFor(() => rec.events.length === 2, 'both events after the refresh');
      assert.equal(rec.events[0].id, ack.id);
    });

    if (kind === 'longpoll') {
      test('after a refresh the next HTTP request carries the new token', async () => {
        let calls = 0;
        const sb = client({
          transports: [kind],
          token: () => mintToken({ sub: `holder-${++calls}`, ttl: 2 }),
        });
        const auths = [];
        sb.on('auth', (a) => auths.push(a));
        await sb.connect();
        await waitFor(() => auths.length >= 2, 'the refresh', 8000);
        const ch = channel('chat', 'newtoken');
        const rec = await collect(sb, ch);
        await sb.publish(ch, { type: 'message', data: {} });
        await waitFor(() => rec.events.length === 1, 'the event');
        const n = Number(/^user:holder-(\d+)$/.exec(rec.events[0].sender)?.[1]);
        assert.ok(n >= 2, `published as ${rec.events[0].sender}, not with a refreshed token`);
      });
    }

    test('an expired token: error token_expired, state disconnected, connect() rejects', async () => {
      const now = Math.floor(Date.now() / 1000);
      const sb = client({ transports: [kind], token: mintToken({ iat: now - 600, exp: now - 300 }) });
      await assert.rejects(sb.connect(), (e) => e instanceof SwitchboardError && e.code === 'token_expired');
      assert.equal(sb.state, 'disconnected');
      assert.equal(sb.errors.length, 1);
      assert.equal(sb.errors[0].code, 'token_expired');
      const last = sb.states[sb.states.length - 1];
      assert.equal(last.state, 'disconnected');
      assert.equal(last.error.code, 'token_expired');
      assert.ok(!sb.states.some((s) => s.state === 'connected'));
    });

    test('a forged token: error unauthorized; a token function is asked once more, then the client stops', async () => {
      let calls = 0;
      const forged = mintToken({ secret: FORGED_KEY });
      const sb = client({ transports: [kind], token: () => { calls++; return forged; } });
      await assert.rejects(sb.connect(), (e) => e.code === 'unauthorized');
      assert.equal(calls, 2, 'asked for a new token once, got the same one, stopped');
      assert.equal(sb.state, 'disconnected');
      assert.deepEqual(sb.errors.map((e) => e.code), ['unauthorized']);
    });

    test('a token function that yields a good token after a refused one connects', async () => {
      const given = [mintToken({ secret: FORGED_KEY }), mintToken({ sub: 'second-try' })];
      let calls = 0;
      const sb = client({ transports: [kind], token: () => given[Math.min(calls++, 1)] });
      const auths = [];
      sb.on('auth', (a) => auths.push(a));
      await sb.connect();
      assert.equal(sb.state, 'connected');
      assert.equal(auths[auths.length - 1].sub, 'second-try');
      assert.equal(sb.errors.length, 0);
    });
  });
}

test('a token from stack.sh token (switchboard.mint_token) is accepted; its patterns bind', { timeout: 30000 }, async () => {
  const tok = stackCtl('token', 'user', '600', 'chat:stack-*');
  const sb = client({ transports: ['websocket'], token: tok });
  const auths = [];
  sb.on('auth', (a) => auths.push(a));
  await sb.connect();
  assert.equal(auths[0].sender, 'user:user-test');
  const ok = await sb.publish(channel('chat', 'stack'), { type: 'message', data: {} });
  assert.equal(ok.seq, 1);
  await assert.rejects(sb.publish('chat:other', { type: 'message', data: {} }), (e) => e.code === 'forbidden');
});
