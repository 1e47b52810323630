"""subscribe, replay and live delivery, history: PROTOCOL.md 1.3, 2.1-2.4,
2.7, 4.5, 4.6, 4.9."""

import asyncio
import re
import uuid

from sbtest import NODE_B, WsdTestCase, apsql, bounded, make_token, stored

EVENT_KEYS = ["channel", "seq", "id", "type", "sender", "time", "data"]
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def publish_many(client, channel, n, window=200, prefix="m", halfway=None,
                       hold=None):
    """Publish n events as fast as acks allow (up to window outstanding);
    return {seq: id}. halfway (an asyncio.Event) is set at n/4 acks; the
    second half waits for hold (an asyncio.Event) when given, so a test can
    act midway on any machine speed."""
    acks = {}
    sem = asyncio.Semaphore(window)

    async def one(i):
        if hold is not None and i >= n // 2:
            await hold.wait()
        async with sem:
            ack = await client.publish(channel, {"text": "%s%d" % (prefix, i)},
                                       id=str(uuid.uuid4()), timeout=30)
            if ack.get("op") != "ack":
                raise AssertionError("publish %d: %s" % (i, ack))
            acks[ack["seq"]] = ack["id"]
            if halfway is not None and len(acks) >= n // 4:
                halfway.set()
    await asyncio.gather(*(one(i) for i in range(n)))
    return acks


def seed_sync(channel):
    """One more event, stored from SQL."""
    from sbtest import psql
    psql("SELECT 1 FROM switchboard.publish(:'ch', 'message', '{}', 'user:seed');", ch=channel)


async def seed(channel, n):
    """n events stored from SQL (1..n)."""
    await apsql("SELECT count(*) FROM switchboard.publish_batch((SELECT jsonb_agg("
                "jsonb_build_object('channel', :'ch', 'type', 'message', 'data', "
                "jsonb_build_object('text', 'seed ' || g), 'sender', 'user:seed')) "
                "FROM generate_series(1, %d) g));" % n, ch=channel)


class SubscribeTest(WsdTestCase):

    @bounded(15)
    async def test_event_shape_and_live(self):
        ch = self.chan()
        sub = await self.user("sam")
        s = await sub.subscribe(ch)
        self.assertEqual(s, {"op": "subscribed", "ref": s["ref"], "channel": ch, "last_seq": 0,
                             "oldest_seq": 1, "recovered": True})
        pub = await self.user("alice")
        eid = str(uuid.uuid4())
        ack = await pub.publish(ch, {"text": "hello", "n": 9007199254740993}, id=eid)
        self.assertEqual(ack, {"op": "ack", "ref": ack["ref"], "channel": ch, "seq": 1,
                               "id": eid, "duplicate": False})
        await sub.wait_seq(ch, 1)
        ev = sub.durable(ch)[0]
        self.assertEqual(list(ev.keys()), EVENT_KEYS)
        self.assertEqual(ev["channel"], ch)
        self.assertEqual(ev["id"], eid)
        self.assertEqual(ev["type"], "message")
        self.assertEqual(ev["sender"], "user:alice")
        self.assertRegex(ev["time"], TIME_RE)
        self.assertEqual(ev["data"], {"text": "hello", "n": 9007199254740993})
        # The stored event is the same (PROTOCOL.md 1.3: one shape everywhere).
        rows = await asyncio.to_thread(stored, ch)
        self.assertEqual(rows[0][1], ev)

    @bounded(20)
    async def test_since_replays_then_live(self):
        ch = self.chan()
        await seed(ch, 25)
        c = await self.user()
        s = await c.subscribe(ch, since=10)
        self.assertEqual((s["last_seq"], s["oldest_seq"], s["recovered"]), (25, 1, True))
        await c.wait_seq(ch, 25)
        ack = await c.publish(ch)
        self.assertEqual(ack["seq"], 26)
        await c.wait_seq(ch, 26)
        self.assertGapless(c.seqs(ch), 11, 26)
        # subscribed comes before any event of the channel.
        kinds = [k for k, m in c.order if (k == "event" and m["channel"] == ch) or
                 (k == "msg" and m.get("op") == "subscribed")]
        self.assertEqual(kinds[0], "msg")

    @bounded(15)
    async def test_without_since_only_new(self):
        ch = self.chan()
        await seed(ch, 5)
        c = await self.user()
        s = await c.subscribe(ch)
        self.assertEqual((s["last_seq"], s["recovered"]), (5, True))
        await c.publish(ch)
        await c.wait_seq(ch, 6)
        self.assertEqual(c.seqs(ch), [6])

    @bounded(15)
    async def test_since_zero_and_since_last(self):
        ch = self.chan()
        await seed(ch, 3)
        a = await self.user()
        await a.subscribe(ch, since=0)
        await a.wait_seq(ch, 3)
        self.assertEqual(a.seqs(ch), [1, 2, 3])
        b = await self.user()
        s = await b.subscribe(ch, since=3)
        self.assertEqual((s["last_seq"], s["recovered"]), (3, True))
        await b.publish(ch)
        await b.wait_seq(ch, 4)
        self.assertEqual(b.seqs(ch), [4])

    @bounded(15)
    async def test_rewound(self):
        ch = self.chan()
        await seed(ch, 3)
        c = await self.user()
        s = await c.subscribe(ch, since=10)
        self.assertEqual(s["recovered"], False, s)
        self.assertEqual(s.get("reason"), "rewound", s)
        self.assertEqual((s["last_seq"], s["oldest_seq"]), (3, 1))
        await c.publish(ch)
        await c.wait_seq(ch, 4)
        self.assertEqual(c.seqs(ch), [4], "nothing replayed, live after last_seq")

    @bounded(20)
    async def test_pruned(self):
        ns = "tp" + uuid.uuid4().hex[:8]
        await apsql("INSERT INTO switchboard.namespaces (name, description, max_events) "
                    "VALUES (:'ns', 'wsd test', 5);", ns=ns)
        ch = ns + ":pruned"
        c = await self.user(ch=("*",))
        # The new namespace is usable at once (OPERATIONS.md 2.3).
        self.assertEqual((await c.publish(ch))["op"], "ack")
        await seed(ch, 9)
        await apsql("SELECT count(*) FROM switchboard.prune_events();")
        s = await c.subscribe(ch, since=2)
        self.assertEqual((s["recovered"], s.get("reason"), s["oldest_seq"], s["last_seq"]),
                         (False, "pruned", 6, 10), s)
        s = await c.subscribe(ch, since=5)
        self.assertEqual((s["recovered"], s["oldest_seq"], s["last_seq"]), (True, 6, 10), s)
        await c.wait_seq(ch, 10)
        self.assertEqual(c.seqs(ch), [6, 7, 8, 9, 10])

    @bounded(15)
    async def test_resubscribe_restarts(self):
        ch = self.chan()
        await seed(ch, 4)
        c = await self.user()
        await c.subscribe(ch, since=2)
        await c.wait_seq(ch, 4)
        s = await c.subscribe(ch, since=0)
        self.assertEqual(s["op"], "subscribed")
        await c.wait_until(lambda: len(c.seqs(ch)) >= 6, what="replay from 0")
        self.assertEqual(c.seqs(ch), [3, 4, 1, 2, 3, 4])

    @bounded(15)
    async def test_unsubscribe(self):
        ch = self.chan()
        c = await self.user()
        await c.subscribe(ch)
        un = await c.request({"op": "unsubscribe", "channel": ch}, "unsubscribed")
        self.assertEqual((un["op"], un["channel"]), ("unsubscribed", ch), un)
        # Always succeeds, even when not subscribed.
        un = await c.request({"op": "unsubscribe", "channel": self.chan()}, "unsubscribed")
        self.assertEqual(un["op"], "unsubscribed", un)
        other = await self.user()
        await other.subscribe(ch)
        ack = await other.publish(ch)
        await other.wait_seq(ch, ack["seq"])
        self.assertTrue(await c.alive())
        self.assertEqual(c.seqs(ch), [])

    @bounded(15)
    async def test_several_channels(self):
        chans = [self.chan(tag="-%d" % i) for i in range(5)]
        c = await self.user()
        for ch in chans:
            await c.subscribe(ch)
        pub = await self.user("p")
        for ch in chans:
            for _ in range(3):
                await pub.publish(ch)
        for ch in chans:
            await c.wait_seq(ch, 3)
            self.assertEqual(c.seqs(ch), [1, 2, 3])

    @bounded(120)
    async def test_join_midway_no_gap_no_duplicate(self):
        """2,000 events from a publisher at full speed; subscribers join
        midway with since=0, with since=500 and without since; each gets
        its range exactly once, in order. The publisher is on node b, so
        that the subscribes on node a are not queued behind its commits."""
        n = 2000
        ch = self.chan()
        pub = await self.user("pub", node=NODE_B)
        early = await self.user("early")
        await early.subscribe(ch)
        halfway, hold = asyncio.Event(), asyncio.Event()
        task = asyncio.ensure_future(publish_many(pub, ch, n, halfway=halfway, hold=hold))
        await asyncio.wait_for(halfway.wait(), 60)
        late0 = await self.user("late0")
        late500 = await self.user("late500")
        latenew = await self.user("latenew")
        subscribes = asyncio.gather(late0.subscribe(ch, since=0),
                                    late500.subscribe(ch, since=500),
                                    latenew.subscribe(ch))
        # The second half goes out while the late subscribers replay.
        hold.set()
        s0, s500, snew = await subscribes
        acks = await asyncio.wait_for(task, 90)
        self.assertLess(s0["last_seq"], n, "the subscribers did not join midway (the publisher "
                        "finished first): the test needs a larger n on this machine")
        self.assertEqual(sorted(acks), list(range(1, n + 1)), "ack seqs")
        for name, c in (("early", early), ("since=0", late0), ("since=500", late500),
                        ("without since", latenew)):
            if c is latenew and snew["last_seq"] == n:
                continue
            try:
                await c.wait_seq(ch, n, timeout=30)
            except asyncio.TimeoutError as e:
                self.fail("subscriber %s: %s; received %d events, seqs %s..%s, subscribed %s"
                          % (name, e, len(c.seqs(ch)), c.seqs(ch)[:3], c.seqs(ch)[-3:],
                             {"since=0": s0, "since=500": s500, "without since": snew}.get(name)))
        self.assertGapless(early.seqs(ch), 1, n, "subscribed before the first publish")
        self.assertGapless(late0.seqs(ch), 1, n, "joined midway with since=0")
        self.assertGapless(late500.seqs(ch), 501, n, "joined midway with since=500")
        self.assertGapless(latenew.seqs(ch), snew["last_seq"] + 1, n,
                           "joined midway without since")
        self.assertTrue(s0["recovered"] and s500["recovered"])
        # Each delivered event carries the id its ack named.
        for ev in late0.durable(ch):
            self.assertEqual(ev["id"], acks[ev["seq"]])
        # Batches were used (frames < events) at least by someone, and never
        # mixed up the per-channel order (checked above).
        await asyncio.sleep(0.3)
        self.assertEqual(len(late0.seqs(ch)), n, "nothing after the last event")

    @bounded(60)
    async def test_crowd_subscribing_at_once(self):
        """PROTOCOL.md 4.5: 30 clients subscribe to one channel in the same
        moment while events are published (those without since share one
        question to the database): each gets its range exactly once, in
        order, those with since from their since on."""
        n, seeded = 400, 5
        ch = self.chan()
        await seed(ch, seeded)
        pub = await self.user("pub", node=NODE_B)
        halfway, hold = asyncio.Event(), asyncio.Event()
        task = asyncio.ensure_future(publish_many(pub, ch, n, window=20, halfway=halfway,
                                                  hold=hold))
        await asyncio.wait_for(halfway.wait(), 30)
        plain = [await self.user("plain%d" % i) for i in range(20)]
        since2 = [await self.user("since2-%d" % i) for i in range(5)]
        since0 = [await self.user("since0-%d" % i) for i in range(5)]
        answers = await asyncio.gather(*([c.subscribe(ch) for c in plain] +
                                         [c.subscribe(ch, since=2) for c in since2] +
                                         [c.subscribe(ch, since=0) for c in since0]))
        hold.set()
        await asyncio.wait_for(task, 60)
        last = seeded + n
        for c, a in zip(plain + since2 + since0, answers):
            self.assertTrue(a["recovered"], a)
            self.assertLessEqual(a["last_seq"], last, a)
            first = a["last_seq"] + 1 if c in plain else (3 if c in since2 else 1)
            if first <= last:
                await c.wait_seq(ch, last, timeout=30)
            self.assertGapless(c.seqs(ch), first, last, "%s %s" % (c.seqs(ch)[:3], a))
        self.assertTrue(any(a["last_seq"] < last for a in answers[:20]),
                        "nobody subscribed while events were published")


class HistoryTest(WsdTestCase):

    async def history(self, c, ch, **kw):
        msg = {"op": "history", "channel": ch}
        msg.update(kw)
        return await c.request(msg, "history")

    def seqs(self, h):
        return [e["seq"] for e in h["events"]]

    @bounded(20)
    async def test_history_paging(self):
        ch = self.chan()
        await seed(ch, 10)
        c = await self.connect(make_token("rita", "reader", ("chat:*",)))
        h = await self.history(c, ch, limit=3)
        self.assertEqual((h["op"], h["channel"], self.seqs(h), h["more"]), ("history", ch, [8, 9, 10], True))
        h = await self.history(c, ch, before=8, limit=3)
        self.assertEqual((self.seqs(h), h["more"]), ([5, 6, 7], True))
        h = await self.history(c, ch, before=3, limit=3)
        self.assertEqual((self.seqs(h), h["more"]), ([1, 2], False))
        h = await self.history(c, ch, after=0, limit=4)
        self.assertEqual((self.seqs(h), h["more"]), ([1, 2, 3, 4], True))
        h = await self.history(c, ch, after=8, limit=5)
        self.assertEqual((self.seqs(h), h["more"]), ([9, 10], False))
        h = await self.history(c, ch, after=10)
        self.assertEqual((self.seqs(h), h["more"]), ([], False))
        h = await self.history(c, ch)
        self.assertEqual((self.seqs(h), h["more"]), (list(range(1, 11)), False))
        h = await self.history(c, ch, before=11, limit=1000)
        self.assertEqual((self.seqs(h), h["more"]), (list(range(1, 11)), False))
        # Events in the stored shape.
        rows = await asyncio.to_thread(stored, ch)
        self.assertEqual(h["events"], [e for _, e in rows])
        # history needs no subscription and creates none.
        await asyncio.to_thread(seed_sync, ch)
        self.assertTrue(await c.alive())
        self.assertEqual(c.events.get(ch), None)

    @bounded(10)
    async def test_history_empty_channel(self):
        c = await self.user()
        h = await self.history(c, self.chan())
        self.assertEqual((h["events"], h["more"]), ([], False))

    @bounded(15)
    async def test_history_bad_parameters(self):
        ch = self.chan()
        await seed(ch, 2)
        c = await self.user()
        failures = []
        for kw, code in (({"before": 5, "after": 1}, "invalid_parameter"),
                         ({"limit": 0}, "invalid_parameter"),
                         ({"limit": 1001}, "invalid_parameter"),
                         ({"before": 0}, "invalid_cursor"),
                         ({"before": -3}, "invalid_cursor"),
                         ({"after": -1}, "invalid_cursor"),
                         ({"after": "1"}, "invalid_cursor"),
                         ({"after": 1.5}, "invalid_cursor"),
                         ({"since": 1}, "bad_request")):
            err = await self.history(c, ch, **kw)
            if err.get("op") != "error" or err.get("code") != code:
                failures.append("%s: expected %s, got %s" % (kw, code, err))
            elif err.get("channel") != ch:
                failures.append("%s: error without channel (PROTOCOL.md 4.14): %s" % (kw, err))
        msg = {"op": "history", "channel": ch}
        await c.send(msg)  # no ref: required for history
        self.assertError(await c.expect("error"), "bad_request")
        if failures:
            self.fail("\n".join(failures))
