"""Several wsd processes on one database: BRIEF invariant 1, PROTOCOL.md
2.3-2.5, 4.16."""

import asyncio
import signal
import uuid

import websockets

from sbtest import (NODE_A, NODE_B, Closed, Client, Locker, WsdTestCase, apsql, bounded,
                    make_token, stored)


class ResumingSubscriber:
    """A subscriber that follows PROTOCOL.md 2.4: on a lost connection it
    reconnects to the next node and resubscribes with since = last seq.
    seqs keeps every durable seq as received (no client-side dedupe), so
    the test sees duplicates the servers send."""

    def __init__(self, test, channel, urls, token):
        self.test = test
        self.channel = channel
        self.urls = list(urls)
        self.token = token
        self.seqs = []
        self.reconnects = 0
        self.client = None
        self.close_codes = []

    async def run(self, until):
        i = 0
        while True:
            url = self.urls[min(i, len(self.urls) - 1)]
            try:
                c = await Client.open(url, self.token)
            except (OSError, asyncio.TimeoutError, websockets.WebSocketException):
                i += 1
                await asyncio.sleep(0.05)
                continue
            self.client = c
            self.test._clients.append(c)
            since = self.seqs[-1] if self.seqs else 0
            await c.subscribe(self.channel, since=since)
            taken = 0
            while True:
                evs = c.events.get(self.channel, [])
                for ev in evs[taken:]:
                    if ev["seq"] is not None:
                        self.seqs.append(ev["seq"])
                taken = len(evs)
                if self.seqs and self.seqs[-1] >= until:
                    return
                if c.closed.is_set() and taken == len(c.events.get(self.channel, [])):
                    break
                try:
                    await c.wait_until(lambda: len(c.events.get(self.channel, [])) > taken,
                                       timeout=30, what="events")
                except Closed:
                    pass
            self.close_codes.append(c.close_code)
            self.reconnects += 1
            i += 1


class ResumingPublisher:
    """Publishes events 0..n-1 with ids chosen up front; after a lost
    connection it reconnects to the next node and publishes every unacked
    event again with the same id (PROTOCOL.md 2.5)."""

    def __init__(self, test, channel, urls, token, n, window=50):
        self.test = test
        self.channel = channel
        self.urls = list(urls)
        self.token = token
        self.ids = [str(uuid.uuid4()) for _ in range(n)]
        self.acks = {}
        self.window = window
        self.errors = []
        self.reconnects = 0

    async def run(self, pause_at=None, paused=None):
        i = 0
        while len(self.acks) < len(self.ids):
            url = self.urls[min(i, len(self.urls) - 1)]
            try:
                c = await Client.open(url, self.token)
            except (OSError, asyncio.TimeoutError, websockets.WebSocketException):
                i += 1
                await asyncio.sleep(0.05)
                continue
            self.test._clients.append(c)
            sem = asyncio.Semaphore(self.window)

            async def one(k):
                async with sem:
                    if k in self.acks or c.closed.is_set():
                        return
                    if pause_at is not None and k == pause_at:
                        paused.set()
                    try:
                        a = await c.publish(self.channel, {"k": k}, id=self.ids[k], timeout=15)
                    except (Closed, websockets.ConnectionClosed, asyncio.TimeoutError):
                        return
                    if a["op"] == "ack":
                        self.acks[k] = a
                    else:
                        self.errors.append(a)
            await asyncio.gather(*(one(k) for k in range(len(self.ids)) if k not in self.acks))
            if len(self.acks) < len(self.ids):
                self.reconnects += 1
                i += 1
                if self.errors and all(e.get("code") != "unavailable" for e in self.errors):
                    raise AssertionError("publish errors: %s" % self.errors[:3])
                self.errors = []
                await c.close()


class TwoNodesTest(WsdTestCase):

    @bounded(60)
    async def test_publish_on_one_receive_on_other(self):
        ch = self.chan()
        n = 300
        sub_b = await self.user("sb", node=NODE_B)
        sub_a = await self.user("sa", node=NODE_A)
        await sub_b.subscribe(ch)
        await sub_a.subscribe(ch)
        pub_a = await self.user("pa", node=NODE_A)
        pub_b = await self.user("pb", node=NODE_B)
        # Both nodes publish into one channel at once.
        acks = await asyncio.gather(*([pub_a.publish(ch, {"from": "a", "i": i}) for i in range(n)] +
                                      [pub_b.publish(ch, {"from": "b", "i": i}) for i in range(n)]))
        self.assertTrue(all(a["op"] == "ack" for a in acks), [a for a in acks if a["op"] != "ack"][:2])
        self.assertEqual(sorted(a["seq"] for a in acks), list(range(1, 2 * n + 1)))
        for c in (sub_a, sub_b):
            await c.wait_seq(ch, 2 * n, timeout=30)
            self.assertGapless(c.seqs(ch), 1, 2 * n)
        self.assertEqual([e["id"] for e in sub_a.durable(ch)],
                         [e["id"] for e in sub_b.durable(ch)])
        # Signals cross nodes too.
        await pub_a.request({"op": "signal", "channel": ch, "type": "typing",
                             "data": {"active": True}}, "ack")
        await sub_b.wait_until(lambda: sub_b.signals(ch), what="signal from the other node")
        # Idempotency across nodes: the same id on both answers one seq.
        eid = str(uuid.uuid4())
        a1, a2 = await asyncio.gather(pub_a.publish(ch, id=eid), pub_b.publish(ch, id=eid))
        self.assertEqual(a1["seq"], a2["seq"])
        self.assertEqual(sorted([a1["duplicate"], a2["duplicate"]]), [False, True])

    @bounded(90)
    async def test_sigkill_mid_stream(self):
        """Publisher and subscriber on node C; C is killed with SIGKILL
        midway; both move to node A, the subscriber with since, the
        publisher retrying unacked ids; every event ends stored once and
        received once, in order."""
        node_c = await self.start_node("killme")
        ch = self.chan()
        n = 1500
        tok = make_token("k", "user", ("chat:*",))
        watcher = await self.user("watcher", node=NODE_B)
        await watcher.subscribe(ch)
        sub = ResumingSubscriber(self, ch, [node_c.url, NODE_A.url], tok)
        sub_task = asyncio.ensure_future(sub.run(until=n))
        while sub.client is None:
            await asyncio.sleep(0.01)
        pub = ResumingPublisher(self, ch, [node_c.url, NODE_A.url], tok, n)
        pub_task = asyncio.ensure_future(pub.run())
        await watcher.wait_seq(ch, n // 3, timeout=30)
        node_c.kill(signal.SIGKILL)
        await asyncio.wait_for(pub_task, 60)
        await asyncio.wait_for(sub_task, 60)
        self.assertGreaterEqual(pub.reconnects, 1, "the publisher never lost node C")
        self.assertGreaterEqual(sub.reconnects, 1, "the subscriber never lost node C")
        rows = await asyncio.to_thread(stored, ch)
        self.assertEqual([s for s, _ in rows], list(range(1, n + 1)), "stored seqs")
        self.assertEqual(sorted(e["id"] for _, e in rows), sorted(pub.ids), "each id stored once")
        for k, a in pub.acks.items():
            self.assertEqual(a["id"], pub.ids[k])
        self.assertGapless(sub.seqs, 1, n, "the resuming subscriber")
        await watcher.wait_seq(ch, n, timeout=30)
        self.assertGapless(watcher.seqs(ch), 1, n, "the subscriber on node B")

    @bounded(60)
    async def test_sigterm_closes_1001(self):
        node_d = await self.start_node("term")
        ch = self.chan()
        tok = make_token("t", "user", ("chat:*",))
        clients = [await self.connect(tok, node=node_d) for _ in range(5)]
        for c in clients:
            await c.subscribe(ch)
        pub = await self.connect(tok, node=node_d)
        ids = [str(uuid.uuid4()) for _ in range(200)]
        sends = [asyncio.ensure_future(pub.publish(ch, {"i": i}, id=ids[i], timeout=10))
                 for i in range(200)]
        await asyncio.sleep(0.05)
        node_d.kill(signal.SIGTERM)
        for c in clients:
            self.assertEqual(await c.wait_closed(10), 1001)
        status = await asyncio.to_thread(node_d.wait_exit, 10)
        self.assertEqual(status, 0, "wsd exit status after SIGTERM")
        done = await asyncio.gather(*sends, return_exceptions=True)
        acked = {r["id"]: r["seq"] for r in done if isinstance(r, dict) and r.get("op") == "ack"}
        # Every acknowledged publish is stored; the rest are retried on A
        # with their ids, and each id ends stored once.
        rows = {e["id"]: s for s, e in await asyncio.to_thread(stored, ch)}
        for i, s in acked.items():
            self.assertEqual(rows.get(i), s, "acknowledged publish not stored")
        a = await self.connect(tok, node=NODE_A)
        for i in ids:
            r = await a.publish(ch, id=i)
            self.assertEqual(r["op"], "ack", r)
            if i in acked:
                self.assertEqual((r["seq"], r["duplicate"]), (acked[i], True))
        rows = await asyncio.to_thread(stored, ch)
        self.assertEqual([s for s, _ in rows], list(range(1, 201)))
        # The node left switchboard.nodes.
        self.assertEqual(await apsql("SELECT count(*) FROM switchboard.live_nodes "
                                     "WHERE id = 'wsdtest-term';"), "0")


class ShutdownWritesTest(WsdTestCase):

    @bounded(60)
    async def test_sigterm_finishes_database_writes(self):
        """SIGTERM with clients on presence channels while the database is
        slow (the node's row locked elsewhere for 3 s): before the database
        connections close, the node leaves switchboard.nodes, every presence
        row goes, and every connect and disconnect is audited."""
        node = await self.start_node("term2")
        n = 60
        ch = self.chan()
        clients = []
        for i in range(n):
            c = await self.user("leaver%d" % i, node=node)
            await c.subscribe(ch)
            clients.append(c)
        count = lambda sql: apsql(sql, ch=ch)  # noqa: E731
        self.assertEqual(await count("SELECT count(*) FROM switchboard.presence "
                                     "WHERE channel = :'ch';"), str(n))
        locker = Locker("SELECT id FROM switchboard.nodes WHERE id = 'wsdtest-term2' FOR UPDATE")
        try:
            await locker.locked()
            node.kill(signal.SIGTERM)
            for c in clients:
                self.assertEqual(await c.wait_closed(10), 1001)
            await asyncio.sleep(3)
            self.assertTrue(node.alive(), "exited before its last writes were answered")
        finally:
            await locker.release()
        self.assertEqual(await asyncio.to_thread(node.wait_exit, 15), 0)
        log = node.log_tail(200)
        self.assertNotIn("failed", log)
        self.assertIn("left switchboard.nodes", log)
        self.assertEqual(await apsql("SELECT count(*) FROM switchboard.nodes "
                                     "WHERE id = 'wsdtest-term2';"), "0")
        self.assertEqual(await count("SELECT count(*) FROM switchboard.presence "
                                     "WHERE channel = :'ch';"), "0")
        self.assertEqual(await apsql(
            "SELECT kind, count(*) FROM switchboard.audit WHERE node = 'wsdtest-term2' "
            "AND kind IN ('connect', 'disconnect') GROUP BY kind ORDER BY kind;"),
            "connect|%d\ndisconnect|%d" % (n, n))


class SharedPortTest(WsdTestCase):
    """Several wsd processes on one port (SO_REUSEPORT): the kernel spreads
    connections over them, each serves WebSocket and HTTP, and events
    cross between them through the database."""

    @bounded(60)
    async def test_two_processes_one_port(self):
        first = await self.start_node("share1")
        second = await self.start_node("share2", listen_port=first.port)
        self.assertEqual(first.port, second.port)
        tok = make_token("share", "user", ("chat:*",))
        by_node = {}
        for _ in range(200):  # the kernel picks; both get some soon
            c = await self.connect(tok, node=first)
            by_node.setdefault(c.hello["node"], []).append(c)
            if len(by_node) == 2 and min(len(v) for v in by_node.values()) >= 2:
                break
        self.assertEqual(sorted(by_node), ["wsdtest-share1", "wsdtest-share2"],
                         "connections reached only %s" % list(by_node))
        one, two = by_node["wsdtest-share1"], by_node["wsdtest-share2"]
        ch = self.chan()
        await one[0].subscribe(ch)
        await two[0].subscribe(ch)
        a = await two[1].publish(ch, {"from": "share2"})
        b = await one[1].publish(ch, {"from": "share1"})
        self.assertEqual((a["op"], b["op"]), ("ack", "ack"), (a, b))
        for c in (one[0], two[0]):
            await c.wait_seq(ch, 2)
            self.assertEqual([e["data"]["from"] for e in c.durable(ch)], ["share2", "share1"])
        # HTTP on the shared port is served by whichever process accepts.
        for _ in range(4):
            self.assertTrue(await asyncio.to_thread(first.healthz_ok))
        # One process stopping leaves the port to the other.
        await asyncio.to_thread(first.stop)
        c = await self.connect(tok, node=second)
        self.assertEqual(c.hello["node"], "wsdtest-share2")
        self.assertTrue(await c.alive())


class ReloadTest(WsdTestCase):

    @bounded(20)
    async def test_sighup_reloads_configuration(self):
        """OPERATIONS.md 3, 3.5: SIGHUP reads the configuration again; new
        connections see the new limits in hello."""
        node = await self.start_node("hup", publish_rate=5, publish_burst=7)
        c = await self.connect(make_token(), node=node)
        self.assertEqual((c.hello["limits"]["publish_rate"], c.hello["limits"]["publish_burst"]),
                         (5, 7))
        conf = node.log.replace(".log", ".conf")
        with open(conf) as f:
            text = f.read()
        text = text.replace("publish_rate = 5", "publish_rate = 50").replace(
            "publish_burst = 7", "publish_burst = 70")
        with open(conf, "w") as f:
            f.write(text)
        node.kill(signal.SIGHUP)
        for _ in range(50):
            d = await self.connect(make_token(), node=node)
            if d.hello["limits"]["publish_rate"] == 50:
                break
            await d.close()
            await asyncio.sleep(0.1)
        self.assertEqual((d.hello["limits"]["publish_rate"], d.hello["limits"]["publish_burst"]),
                         (50, 70))
        self.assertTrue(node.alive())
        self.assertTrue(await c.alive(), "connections survive a reload")
