"""Subscriptions named in the upgrade request: PROTOCOL.md 4.1, 4.5."""

import asyncio
import urllib.parse

from sbtest import WsdTestCase, bounded, make_token

from test_stream import seed


def subscribed_in_order(c):
    """The channels of the subscribed messages, in arrival order."""
    return [m["channel"] for k, m in c.order if k == "msg" and m.get("op") == "subscribed"]


class OpenSubscribeTest(WsdTestCase):

    async def open_with(self, entries, token=None, how="header", **kw):
        q = {"subscribe": urllib.parse.quote(",".join(entries), safe="")}
        return await self.connect(token or make_token("alice", "user", ("chat:*",)), how=how,
                                  query=q, **kw)

    @bounded(15)
    async def test_header_token_and_replay(self):
        a, b = self.chan(tag="-a"), self.chan(tag="-b")
        await seed(b, 6)
        c = await self.open_with([a, b + "@4"])
        self.assertEqual(c.hello["auth"], "done")
        sa = await c.expect("subscribed", channel=a)
        sb = await c.expect("subscribed", channel=b)
        self.assertNotIn("ref", sa)
        self.assertEqual((sa["last_seq"], sa["recovered"]), (0, True), sa)
        self.assertEqual((sb["last_seq"], sb["oldest_seq"], sb["recovered"]), (6, 1, True), sb)
        # hello, auth.ok, then the subscriptions (each answered when known,
        # so not necessarily in the order listed).
        ops = [m["op"] for k, m in c.order if k == "msg"]
        self.assertEqual(ops[:4], ["hello", "auth.ok", "subscribed", "subscribed"], ops)
        self.assertEqual(sorted(subscribed_in_order(c)), sorted([a, b]))
        await c.wait_seq(b, 6)
        self.assertGapless(c.seqs(b), 5, 6, "replayed from since")
        ack = await c.publish(a)
        await c.wait_seq(a, ack["seq"])
        self.assertEqual(c.seqs(a), [1])

    @bounded(15)
    async def test_query_token(self):
        ch = self.chan()
        q = {"subscribe": ch, "access_token": make_token("bob", "user", ("chat:*",))}
        c = await self.connect(None, query=q)
        self.assertEqual(c.hello["auth"], "done")
        self.assertEqual((await c.expect("auth.ok"))["sub"], "bob")
        self.assertEqual((await c.expect("subscribed", channel=ch))["last_seq"], 0)

    @bounded(15)
    async def test_applied_after_auth_message(self):
        ch = self.chan()
        await seed(ch, 2)
        tok = make_token("carol", "user", ("chat:*",))
        c = await self.connect(None, query={"subscribe": ch + "@0"})
        self.assertEqual(c.hello["auth"], "required")
        await asyncio.sleep(0.3)
        self.assertEqual(subscribed_in_order(c), [], "nothing before the connection is "
                         "authenticated")
        self.assertEqual(c.seqs(ch), [])
        ok = await c.request({"op": "auth", "token": tok}, "auth.ok")
        self.assertEqual(ok["op"], "auth.ok", ok)
        await c.expect("subscribed", channel=ch)
        await c.wait_seq(ch, 2)
        self.assertEqual(c.seqs(ch), [1, 2])
        # A refresh does not subscribe again.
        ok = await c.request({"op": "auth", "token": tok}, "auth.ok")
        self.assertEqual(ok["op"], "auth.ok", ok)
        await asyncio.sleep(0.3)
        self.assertEqual(subscribed_in_order(c), [ch])

    @bounded(15)
    async def test_bad_entries_answered_one_by_one(self):
        good = self.chan()
        c = await self.open_with(["chat:bad name", good, "chat:x@abc", "nosuchns:x", "@3",
                                  "activity:main"],
                                 token=make_token("alice", "user", ("chat:*", "nosuchns:*")))
        errors = []
        for _ in range(5):
            errors.append(await c.expect("error"))
        codes = sorted(e["code"] for e in errors)
        self.assertEqual(codes, ["forbidden", "invalid_channel", "invalid_channel",
                                 "invalid_cursor", "unknown_namespace"], errors)
        self.assertTrue(all("ref" not in e for e in errors), errors)
        forbidden = [e for e in errors if e["code"] == "forbidden"][0]
        self.assertEqual(forbidden.get("channel"), "activity:main")
        # The good entry's answer needs the database, like some of the
        # errors, so it may come before or after them.
        await c.expect("subscribed", channel=good, remove=False)
        self.assertTrue(await c.alive())
        self.assertEqual(subscribed_in_order(c), [good])

    @bounded(15)
    async def test_empty_rewound_and_repeated_entries(self):
        """An empty entry is an invalid channel; a since beyond the channel
        is answered as for a subscribe op (rewound); an entry repeated
        replaces its subscription, as a repeated subscribe op does; an empty
        parameter subscribes nothing."""
        a, b = self.chan(tag="-a"), self.chan(tag="-b")
        await seed(b, 6)
        c = await self.open_with([a, "", b + "@99", a + "@0"])
        err = await c.expect("error")
        self.assertEqual(err["code"], "invalid_channel", err)
        sb = await c.expect("subscribed", channel=b)
        self.assertEqual((sb["recovered"], sb.get("reason"), sb["last_seq"]),
                         (False, "rewound", 6), sb)
        # The repeat replaces the first before either is answered, so one
        # subscribed (the repeat's) may be all that comes.
        await c.expect("subscribed", channel=a)
        ack = await c.publish(b)
        await c.wait_seq(b, ack["seq"])
        self.assertEqual(c.seqs(b), [7], "nothing replayed after a rewound since")
        ack = await c.publish(a)
        await c.wait_seq(a, ack["seq"])
        self.assertEqual(c.seqs(a), [1], "one subscription of a, not two")
        e = await self.connect(make_token("alice", "user", ("chat:*",)), how="header",
                               query={"subscribe": ""})
        self.assertEqual(e.auth_ok["op"], "auth.ok")
        await asyncio.sleep(0.3)
        self.assertEqual(subscribed_in_order(e), [])
        self.assertEqual([m for m in e.msgs if m.get("op") == "error"], [])

    @bounded(30)
    async def test_limit(self):
        c0 = await self.user()
        limit = c0.hello["limits"]["max_subscriptions"]
        chans = [self.chan(tag="-%d" % i) for i in range(limit + 2)]
        c = await self.open_with(chans)
        errs = [await c.expect("error"), await c.expect("error")]
        self.assertEqual({e["code"] for e in errs}, {"invalid_parameter"}, errs)
        self.assertEqual(sorted(e.get("channel") for e in errs), sorted(chans[limit:]))
        await c.wait_until(lambda: len(subscribed_in_order(c)) == limit, what="subscriptions")
        self.assertEqual(sorted(subscribed_in_order(c)), sorted(chans[:limit]))

    @bounded(15)
    async def test_refused_token_subscribes_nothing(self):
        ch = self.chan()
        c = await self.open_with([ch], token=make_token(key=b"w" * 32), authenticate=False)
        self.assertEqual((await c.expect("error"))["code"], "unauthorized")
        self.assertEqual(await c.wait_closed(), 4001)
        self.assertEqual(subscribed_in_order(c), [])

    @bounded(60)
    async def test_joining_a_followed_channel_midway(self):
        """Subscribers that join a channel this node already follows are
        answered from its last doorbell; with publishes running they get
        every event after their start exactly once."""
        ch = self.chan()
        pub = await self.user("pub")
        early = await self.user("early")
        await early.subscribe(ch)
        n = 600
        joined = []

        async def publish():
            for i in range(n):
                ack = await pub.publish(ch, {"i": i})
                self.assertEqual(ack["op"], "ack", ack)

        async def join():
            while len(joined) < 6:
                await asyncio.sleep(0.05)
                have = early.maxseq.get(ch, 0)
                entry = ch + ("@%d" % have if len(joined) % 2 else "")
                c = await self.open_with([entry])
                s = await c.expect("subscribed", channel=ch)
                joined.append((c, s, have if len(joined) % 2 else None))
        await asyncio.gather(publish(), join())
        starts = [since if since is not None else s["last_seq"] for _, s, since in joined]
        self.assertTrue(any(0 < x < n for x in starts),
                        "nobody joined while the channel was being published to: %s" % starts)
        for c, s, since in joined:
            await c.wait_seq(ch, n)
            first = (since if since is not None else s["last_seq"]) + 1
            self.assertGapless(c.seqs(ch), first, n, "joined at %s" % (since,))
        await early.wait_seq(ch, n)
        self.assertGapless(early.seqs(ch), 1, n)
