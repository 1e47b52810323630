"""Limits: PROTOCOL.md 4.1 (message size), 4.15 (rate, send queue,
subscriptions), 6.3, 7."""

import asyncio
import json
import time
import uuid

from sbtest import (NODE_A, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, WsdTestCase, apsql, bounded, last_seq,
                    make_token, metrics_of, metric_sum)


class MessageSizeTest(WsdTestCase):

    def padded(self, size):
        """A ping with an unknown member, exactly size bytes long."""
        base = json.dumps({"op": "ping", "ts": 1, "pad": ""})
        return base[:-2] + "x" * (size - len(base)) + '"}'

    @bounded(15)
    async def test_at_limit_then_over(self):
        c = await self.user()
        limit = c.hello["limits"]["max_message_bytes"]
        msg = self.padded(limit)
        self.assertEqual(len(msg.encode()), limit)
        await c.send(msg)
        self.assertError(await c.expect("error"), "bad_request")  # unknown member, not too big
        await c.send(self.padded(limit + 1))
        self.assertEqual(await c.wait_closed(), 1009)
        await self.assertNodeUp()

    @bounded(15)
    async def test_fragmented_over_limit(self):
        r = await self.raw(token=make_token())
        hello = await r.recv_json()
        limit = hello["limits"]["max_message_bytes"]
        await r.recv_json()  # auth.ok
        chunk = b"x" * 16384
        await r.send(OP_TEXT, b'{"op":"ping","ts":1,"pad":"' + chunk, fin=False)
        sent = len(chunk)
        while sent <= limit:
            await r.send(OP_CONT, chunk, fin=False)
            sent += len(chunk)
        code, _, _ = await r.until_close()
        self.assertEqual(code, 1009)
        await self.assertNodeUp()

    @bounded(15)
    async def test_fragmented_within_limit(self):
        r = await self.raw(token=make_token())
        await r.recv_json()
        await r.recv_json()
        await r.send(OP_TEXT, b'{"op":"pi', fin=False)
        await r.send(OP_CONT, b'ng","ts":', fin=False)
        await r.send(OP_CONT, b'7}', fin=True)
        pong = await r.recv_json()
        self.assertEqual((pong["op"], pong["ts"]), ("pong", 7))


class SubscriptionLimitTest(WsdTestCase):

    @bounded(30)
    async def test_max_subscriptions(self):
        c = await self.user()
        limit = c.hello["limits"]["max_subscriptions"]
        chans = [self.chan(tag="-%d" % i) for i in range(limit + 1)]
        replies = await asyncio.gather(*(c.subscribe(ch) for ch in chans[:limit]))
        self.assertTrue(all(r["op"] == "subscribed" for r in replies),
                        [r for r in replies if r["op"] != "subscribed"][:2])
        err = await c.subscribe(chans[limit])
        self.assertError(err, "invalid_parameter")
        self.assertEqual(err.get("channel"), chans[limit])
        # Resubscribing a channel already held is not a new one.
        self.assertEqual((await c.subscribe(chans[0], since=0))["op"], "subscribed")
        await c.request({"op": "unsubscribe", "channel": chans[1]}, "unsubscribed")
        self.assertEqual((await c.subscribe(chans[limit]))["op"], "subscribed")
        # The refused subscription never delivered anything.
        self.assertTrue(await c.alive())


class ConnectionLimitTest(WsdTestCase):

    async def read_body(self, r):
        n = int(r.response_headers.get("content-length", "0"))
        return json.loads(await asyncio.wait_for(r.reader.readexactly(n), 5))

    @bounded(30)
    async def test_max_connections(self):
        """OPERATIONS.md 3.2: with max_connections open, an upgrade is
        refused with 503, a JSON error and Retry-After, and counted; once
        one closes, the next is accepted."""
        node = await self.start_node(max_connections="3")
        held = [await self.connect(make_token(), how="header", node=node) for _ in range(3)]
        r = await self.raw(port=node.port, token=make_token(), expect_upgrade=False)
        self.assertEqual(r.status, 503, r.status_line)
        self.assertEqual(r.response_headers.get("retry-after"), "1")
        self.assertTrue(r.response_headers.get("content-type", "").startswith(
            "application/json"), r.response_headers)
        body = await self.read_body(r)
        self.assertEqual(body["error"]["code"], "unavailable", body)
        self.assertIn("max_connections", body["error"]["message"])
        m = await metrics_of(node)
        self.assertEqual(metric_sum(m, "switchboard_connection_refusals_total"), 1)
        self.assertEqual(metric_sum(m, "switchboard_connections"), 3)
        for c in held:
            self.assertTrue(await c.alive())
        await held[0].close()
        for _ in range(50):
            if metric_sum(await metrics_of(node), "switchboard_connections") == 2:
                break
            await asyncio.sleep(0.1)
        c = await self.connect(make_token(), how="header", node=node)
        self.assertTrue(await c.alive())

    @bounded(10)
    async def test_refusals_carry_json(self):
        """PROTOCOL.md 4.1: a refused handshake says why in JSON."""
        for path, kw, status, code in (("/nope", {}, 404, "not_found"),
                                       ("/ws", {"subprotocol": "chat.v9"}, 400, "bad_request")):
            r = await self.raw(path=path, expect_upgrade=False, **kw)
            self.assertEqual(r.status, status, r.status_line)
            body = await self.read_body(r)
            self.assertEqual(body["error"]["code"], code, body)


class RateLimitTest(WsdTestCase):

    @bounded(40)
    async def test_rate_limited_then_4029(self):
        node = await self.start_node("rate", publish_rate=5, publish_burst=10)
        ch = self.chan()
        c = await self.connect(make_token(), node=node)
        self.assertEqual((c.hello["limits"]["publish_rate"], c.hello["limits"]["publish_burst"]),
                         (5, 10))
        before = await metrics_of(node)
        refs = []
        for i in range(15):
            ref = "p%d" % i
            refs.append(ref)
            await c.send({"op": "publish", "ref": ref, "channel": ch, "type": "message",
                          "data": {"i": i}, "id": str(uuid.uuid4())})
        # Signals count against the same bucket. (Sent right after the
        # publishes: waiting for their acks first would let it refill.)
        await c.send({"op": "signal", "ref": "s1", "channel": ch, "type": "typing",
                      "data": {"active": True}})
        replies = [await c.expect(("ack", "error"), ref=r) for r in refs]
        acks = [r for r in replies if r["op"] == "ack"]
        errs = [r for r in replies if r["op"] == "error"]
        self.assertTrue(10 <= len(acks) <= 12, "acks: %d of 15 (burst 10, rate 5/s)" % len(acks))
        for e in errs:
            self.assertError(e, "rate_limited")
            self.assertIsInstance(e.get("retry"), int, e)
            self.assertGreater(e["retry"], 0)
        self.assertEqual(await asyncio.to_thread(last_seq, ch), len(acks), "refused publishes stored")
        after = await metrics_of(node)
        self.assertGreaterEqual(metric_sum(after, "switchboard_rate_limited_total") -
                                metric_sum(before, "switchboard_rate_limited_total"), len(errs))
        self.assertError(await c.expect(("ack", "error"), ref="s1"), "rate_limited", "s1")
        # Waiting for the bucket lets publishes through again.
        await asyncio.sleep(0.5)
        self.assertEqual((await c.publish(ch))["op"], "ack")
        # Keeping on after refusals (publish_burst in a row) closes with
        # 4029. (A raw client: it reads the close frame even while its own
        # frames are still on the way.)
        r = await self.raw(port=node.port, token=make_token())
        await r.recv_json()
        await r.recv_json()
        for i in range(30):
            await r.send_json({"op": "publish", "ref": "f%d" % i, "channel": ch,
                               "type": "message", "data": {}})
        texts = []
        code, _, _ = await r.until_close(10, keep=texts)
        self.assertEqual(code, 4029, "close code (None: no close frame); read before: %s"
                         % [(m.get("op"), m.get("code")) for m in texts])
        self.assertGreaterEqual(len([m for m in texts if m.get("code") == "rate_limited"]), 10)
        await self.assertNodeUp(node)

    @bounded(20)
    async def test_rate_is_per_connection(self):
        node = await self.start_node("rate2", publish_rate=5, publish_burst=5)
        ch = self.chan()
        a = await self.connect(make_token(), node=node)
        b = await self.connect(make_token(), node=node)
        ra = await asyncio.gather(*(a.publish(ch, {"i": i}) for i in range(5)))
        rb = await asyncio.gather(*(b.publish(ch, {"i": i}) for i in range(5)))
        self.assertTrue(all(r["op"] == "ack" for r in ra + rb), ra + rb)


class SlowConsumerTest(WsdTestCase):

    @bounded(120)
    async def test_slow_consumer_closed_4008_others_unaffected(self):
        ch = self.chan()
        fast = await self.user("fast")
        limit = fast.hello["limits"]["send_queue_max"]
        await fast.subscribe(ch)
        # The slow one: a tiny receive buffer, and it stops reading after
        # subscribing.
        slow = await self.raw(token=make_token("slow"), rcvbuf=4096)
        await slow.recv_json()  # hello
        await slow.recv_json()  # auth.ok
        await slow.send_json({"op": "subscribe", "ref": "s", "channel": ch})
        self.assertEqual((await slow.recv_json())["op"], "subscribed")
        before = await metrics_of(NODE_A)
        # A flood several times the queue limit, 2 KB per event.
        pub = await self.user("pub")
        n = max(2000, (limit * 6) // 2048)
        pad = "p" * 2000
        sem = asyncio.Semaphore(100)

        async def one(i):
            async with sem:
                a = await pub.publish(ch, {"i": i, "pad": pad}, timeout=60)
                self.assertEqual(a["op"], "ack", a)
        await asyncio.gather(*(one(i) for i in range(n)))
        await fast.wait_seq(ch, n, timeout=60)
        self.assertGapless(fast.seqs(ch), 1, n, "the fast subscriber")
        self.assertFalse(fast.closed.is_set(), "the fast subscriber was closed")
        # The slow one was closed with 4008: read what is left to the close.
        code, reason, _ = await slow.until_close(timeout=30)
        self.assertEqual(code, 4008, "close code of the slow consumer (None: no close frame)")
        after = await metrics_of(NODE_A)
        self.assertGreaterEqual(metric_sum(after, "switchboard_slow_consumer_closes_total") -
                                metric_sum(before, "switchboard_slow_consumer_closes_total"), 1)
        await self.assertNodeUp()

    @bounded(60)
    async def test_long_replay_does_not_trip_limit(self):
        """Replay is paced by the send queue (PROTOCOL.md 4.5): a replay
        several times send_queue_max to a reading client completes."""
        ch = self.chan()
        c = await self.user()
        limit = c.hello["limits"]["send_queue_max"]
        n = (limit * 3) // 1024 + 1
        await apsql("SELECT count(*) FROM switchboard.publish_batch((SELECT jsonb_agg("
                    "jsonb_build_object('channel', :'ch', 'type', 'message', 'data', "
                    "jsonb_build_object('pad', repeat('r', 1000)), 'sender', 'user:seed')) "
                    "FROM generate_series(1, 1000) g));" * ((n + 999) // 1000), ch=ch)
        total = ((n + 999) // 1000) * 1000
        await c.subscribe(ch, since=0)
        await c.wait_seq(ch, total, timeout=40)
        self.assertGapless(c.seqs(ch), 1, total, "replay")
        self.assertFalse(c.closed.is_set())


class LivenessTest(WsdTestCase):
    """PROTOCOL.md 1.2 liveness: a client silent for ws_ping_interval gets
    a WebSocket ping; one silent (not even a pong) for ws_idle_timeout is
    closed; one that answers pings stays."""

    @bounded(30)
    async def test_ping_then_idle_close(self):
        node = await self.start_node(ws_ping_interval="1s", ws_idle_timeout="2500ms")
        tok = make_token()
        answering = await self.raw(port=node.port, token=tok)
        silent = await self.raw(port=node.port, token=tok)
        t0 = time.monotonic()
        answered = []

        async def answer():
            """Read everything, answer each ping, until the first pong."""
            while True:
                op, payload = await answering.recv_frame(timeout=10)
                if op == OP_PING:
                    answered.append(time.monotonic() - t0)
                    await answering.send(OP_PONG, payload)
                elif op == OP_TEXT:
                    if json.loads(payload).get("op") == "pong":
                        return
                else:
                    raise AssertionError("the answering client got %s %r after %s" % (op, payload, answered))

        answerer = asyncio.ensure_future(answer())
        pings, closed_at, code = 0, None, None
        # The silent client reads (so it sees the ping and the close) but
        # never answers.
        while time.monotonic() - t0 < 6:
            try:
                op, payload = await silent.recv_frame(timeout=6 - (time.monotonic() - t0))
            except asyncio.TimeoutError:
                break
            if op == OP_PING:
                pings += 1
            elif op in (OP_CLOSE, None):
                closed_at = time.monotonic() - t0
                code = (payload[0] << 8 | payload[1]) if op == OP_CLOSE and len(payload) >= 2 \
                    else None
                break
        self.assertGreaterEqual(pings, 1, "no ping within the idle timeout")
        self.assertIsNotNone(closed_at, "a silent client was not closed")
        self.assertGreater(closed_at, 2.0)
        self.assertLess(closed_at, 4.5)
        if code is not None:
            self.assertEqual(code, 1001)
        # The client that answered pings is still served.
        await asyncio.sleep(max(0.0, 4.0 - (time.monotonic() - t0)))
        self.assertFalse(answerer.done(), answerer.done() and answerer.exception())
        self.assertGreaterEqual(len(answered), 2, answered)
        await answering.send_json({"op": "ping", "ts": 5})
        await asyncio.wait_for(answerer, 5)
