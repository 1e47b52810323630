"""Roles, verbs and channel patterns: PROTOCOL.md 1.5, 3.2, 3.3."""

import asyncio

from sbtest import WsdTestCase, bounded, last_seq, make_token, stored


class PermissionsTest(WsdTestCase):

    @bounded(15)
    async def test_reader_cannot_publish_or_signal(self):
        ch = self.chan()
        r = await self.connect(make_token("rita", "reader", ("chat:*",)))
        self.assertEqual((await r.subscribe(ch))["op"], "subscribed")
        h = await r.request({"op": "history", "channel": ch}, "history")
        self.assertEqual(h["op"], "history", h)
        err = await r.publish(ch)
        self.assertError(err, "forbidden")
        self.assertEqual(err.get("channel"), ch)
        err = await r.request({"op": "signal", "channel": ch, "type": "typing",
                               "data": {"active": True}}, "ack")
        self.assertError(err, "forbidden")
        self.assertEqual(await asyncio.to_thread(last_seq, ch), 0)
        self.assertEqual(r.signals(ch), [], "a refused signal reached the sender's own subscription")

    @bounded(15)
    async def test_patterns_on_subscribe_publish_history_presence(self):
        mine = self.chan(tag="-mine")
        other = "chat:zz-other-" + mine.rsplit("-", 1)[1]
        c = await self.connect(make_token("alice", "user", (mine + "*", "activity:main")))
        self.assertEqual((await c.subscribe(mine))["op"], "subscribed")
        self.assertEqual((await c.subscribe(mine + "/sub"))["op"], "subscribed")
        self.assertEqual((await c.publish(mine))["op"], "ack")
        for msg, reply in (({"op": "subscribe", "channel": other}, "subscribed"),
                           ({"op": "publish", "channel": other, "type": "message",
                             "data": {"text": "x"}}, "ack"),
                           ({"op": "signal", "channel": other, "type": "typing",
                             "data": {"active": True}}, "ack"),
                           ({"op": "history", "channel": other}, "history"),
                           ({"op": "presence", "channel": other}, "presence"),
                           ({"op": "subscribe", "channel": "activity:other"}, "subscribed"),
                           ({"op": "history", "channel": "activity:mainx"}, "history")):
            err = await c.request(msg, reply)
            self.assertError(err, "forbidden")
            self.assertEqual(err.get("channel"), msg["channel"], err)
        self.assertEqual(await asyncio.to_thread(last_seq, other), 0)

    @bounded(10)
    async def test_empty_pattern_list_allows_nothing(self):
        c = await self.connect(make_token("nobody", "user", ()))
        self.assertError(await c.subscribe(self.chan()), "forbidden")

    @bounded(10)
    async def test_admin_without_ch_has_every_channel(self):
        c = await self.connect(make_token("ops", "admin", None))
        for ns in ("chat", "activity", "system", "alerts"):
            ch = self.chan(ns)
            self.assertEqual((await c.subscribe(ch))["op"], "subscribed")
        ack = await c.publish(self.chan("alerts"), {"severity": "low"}, type="alert")
        self.assertEqual(ack["op"], "ack", ack)

    @bounded(15)
    async def test_sender_set_from_token(self):
        ch = self.chan()
        sub = await self.user("watcher")
        await sub.subscribe(ch)
        for tok, sender in ((make_token("alice", "user"), "user:alice"),
                            (make_token("planner", "agent"), "agent:planner"),
                            (make_token("ops", "admin", None), "admin:ops")):
            c = await self.connect(tok)
            self.assertEqual(c.auth_ok["sender"], sender)
            ack = await c.publish(ch, {"text": "from " + sender})
            self.assertEqual(ack["op"], "ack", ack)
            await sub.wait_seq(ch, ack["seq"])
            ev = [e for e in sub.events[ch] if e["seq"] == ack["seq"]][0]
            self.assertEqual(ev["sender"], sender)
        # A client cannot choose its sender.
        c = await self.user("alice")
        err = await c.request({"op": "publish", "channel": ch, "type": "message",
                               "data": {"text": "spoof"}, "sender": "admin:root"}, "ack")
        self.assertError(err, "bad_request")
        rows = await asyncio.to_thread(stored, ch)
        self.assertEqual([e["sender"] for _, e in rows], ["user:alice", "agent:planner", "admin:ops"])
        # A signal's sender too.
        ack = await c.request({"op": "signal", "channel": ch, "type": "typing",
                               "data": {"active": True}}, "ack")
        self.assertEqual(ack["op"], "ack", ack)
        await sub.wait_until(lambda: sub.signals(ch), what="signal")
        self.assertEqual(sub.signals(ch)[0]["sender"], "user:alice")
